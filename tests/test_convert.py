"""Tests of the torch-free checkpoint converter (deblurcore.convert, tools/convert_weights.py):
the parameter tables and the official layouts of each architecture, and random weights.

torch is used here only to write reference checkpoints (torch.save). Every comparison of weights is bit-exact: the
converter copies float32 bytes, so no tolerance applies (float16/float64 inputs are
compared against numpy's own cast to float32).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from tests.helpers.convert_checks import (
    ConversionError,
    _specs_to_shapes,
    assert_same_tensors,
    convert,
    ifan_convs,
    metadata,
    official_checkpoint_object,
    save,
    shapes,
    stfan_checkpoint,
    torch_state,
    write_random_checkpoint,
)

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
