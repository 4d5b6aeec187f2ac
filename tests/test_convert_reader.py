"""Tests of the checkpoint reader of the converter (deblurcore.convert): dtypes, odd pickled
objects, Python 2 pickles, and malicious pickles refused without side effects.

torch is used here only to write reference checkpoints (torch.save). Every comparison of weights is bit-exact: the
converter copies float32 bytes, so no tolerance applies (float16/float64 inputs are
compared against numpy's own cast to float32).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from tests.helpers.convert_checks import (
    ConversionError,
    convert,
    save,
    shapes,
    torch_state,
)

# ----------------------------------------------------------------------------- dtypes and the reader


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.bfloat16])
def test_non_float32_weights_are_cast_with_a_note(tmp_path, dtype):
    sd = torch_state(shapes("stfan"), 4, dtype=dtype)
    save({"deblurnet_state_dict": sd}, tmp_path / "c.pth", legacy=False)
    summary = convert.convert_checkpoint(tmp_path / "c.pth", tmp_path / "c.safetensors")
    assert any("to float32" in n for n in summary["notes"])
    out = load_file(str(tmp_path / "c.safetensors"))
    for k, v in sd.items():
        # float16 and bfloat16 widen exactly; float64 rounds to nearest like numpy's cast
        exp = v.to(torch.float32).numpy()
        assert out[k].tobytes() == exp.tobytes(), k


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_reader_matches_torch_load_on_odd_objects(tmp_path, legacy):
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    obj = {
        "transposed": base.t(),  # non-contiguous
        "slice": base[2:5, 3:7],  # offset + strides into a shared storage
        "shared": base,
        "int64": torch.tensor([1, -2, 3], dtype=torch.int64),
        "bool": torch.tensor([True, False]),
        "bf16": torch.tensor([1.5, -2.25], dtype=torch.bfloat16),
        "half": torch.tensor([0.1, 1e4], dtype=torch.float16),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.ones(2, 2)),
        "nested": [1, (2.5, "x", None), {"k": torch.tensor([7.0])}],
        "np_float": np.float64(3.25),
        "bytes": b"\x00\xffab",
        "set": {1, 2},
        "big": 2**70,
    }
    path = save(obj, tmp_path / "odd.pt", legacy)
    got = convert.load_torch_checkpoint_bytes(path.read_bytes()).obj
    ref = torch.load(path, weights_only=False)
    for k in ["transposed", "slice", "shared", "int64", "bool", "half", "scalar", "empty", "param"]:
        exp = ref[k].detach().numpy()
        assert got[k].dtype == exp.dtype and got[k].shape == exp.shape and np.array_equal(got[k], exp), k
        assert got[k].flags.c_contiguous
    assert np.array_equal(got["bf16"], ref["bf16"].float().numpy()) and got["bf16"].dtype == np.float32
    assert got["nested"][:2] == [1, (2.5, "x", None)] and np.array_equal(got["nested"][2]["k"], [7.0])
    assert got["np_float"] == 3.25 and got["bytes"] == b"\x00\xffab" and got["set"] == {1, 2} and got["big"] == 2**70


def test_python2_style_strings_are_read(tmp_path):
    """Legacy files written by Python 2 use SHORT_BINSTRING for str; patch a Python-3 file's
    BINUNICODE opcodes for ASCII strings into that form and read it back."""
    sd = OrderedDict(w=torch.arange(6, dtype=torch.float32).reshape(2, 3))
    path = save({"deblurnet_state_dict": sd}, tmp_path / "py2.pth", legacy=True)
    data = path.read_bytes()
    f = io.BytesIO(data)
    heads = [pickle.load(f) for _ in range(3)]
    start = f.tell()
    import pickletools

    ops = list(pickletools.genops(io.BytesIO(data[start:])))  # ends with STOP
    end = ops[-1][2] + 1
    raw = data[start : start + end]
    out = bytearray()
    for i, (op, arg, pos) in enumerate(ops):
        nxt = ops[i + 1][2] if i + 1 < len(ops) else end
        if op.name == "BINUNICODE" and len(arg) < 256:
            out += b"U" + bytes([len(arg)]) + arg.encode("latin1")
        else:
            out += raw[pos:nxt]
    assert heads[0] == convert.torch_pickle.LEGACY_MAGIC_NUMBER
    patched = data[:start] + bytes(out) + data[start + end :]
    assert b"U\x07storage" in patched
    got = convert.load_torch_checkpoint_bytes(patched).obj
    assert np.array_equal(got["deblurnet_state_dict"]["w"], sd["w"].numpy())


def test_python2_ordered_dict_form_is_read():
    """Python 2 pickles an OrderedDict as OrderedDict([[k, v], ...]) followed by BUILD of
    its instance dict (where a state dict keeps ``_metadata``)."""
    payload = (
        b"\x80\x02ccollections\nOrderedDict\n"
        b"](](U\x01aK\x01e](U\x01bK\x02ee\x85R"
        b"}U\x09_metadata}sb."
    )
    got = convert.load_torch_checkpoint_bytes(_evil_legacy(payload)).obj
    assert got == OrderedDict(a=1, b=2) and list(got) == ["a", "b"]


# ----------------------------------------------------------------------------- malicious files


class _Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _evil_legacy(payload: bytes) -> bytes:
    out = io.BytesIO()
    pickle.dump(convert.torch_pickle.LEGACY_MAGIC_NUMBER, out, protocol=2)
    pickle.dump(1001, out, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True}, out, protocol=2)
    out.write(payload)
    pickle.dump([], out, protocol=2)
    return out.getvalue()


def _evil_zip(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")
    return buf.getvalue()


@pytest.mark.parametrize("container", ["legacy", "zip", "header"])
@pytest.mark.parametrize("kind", ["os.system", "posix.system", "builtins.eval", "subprocess.Popen", "stack_global", "inst"])
def test_malicious_pickles_are_refused_without_side_effects(tmp_path, container, kind):
    marker = tmp_path / "pwned"
    cmd = f"touch {marker}"
    if kind == "os.system":
        payload = pickle.dumps({"deblurnet_state_dict": _Evil(os.system, cmd)}, protocol=2)
        name = "system"
    elif kind == "posix.system":
        payload = b"\x80\x02cposix\nsystem\nX" + struct.pack("<I", len(cmd)) + cmd.encode() + b"\x85R."
        name = "posix.system"
    elif kind == "builtins.eval":
        code = f"open({str(marker)!r}, 'w')"
        payload = pickle.dumps(_Evil(eval, code), protocol=2)
        name = "eval"  # protocol 2 writes it as __builtin__.eval
    elif kind == "subprocess.Popen":
        # protocol 4: protocol 2 would spell it 'commands.Popen' (Python-2 name mapping)
        payload = pickle.dumps(_Evil(subprocess.Popen, ["touch", str(marker)]), protocol=4)
        name = "subprocess.Popen"
    elif kind == "stack_global":
        payload = pickle.dumps(_Evil(os.system, cmd), protocol=4)  # STACK_GLOBAL opcode
        name = "system"
    else:  # protocol-0 INST opcode
        payload = b"(S'" + cmd.encode() + b"'\nios\nsystem\n."
        name = "os.system"
    if container == "legacy":
        data = _evil_legacy(payload)
    elif container == "zip":
        data = _evil_zip(payload)
    else:  # in the magic-number pickle itself
        data = payload
    src = tmp_path / "evil.pth"
    src.write_bytes(data)
    with pytest.raises(ConversionError) as exc:
        convert.convert_checkpoint(src, tmp_path / "out.safetensors")
    if container == "header" and kind == "inst":
        # a protocol-0 stream cannot be a torch.save file: refused before any unpickling
        assert "not a PyTorch checkpoint" in str(exc.value)
    else:
        assert "refusing" in str(exc.value) and name in str(exc.value)
    assert not marker.exists()
    assert not (tmp_path / "out.safetensors").exists()


def test_module_persistent_id_is_refused(tmp_path):
    # legacy torch.save of a whole nn.Module stores ('module', cls, source) persistent ids
    payload = b"\x80\x02(X\x06\x00\x00\x00moduleNN\x87Q."
    src = tmp_path / "m.pth"
    src.write_bytes(_evil_legacy(payload))
    with pytest.raises(ConversionError, match="persistent id of kind 'module'"):
        convert.convert_checkpoint(src, tmp_path / "o.safetensors")
