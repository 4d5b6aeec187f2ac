"""What the tests of the torch-free checkpoint converter (tests/test_convert*.py) share: the
converter itself (importable without the compiled core), reference checkpoints written with
torch.save, and bit-exact comparisons of the converted tensors."""

from __future__ import annotations

import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

REPO = Path(__file__).resolve().parents[2]  # the repository root


def _import_convert():
    """The converter is pure Python; when the compiled core is not built (plain
    ``PYTHONPATH=python``), import it from the sources without the package ``__init__``."""
    try:
        import deblurcore.convert as convert
    except ImportError:
        pkg = types.ModuleType("deblurcore")
        pkg.__path__ = [str(REPO / "python" / "deblurcore")]
        sys.modules["deblurcore"] = pkg
        import deblurcore.convert as convert
    return convert


convert = _import_convert()
ConversionError = convert.ConversionError
from deblurcore.convert.architectures import _specs_to_shapes, ifan_convs  # noqa: E402, F401
from tests.helpers.checkpoints import (  # noqa: E402, F401
    official_checkpoint_object,
    save,
    write_random_checkpoint,
)


def shapes(arch: str, variant: str | None = None) -> OrderedDict[str, tuple]:
    a = convert.get_architecture(arch)
    var = a.default_variant() if variant is None else a.detect_variant({}, variant)
    return a.expected_shapes(var)


def torch_state(shape_table, seed: int = 0, dtype=torch.float32) -> OrderedDict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict((k, torch.randn(s, generator=g, dtype=torch.float32).to(dtype)) for k, s in shape_table.items())
    sd._metadata = OrderedDict({"": {"version": 1}})  # as nn.Module.state_dict() attaches
    return sd


def adam_state() -> dict:
    """A real (small) Adam state dict, to check that solver state is tolerated and dropped."""
    p = torch.nn.Parameter(torch.randn(4, 3))
    opt = torch.optim.Adam([p], lr=1e-4)
    p.sum().backward()
    opt.step()
    return opt.state_dict()


def stfan_checkpoint(path: Path, legacy: bool, seed: int = 0, solver: bool = False) -> OrderedDict[str, torch.Tensor]:
    """STFAN in the official layout (stfan.md §7)."""
    sd = torch_state(shapes("stfan"), seed)
    wrapped = OrderedDict((f"module.{k}", v) for k, v in sd.items())
    wrapped._metadata = sd._metadata
    obj = {"epoch_idx": 400, "Best_Img_PSNR": 31.24, "Best_Epoch": 391, "deblurnet_state_dict": wrapped}
    if solver:
        obj["deblurnet_solver_state_dict"] = adam_state()
    save(obj, path, legacy)
    return sd


def assert_same_tensors(path: Path, ref: OrderedDict[str, torch.Tensor]) -> dict:
    out = load_file(str(path))
    assert list(sorted(out)) == sorted(ref)
    for k, v in ref.items():
        got = out[k]
        exp = v.detach().numpy().astype(np.float32)
        assert got.dtype == np.float32 and got.shape == exp.shape, k
        assert got.tobytes() == exp.tobytes(), k  # bit-exact
    return out


def metadata(path: Path) -> dict:
    with safe_open(str(path), framework="numpy") as f:
        return dict(f.metadata())


def write_small_stfan_files(d: Path) -> Path:
    """STFAN checkpoints in both torch.save formats (legacy.pth, zip.pth) in folder ``d``."""
    stfan_checkpoint(d / "legacy.pth", legacy=True)
    stfan_checkpoint(d / "zip.pth", legacy=False)
    return d
