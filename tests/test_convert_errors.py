"""Tests of how the converter (deblurcore.convert, tools/convert_weights.py) refuses broken
files and mismatched keys, protects existing outputs, and reports errors on its command line.

torch is used here only to write reference checkpoints (torch.save). Every comparison of weights is bit-exact: the
converter copies float32 bytes, so no tolerance applies (float16/float64 inputs are
compared against numpy's own cast to float32).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from tests.helpers.convert_checks import (
    REPO,
    ConversionError,
    _specs_to_shapes,
    convert,
    ifan_convs,
    metadata,
    save,
    shapes,
    torch_state,
    write_random_checkpoint,
    write_small_stfan_files,
)

# ----------------------------------------------------------------------------- broken files


@pytest.fixture(scope="module")
def small_stfan_files(tmp_path_factory):
    return write_small_stfan_files(tmp_path_factory.mktemp("stfan"))


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
@pytest.mark.parametrize("frac", [0.0001, 0.001, 0.01, 0.3, 0.7, 0.999, 0.99999])
def test_truncated_files_are_refused(tmp_path, small_stfan_files, fmt, frac):
    data = (small_stfan_files / f"{fmt}.pth").read_bytes()
    src = tmp_path / "cut.pth"
    src.write_bytes(data[: max(1, int(len(data) * frac))])
    dst = tmp_path / "o.safetensors"
    with pytest.raises(ConversionError):
        convert.convert_checkpoint(src, dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.pth"]  # no output, no temp file


def test_corrupt_storage_bytes_in_zip_are_detected(tmp_path, small_stfan_files):
    data = bytearray((small_stfan_files / "zip.pth").read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a storage record: the zip CRC check fails
    src = tmp_path / "bad.pth"
    src.write_bytes(bytes(data))
    with pytest.raises(ConversionError, match="corrupt|CRC"):
        convert.convert_checkpoint(src, tmp_path / "o.safetensors")


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, b"\x80\x02garbage", b"PK\x03\x04 truncated"], ids=["empty", "zeros", "pickle-garbage", "zip-garbage"])
def test_garbage_files_are_refused(tmp_path, content):
    src = tmp_path / "g.pth"
    src.write_bytes(content)
    with pytest.raises(ConversionError):
        convert.convert_checkpoint(src, tmp_path / "o.safetensors")


def test_random_bytes_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(20):
        src = tmp_path / f"r{i}.pth"
        src.write_bytes(rng.bytes(int(rng.integers(1, 5000))))
        with pytest.raises(ConversionError):
            convert.convert_checkpoint(src, tmp_path / "o.safetensors")
    assert not (tmp_path / "o.safetensors").exists()


def test_zip_without_data_pkl(tmp_path):
    src = tmp_path / "z.pth"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("archive/version", "3\n")
    with pytest.raises(ConversionError, match="data.pkl"):
        convert.convert_checkpoint(src, tmp_path / "o.safetensors")


def test_missing_input(tmp_path):
    with pytest.raises(ConversionError, match="does not exist"):
        convert.convert_checkpoint(tmp_path / "nope.pth", tmp_path / "o.safetensors")


# ----------------------------------------------------------------------------- key / shape checks


def test_wrong_arch_is_reported(tmp_path, small_stfan_files):
    with pytest.raises(ConversionError, match="looks like stfan.*not ifan"):
        convert.convert_checkpoint(small_stfan_files / "legacy.pth", tmp_path / "o.safetensors", arch="ifan")
    with pytest.raises(ConversionError, match="unknown architecture"):
        convert.convert_checkpoint(small_stfan_files / "legacy.pth", tmp_path / "o.safetensors", arch="resnet")


def test_unknown_architecture(tmp_path):
    sd = OrderedDict((f"layer{i}.weight", torch.zeros(3, 3)) for i in range(5))
    save(sd, tmp_path / "u.pth", legacy=False)
    with pytest.raises(ConversionError, match="unknown architecture"):
        convert.convert_checkpoint(tmp_path / "u.pth", tmp_path / "o.safetensors")


def test_missing_extra_and_misshaped_keys_are_all_reported(tmp_path):
    sd = torch_state(shapes("stfan"), 0)
    del sd["kconv4.0.bias"], sd["fea.0.weight"]
    sd["extra.weight"] = torch.zeros(3)
    sd["running_mean"] = torch.zeros(3)
    sd["img_prd.0.weight"] = torch.zeros(3, 32, 5, 5)
    sd["fac_warp.3.0.bias"] = torch.zeros(3199)
    save({"deblurnet_state_dict": sd}, tmp_path / "m.pth", legacy=True)
    with pytest.raises(ConversionError) as exc:
        convert.convert_checkpoint(tmp_path / "m.pth", tmp_path / "o.safetensors")
    msg = str(exc.value)
    assert "\n" not in msg
    for name in ["kconv4.0.bias", "fea.0.weight", "extra.weight", "running_mean", "img_prd.0.weight", "fac_warp.3.0.bias"]:
        assert name in msg
    assert "[3,32,5,5] (expected [3,32,3,3])" in msg
    assert exc.value.missing == ["fea.0.weight", "kconv4.0.bias"]
    assert exc.value.unexpected == ["extra.weight", "running_mean"]
    assert [m[0] for m in exc.value.mismatched] == ["img_prd.0.weight", "fac_warp.3.0.bias"]
    assert not (tmp_path / "o.safetensors").exists()


def test_ifan_filter_head_with_bad_row_count(tmp_path):
    sd = torch_state(_specs_to_shapes(ifan_convs(17)), 0)
    sd["F.3.weight"] = torch.zeros(900, 128, 1, 1)
    sd["F.3.bias"] = torch.zeros(900)
    save(sd, tmp_path / "f.pth", legacy=False)
    with pytest.raises(ConversionError, match=r"F\.3\.weight \[900,128,1,1\]"):
        convert.convert_checkpoint(tmp_path / "f.pth", tmp_path / "o.safetensors")


def test_non_finite_and_integer_weights_are_refused(tmp_path):
    sd = torch_state(shapes("stfan"), 0)
    sd["conv1_1.0.bias"][3] = float("nan")
    save({"deblurnet_state_dict": sd}, tmp_path / "n.pth", legacy=False)
    with pytest.raises(ConversionError, match="conv1_1.0.bias contains 1 NaN"):
        convert.convert_checkpoint(tmp_path / "n.pth", tmp_path / "o.safetensors")
    sd = torch_state(shapes("stfan"), 0)
    sd["conv1_1.0.bias"] = torch.zeros(32, dtype=torch.int64)
    save({"deblurnet_state_dict": sd}, tmp_path / "i.pth", legacy=False)
    with pytest.raises(ConversionError, match="conv1_1.0.bias has dtype int64"):
        convert.convert_checkpoint(tmp_path / "i.pth", tmp_path / "o.safetensors")


# ----------------------------------------------------------------------------- output handling


def test_existing_output_is_refused_and_force_replaces_it(tmp_path, small_stfan_files):
    dst = tmp_path / "o.safetensors"
    dst.write_bytes(b"keep me")
    with pytest.raises(ConversionError, match="already exists"):
        convert.convert_checkpoint(small_stfan_files / "zip.pth", dst)
    assert dst.read_bytes() == b"keep me"
    convert.convert_checkpoint(small_stfan_files / "zip.pth", dst, overwrite=True)
    assert len(load_file(str(dst))) == 110
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.safetensors"]
    # a failing conversion with overwrite leaves the previous output untouched
    before = dst.read_bytes()
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x80\x02junk")
    with pytest.raises(ConversionError):
        convert.convert_checkpoint(bad, dst, overwrite=True)
    assert dst.read_bytes() == before
    with pytest.raises(ConversionError, match="does not exist"):
        convert.convert_checkpoint(small_stfan_files / "zip.pth", tmp_path / "nodir" / "o.safetensors")


# ----------------------------------------------------------------------------- command line


def _run_tool(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(REPO / "tools" / "convert_weights.py"), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_success_and_errors(tmp_path, small_stfan_files):
    dst = tmp_path / "o.safetensors"
    r = _run_tool(str(small_stfan_files / "legacy.pth"), "-o", str(dst))
    assert r.returncode == 0, r.stderr
    assert "stfan" in r.stdout and "110 tensors" in r.stdout
    r = _run_tool(str(small_stfan_files / "legacy.pth"), "-o", str(dst))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "already exists" in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = _run_tool(str(small_stfan_files / "legacy.pth"), "-o", str(dst), "--force", "--arch", "aspdc")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not aspdc" in r.stderr
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"hello")
    r = _run_tool(str(junk), "-o", str(tmp_path / "j.safetensors"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = _run_tool(str(small_stfan_files / "legacy.pth"), "-o", str(dst), "--force", "-q")
    assert r.returncode == 0 and r.stdout == ""


def test_main_convert_in_process(tmp_path, small_stfan_files, capsys):
    dst = tmp_path / "o.safetensors"
    assert convert.main_convert([str(small_stfan_files / "zip.pth"), "-o", str(dst)]) == 0
    assert convert.main_convert([str(small_stfan_files / "zip.pth"), "-o", str(dst)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_converter_and_random_weights_never_import_torch(tmp_path):
    """Convert a checkpoint, and write random weights as the demo does, in a process where
    importing torch fails."""
    write_random_checkpoint(tmp_path / "r.pth", "stfan", seed=0)
    code = (
        "import sys; sys.modules['torch'] = None\n"
        f"sys.path.insert(0, {str(REPO / 'tools')!r})\n"
        "import convert_weights as c\n"
        f"assert c.main([{str(tmp_path / 'r.pth')!r}, '-o', {str(tmp_path / 'r.safetensors')!r}]) == 0\n"
        "from deblurcore.convert import write_random_weights\n"
        f"write_random_weights({str(tmp_path / 'w.safetensors')!r}, 'ifan')\n"
        "assert not any(k == 'torch' or k.startswith('torch.') for k, v in sys.modules.items() if v is not None)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    assert metadata(tmp_path / "r.safetensors")["source_format"] == "torch-legacy"
    assert metadata(tmp_path / "w.safetensors")["architecture"] == "ifan"
