"""Atheris (coverage-guided, libFuzzer-based) target for the converter's checkpoint reader.

    PYTHONPATH=<build>/python python fuzz/checkpoint_fuzzer.py CORPUS_DIR SEED_DIR -runs=N

Each input is parsed as a ``torch.save`` file (zip or legacy; see
``deblurcore.convert.torch_pickle``), and a parsed object goes through the state-dict
extraction and architecture detection of the converter. ``ConversionError`` is the expected
outcome of a bad input; any other exception, a hang (``-timeout``) or running out of memory
(``-rss_limit_mb``) is a finding. The seeds come from ``fuzz/make_seeds.py``.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["deblurcore.convert", "pickle", "zipfile"]):
    import pickle  # noqa: F401 - instrumented: the restricted unpickler runs its opcodes
    import zipfile  # noqa: F401

    from deblurcore.convert import ConversionError, detect_architecture
    from deblurcore.convert.converter import _extract_state_dict
    from deblurcore.convert.torch_pickle import load_torch_checkpoint_bytes


def test_one_input(data: bytes) -> None:
    try:
        loaded = load_torch_checkpoint_bytes(data, "fuzz")
        state, _, _ = _extract_state_dict(loaded.obj, None)
        detect_architecture(state.keys())
    except ConversionError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
