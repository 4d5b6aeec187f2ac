"""The Keras .h5 converter of the Analysis-Synthesis pair (deblurcore.convert.keras_h5).

Random-weight files in the official layout (tests/torch_models/analysis_synthesis.py) in the
three styles the official weights may come in, mapped by file position and cross-checked
against the creation-order names; every tensor is compared exactly (a transposition is exact)
with the Keras arrays; and each way a file can be wrong gives a one-line ConversionError.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")

from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402
from torch_models.analysis_synthesis import creation_names, random_weights, write_keras_h5  # noqa: E402

from deblurcore.convert import ConversionError, convert_checkpoint  # noqa: E402
from deblurcore.convert.analysis_synthesis import (  # noqa: E402
    ANALYSIS_FILE_ORDER,
    NETWORKS,
    SYNTHESIS_FILE_ORDER,
    expected_runtime_shapes,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def weights():
    return random_weights(seed=5)


def _write(d: Path, w, style: str = "bytes"):
    pa, ps = d / "analysis_weights.h5", d / "synthesis_weights.h5"
    write_keras_h5(pa, "analysis", w["analysis"], style)
    write_keras_h5(ps, "synthesis", w["synthesis"], style)
    return pa, ps


def _expected_runtime(w) -> dict:
    """Runtime tensors written independently of the converter's helper: explicit layouts."""
    out = {}
    for net in ("analysis", "synthesis"):
        for role, lay in NETWORKS[net].layers.items():
            arrays = w[net][role]
            if lay.cls == "bias_layer":
                out[f"{net}.{role}"] = arrays[0]
                continue
            k, b = arrays
            if lay.cls == "dense":
                out[f"{net}.{role}.weight"] = k.T  # [in, out] -> (out, in)
            elif lay.cls == "conv2d":
                out[f"{net}.{role}.weight"] = np.einsum("hwio->oihw", k)
            else:  # conv2d_transpose, HWOI -> (in, out, h, w)
                out[f"{net}.{role}.weight"] = np.einsum("hwoi->iohw", k)
            out[f"{net}.{role}.bias"] = b
    return out


@pytest.mark.parametrize("style", ["bytes", "str", "full_model"])
def test_convert_each_style(tmp_path, weights, style):
    pa, ps = _write(tmp_path, weights, style)
    out = tmp_path / "as.safetensors"
    # Either order of the two files.
    summary = convert_checkpoint([ps, pa], out)
    assert summary["architecture"] == "analysis_synthesis"
    assert summary["num_params"] == 1_906_695 + 16_163_459
    got = load_file(out)
    expected = _expected_runtime(weights)
    assert set(got) == set(expected) == set(expected_runtime_shapes())
    assert len(got) == 325
    for k, v in expected.items():
        assert got[k].dtype == np.float32
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    with safe_open(str(out), "np") as f:
        meta = f.metadata()
    assert meta["architecture"] == "analysis_synthesis"
    assert meta["format_version"] == "1"
    assert meta["channel_order"] == "RGB"
    assert meta["input_range"] == "0,255" and meta["size_multiple"] == "16"
    assert meta["pad_mode"] == "symmetric"
    import hashlib

    assert meta["analysis_source_sha256"] == hashlib.sha256(pa.read_bytes()).hexdigest()
    assert meta["synthesis_source_sha256"] == hashlib.sha256(ps.read_bytes()).hexdigest()


def test_file_order_is_authoritative_not_names(tmp_path, weights):
    """Keras loads by position: renaming every layer (e.g. a process that built other models
    first) changes nothing as long as the numbering keeps the creation order."""
    names = {r: f"{_cls(n)}_{100 + _num(n)}" for r, n in creation_names("analysis").items()}
    pa = tmp_path / "a.h5"
    write_keras_h5(pa, "analysis", weights["analysis"], "str", names=names)
    _, ps = _write(tmp_path, weights)
    convert_checkpoint([pa, ps], tmp_path / "o.safetensors")
    got = load_file(tmp_path / "o.safetensors")
    np.testing.assert_array_equal(got["analysis.L2.c7b.bias"], weights["analysis"]["L2.c7b"][1])


def _cls(name: str) -> str:
    head, _, tail = name.rpartition("_")
    return head if tail.isdigit() else name


def _num(name: str) -> int:
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def test_swapped_positions_fail_the_cross_check(tmp_path, weights):
    """Two same-shaped layers swapped in the file: shapes cannot tell, the names can."""
    order = list(SYNTHESIS_FILE_ORDER)
    i, j = order.index("E1.c1"), order.index("E1.c2")
    order[i], order[j] = order[j], order[i]
    ps = tmp_path / "s.h5"
    write_keras_h5(ps, "synthesis", weights["synthesis"], "bytes", order=order)
    pa, _ = _write(tmp_path, weights)
    with pytest.raises(ConversionError, match="disagree"):
        convert_checkpoint([pa, ps], tmp_path / "o.safetensors")
    assert not (tmp_path / "o.safetensors").exists()


def test_errors(tmp_path, weights):
    pa, ps = _write(tmp_path, weights)
    out = tmp_path / "o.safetensors"
    with pytest.raises(ConversionError, match="needs both"):
        convert_checkpoint([pa], out, arch="analysis_synthesis")
    with pytest.raises(ConversionError, match="both analysis"):
        convert_checkpoint([pa, pa], out)
    # A mis-shaped layer.
    bad = {k: list(v) for k, v in weights["analysis"].items()}
    bad["P.c8"] = [np.zeros((3, 3, 16, 9), np.float32), np.zeros(9, np.float32)]
    pb = tmp_path / "bad.h5"
    write_keras_h5(pb, "analysis", bad)
    with pytest.raises(ConversionError, match="unexpected weight shapes"):
        convert_checkpoint([pb, ps], out)
    # A missing layer (32 weighted layers).
    order = [r for r in ANALYSIS_FILE_ORDER if r != "P.c16"]
    pm = tmp_path / "missing.h5"
    write_keras_h5(pm, "analysis", weights["analysis"], order=order)
    with pytest.raises(ConversionError, match="32 weighted layers"):
        convert_checkpoint([pm, ps], out)
    # Not HDF5 / HDF5 without Keras attributes.
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not a weights file")
    with pytest.raises(ConversionError):
        convert_checkpoint([junk, ps], out, arch="analysis_synthesis")
    import h5py

    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ConversionError, match="layer_names"):
        convert_checkpoint([plain, ps], out)
    # NaN weights.
    nan = {k: list(v) for k, v in weights["analysis"].items()}
    nan["L0.c7a"] = [np.full((7, 7, 1, 64), np.nan, np.float32), nan["L0.c7a"][1]]
    pn = tmp_path / "nan.h5"
    write_keras_h5(pn, "analysis", nan)
    with pytest.raises(ConversionError, match="NaN"):
        convert_checkpoint([pn, ps], out)
    assert not out.exists()


def test_command_line(tmp_path, weights):
    pa, ps = _write(tmp_path, weights, "str")
    out = tmp_path / "as.safetensors"
    tool = ROOT / "tools" / "convert_weights.py"
    r = subprocess.run([sys.executable, str(tool), str(ps), str(pa), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "analysis_synthesis" in r.stdout and out.exists()
    r = subprocess.run([sys.executable, "-m", "deblurcore", "convert", str(pa), "-o", str(tmp_path / "x.safetensors")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "needs both" in err[0]
