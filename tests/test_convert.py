"""Tests of the torch-free checkpoint converter (deblurcore.convert, tools/convert_weights.py).

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
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

REPO = Path(__file__).resolve().parent.parent


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
from deblurcore.convert.architectures import _specs_to_shapes, ifan_convs  # noqa: E402
from tests.helpers.checkpoints import official_checkpoint_object, save, write_random_checkpoint  # noqa: E402

# ----------------------------------------------------------------------------- helpers


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


# ----------------------------------------------------------------------------- tables


def test_parameter_tables_match_the_specs():
    def count(t):
        return len(t), sum(int(np.prod(s)) for s in t.values())

    assert count(shapes("stfan")) == (110, 5_372_547)  # stfan.md §0
    assert count(shapes("aspdc")) == (298, 15_016_503)  # aspdc.md §0
    # ifan.md §6: parameters of Network per variant
    for n, dual, params in [(17, False, 10_476_996), (8, False, 9_436_740), (26, False, 11_517_252),
                            (35, False, 12_557_508), (44, False, 13_597_764), (17, True, 10_477_860)]:
        assert count(_specs_to_shapes(ifan_convs(n, dual))) == (158, params)
    assert shapes("stfan")["upconv2_u.0.weight"] == (256, 64, 4, 4)  # ConvT: Cin x Cout
    assert shapes("stfan")["upconv2_u.0.bias"] == (64,)
    assert shapes("aspdc")["tail.0.bias"] == (64,)
    assert shapes("ifan")["DME.3.weight"] == (1, 128, 3, 3)


# ----------------------------------------------------------------------------- STFAN


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_stfan_official_layout_converts_bit_exactly(tmp_path, legacy):
    src = tmp_path / "best-ckpt.pth.tar"
    ref = stfan_checkpoint(src, legacy, solver=True)
    dst = tmp_path / "stfan.safetensors"
    summary = convert.convert_checkpoint(src, dst)
    assert summary["architecture"] == "stfan" and summary["variant"] == "STFAN"
    assert summary["num_tensors"] == 110 and summary["num_params"] == 5_372_547
    assert set(summary["dropped_fields"]) == {"epoch_idx", "Best_Img_PSNR", "Best_Epoch", "deblurnet_solver_state_dict"}
    assert_same_tensors(dst, ref)
    meta = metadata(dst)
    import hashlib

    assert meta["architecture"] == "stfan"
    assert meta["format_version"] == convert.FORMAT_VERSION
    assert meta["variant"] == "STFAN"
    assert meta["channel_order"] == "BGR"
    assert meta["input_scale"] == "255" and meta["input_range"] == "0,1"
    assert meta["size_multiple"] == "4" and meta["recurrent"] == "true"
    assert meta["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert meta["source_name"] == "best-ckpt.pth.tar"
    assert meta["source_format"] == ("torch-legacy" if legacy else "torch-zip")
    assert meta["source_epoch"] == "400"
    assert meta["num_params"] == "5372547"
    assert all(isinstance(v, str) for v in meta.values())


def test_stfan_legacy_and_zip_give_identical_tensors(tmp_path):
    ref_l = stfan_checkpoint(tmp_path / "a.pth", legacy=True, seed=3)
    ref_z = stfan_checkpoint(tmp_path / "b.pth", legacy=False, seed=3)
    assert all(torch.equal(ref_l[k], ref_z[k]) for k in ref_l)
    convert.convert_checkpoint(tmp_path / "a.pth", tmp_path / "a.safetensors")
    convert.convert_checkpoint(tmp_path / "b.pth", tmp_path / "b.safetensors")
    a = load_file(str(tmp_path / "a.safetensors"))
    b = load_file(str(tmp_path / "b.safetensors"))
    assert a.keys() == b.keys()
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


def test_plain_state_dict_without_wrappers(tmp_path):
    # a bare model.state_dict() of STFAN (no 'module.' prefix, no training dict)
    sd = torch_state(shapes("stfan"), 5)
    save(sd, tmp_path / "plain.pth", legacy=False)
    convert.convert_checkpoint(tmp_path / "plain.pth", tmp_path / "plain.safetensors", arch="stfan")
    assert_same_tensors(tmp_path / "plain.safetensors", sd)


# ----------------------------------------------------------------------------- IFAN


def ifan_checkpoint(path: Path, n: int = 17, dual: bool = False, legacy: bool = False, prefix: str = "module.Network.",
                    reblur: bool = True, seed: int = 0):
    sd = torch_state(_specs_to_shapes(ifan_convs(n, dual)), seed)
    flat = OrderedDict((prefix + k, v) for k, v in sd.items())
    if reblur:
        # the training-only re-blurring net (ifan.md §2); small stand-in shapes: it is dropped whatever they are
        for i, k in enumerate(["RBF.0.0.weight", "RBF.0.0.bias", "RBF.3.weight", "RBF.3.bias"]):
            flat[f"module.reblurNet.{k}"] = torch.randn(i + 2, 3)
    save(flat, path, legacy)
    return sd


@pytest.mark.parametrize(
    "n,dual,legacy,expected",
    [(17, False, False, "IFAN"), (8, False, True, "IFAN_8"), (17, True, False, "IFAN_dual")],
)
def test_ifan_variants_are_detected(tmp_path, n, dual, legacy, expected):
    src = tmp_path / "IFAN.pytorch"
    ref = ifan_checkpoint(src, n=n, dual=dual, legacy=legacy)
    dst = tmp_path / "ifan.safetensors"
    summary = convert.convert_checkpoint(src, dst)
    assert summary["architecture"] == "ifan" and summary["variant"] == expected
    assert len(summary["dropped_keys"]) == 4 and all(k.startswith("module.reblurNet.") for k in summary["dropped_keys"])
    assert_same_tensors(dst, ref)
    meta = metadata(dst)
    assert meta["iterations"] == str(n)
    assert meta["dual_pixel"] == ("true" if dual else "false")
    assert meta["channel_order"] == "RGB" and meta["size_multiple"] == "8" and meta["size_policy"] == "pad"
    assert meta["input_scale"] == "255" and meta["bit_depth"] == "8" and meta["output_clamped"] == "true"


def test_ifan_16bit_needs_variant_and_prefix_forms(tmp_path):
    src = tmp_path / "IFAN_16bit.pytorch"
    ref = ifan_checkpoint(src, prefix="", reblur=False)  # bare keys are accepted too
    dst = tmp_path / "ifan16.safetensors"
    convert.convert_checkpoint(src, dst, variant="16bit")
    assert_same_tensors(dst, ref)
    meta = metadata(dst)
    assert meta["variant"] == "IFAN_16bit" and meta["input_scale"] == "65535" and meta["bit_depth"] == "16"
    with pytest.raises(ConversionError, match="IFAN_8"):
        convert.convert_checkpoint(src, tmp_path / "x.safetensors", variant="IFAN_8")
    # the CPU-path form of the official loader: 'Network.' without 'module.'
    src2 = tmp_path / "b.pytorch"
    ref2 = ifan_checkpoint(src2, prefix="Network.", seed=1)
    convert.convert_checkpoint(src2, tmp_path / "b.safetensors", arch="ifan")
    assert_same_tensors(tmp_path / "b.safetensors", ref2)


# ----------------------------------------------------------------------------- ASPDC


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_aspdc_official_layout(tmp_path, legacy):
    sd = torch_state(shapes("aspdc"), 2)
    src = tmp_path / "DeblurringNet_FT.pth"
    save({"epoch": 3000, "deblurring_state_dict": sd}, src, legacy)
    dst = tmp_path / "aspdc.safetensors"
    summary = convert.convert_checkpoint(src, dst, variant="FT")
    assert summary["architecture"] == "aspdc" and summary["num_params"] == 15_016_503
    assert_same_tensors(dst, sd)
    meta = metadata(dst)
    assert meta["variant"] == "DeblurringNet_FT"
    assert meta["channel_order"] == "RGB" and meta["input_range"] == "-1,1" and meta["output_range"] == "-1,1"
    assert meta["size_multiple"] == "4" and meta["input_scale"] == "255"


def test_aspdc_reblurring_net_is_refused(tmp_path):
    src = tmp_path / "ReBlurringNet.pth"
    save({"blurring_state_dict": OrderedDict(w=torch.zeros(2))}, src, legacy=False)
    with pytest.raises(ConversionError, match="re-blurring"):
        convert.convert_checkpoint(src, tmp_path / "o.safetensors")


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


# ----------------------------------------------------------------------------- random weights


@pytest.mark.parametrize("arch,fmt", [("stfan", "legacy"), ("stfan", "zip"), ("ifan", "zip"), ("aspdc", "zip")])
def test_random_checkpoint_in_official_layout_converts_exactly(tmp_path, arch, fmt):
    """A GPU-saved checkpoint in the official layout (storages tagged 'cuda:0') converts
    to exactly the weights it was made of."""
    path = tmp_path / f"{arch}.pth"
    write_random_checkpoint(path, arch=arch, fmt=fmt, seed=7)
    got = torch.load(path, map_location="cpu", weights_only=True)
    plain = convert.random_state_dict(arch, seed=7)
    assert list(got) == list(official_checkpoint_object(arch, plain))
    if arch == "stfan":
        assert set(got) == {"epoch_idx", "Best_Img_PSNR", "Best_Epoch", "deblurnet_state_dict"}
        assert all(k.startswith("module.") for k in got["deblurnet_state_dict"])
    assert convert.load_torch_checkpoint_bytes(path.read_bytes()).locations == {"cuda:0"}
    dst = tmp_path / f"{arch}.safetensors"
    summary = convert.convert_checkpoint(path, dst)
    assert summary["architecture"] == arch
    assert summary["metadata"]["source_format"] == f"torch-{fmt}"
    out = load_file(str(dst))
    assert sorted(out) == sorted(plain)
    assert all(out[k].tobytes() == plain[k].tobytes() for k in plain)


@pytest.mark.parametrize("arch,variant", [("stfan", None), ("ifan", None), ("ifan", "IFAN_dual"), ("aspdc", "NF")])
def test_random_weights_file_equals_a_converted_checkpoint(tmp_path, arch, variant):
    """write_random_weights (torch-free, used by the demo) writes what converting a
    checkpoint of the same weights writes, apart from the source_* metadata."""
    direct = convert.write_random_weights(tmp_path / "direct.safetensors", arch, seed=3, variant=variant)
    ckpt = write_random_checkpoint(tmp_path / "r.pth", arch, seed=3, variant=variant)
    converted = tmp_path / "converted.safetensors"
    convert.convert_checkpoint(ckpt, converted, variant=variant)
    a, b = load_file(str(direct)), load_file(str(converted))
    assert a.keys() == b.keys() and all(a[k].tobytes() == b[k].tobytes() for k in a)
    meta_a, meta_b = metadata(direct), metadata(converted)
    assert meta_a["source_format"] == "random" and "seed 3" in meta_a["source_name"]
    assert {k: v for k, v in meta_a.items() if not k.startswith("source_")} == {
        k: v for k, v in meta_b.items() if not k.startswith("source_")
    }
    with pytest.raises(ConversionError, match="already exists"):
        convert.write_random_weights(direct, arch)
    convert.write_random_weights(direct, arch, seed=4, variant=variant, overwrite=True)
    assert load_file(str(direct)).keys() == a.keys()


def test_random_ifan_variants_and_weight_scale():
    sd = convert.random_state_dict("ifan", seed=1, variant="IFAN_dual")
    assert sd["kconv1_1.0.weight"].shape == (32, 6, 3, 3) and sd["F.3.weight"].shape == (15232, 128, 1, 1)
    assert convert.random_state_dict("ifan", variant="IFAN_8")["F.3.bias"].shape == (7168,)
    st = convert.random_state_dict("stfan")
    # FAC filter heads: taps around 1/25 so that a 5x5 filter roughly averages
    assert abs(float(st["fac_warp.3.0.bias"].mean()) - 0.032) < 0.002
    for k, v in st.items():
        assert np.isfinite(v).all() and float(np.abs(v).max()) < 1.0, k


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


# ----------------------------------------------------------------------------- broken files


@pytest.fixture(scope="module")
def small_stfan_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("stfan")
    stfan_checkpoint(d / "legacy.pth", legacy=True)
    stfan_checkpoint(d / "zip.pth", legacy=False)
    return d


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
