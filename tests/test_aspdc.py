"""ASPDC end to end: an official-layout checkpoint -> converter -> C++ model, against a
PyTorch DeblurringNet written from the spec (tests/torch_models/aspdc.py).

The random weights make the deformable convolutions sample for real: offsets of 1-3 px std
(fractional, many samples near or past the border of the small feature maps), masks spread
over (0, 1), branch softmax far from uniform. The torch model reproduces the d0 quirk with an
explicit index formula (spec §4.3), the runtime with a buffer copy.

Tolerance: max |diff| <= 1e-4 on the raw output (values within about ±1.6). Both sides compute
in float32; the differences come from summation order in convolutions and DCN GEMMs (K up to
6912 products) and propagate through 6 ASPDC blocks in series. Bilinear sampling is continuous
in the offsets, so an offset differing by 1e-6 changes a sample by ~1e-6 times the local
gradient. Measured ~5e-6. A wrong layer order, branch, dilation or d0 treatment gives 1e-2 or
more (checked below for the d0 variant).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.numpy import load_file, save_file  # noqa: E402

import deblurcore  # noqa: E402
from deblurcore.convert import convert_checkpoint  # noqa: E402
from tests.torch_models.aspdc import DeblurringNet, random_state_dict  # noqa: E402

TOL = 1e-4
SIZES = [(48, 64), (44, 36)]  # multiples of 4; feature maps 12x16 and 11x9


@pytest.fixture(scope="module")
def aspdc_setup(tmp_path_factory):
    torch.set_num_threads(2)
    d = tmp_path_factory.mktemp("aspdc")
    sd = random_state_dict(seed=3)
    net = DeblurringNet()
    net.load_state_dict(sd)
    net.eval()
    # The official layout (D_testing.py loads checkpoint['deblurring_state_dict']).
    torch.save({"epoch": 3000, "deblurring_state_dict": sd}, d / "DeblurringNet_FT.pth")
    convert_checkpoint(d / "DeblurringNet_FT.pth", d / "aspdc.safetensors", variant="FT")
    return net, sd, d


def _torch_forward(net, x):
    with torch.no_grad():
        return net(torch.from_numpy(x))[0].numpy()


def _input(h, w, seed):
    """A smooth RGB scene plus noise, HxWx3 float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin((xx - yy) / 5.0)], -1) * 0.8
    img += rng.normal(0, 0.05, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def _to_network(img):
    """HxWx3 [0, 1] -> (1, 3, H, W) in [-1, 1], as the runtime maps float images (2v - 1)."""
    return np.ascontiguousarray((img * 2 - 1).transpose(2, 0, 1)[None]).astype(np.float32)


def test_converted_weights_are_the_checkpoint(aspdc_setup):
    _, sd, d = aspdc_setup
    got = load_file(str(d / "aspdc.safetensors"))
    assert sorted(got) == sorted(sd) and len(got) == 298
    for k in sd:
        assert np.array_equal(got[k], sd[k].numpy()), k


@pytest.mark.parametrize("h,w", SIZES)
def test_raw_forward_matches_torch(aspdc_setup, h, w):
    net, _, d = aspdc_setup
    x = _to_network(_input(h, w, seed=h))
    want = _torch_forward(net, x)
    model = deblurcore.ASPDC(d / "aspdc.safetensors", num_threads=2)
    assert model.architecture == "aspdc" and model.variant == "DeblurringNet_FT"
    got = model._core.forward(x)
    assert got.shape == want.shape
    err = float(np.abs(got - want).max())
    assert err <= TOL, err


def test_winograd_everywhere_matches_torch(aspdc_setup, monkeypatch):
    """Every 3x3 stride-1 layer by Winograd F(4x4, 3x3): the same 1e-4 bound."""
    net, _, d = aspdc_setup
    x = _to_network(_input(48, 64, seed=3))
    want = _torch_forward(net, x)
    monkeypatch.setenv("DEBLURCORE_CONV_ALGO", "winograd")
    model = deblurcore.ASPDC(d / "aspdc.safetensors", num_threads=2)
    err = float(np.abs(model._core.forward(x) - want).max())
    assert err <= TOL, err


def test_d0_quirk_is_what_is_compared(aspdc_setup):
    """The same weights with an aligned (padded) d0 mask give clearly different outputs, so
    the comparison above does check the emulation of the official d0 indexing."""
    net, sd, _ = aspdc_setup
    intended = DeblurringNet(d0_mode="intended")
    intended.load_state_dict(sd)
    intended.eval()
    x = _to_network(_input(48, 64, seed=1))
    diff = np.abs(_torch_forward(net, x) - _torch_forward(intended, x)).max()
    assert diff > 1e-2


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_image_api(aspdc_setup, dtype):
    net, _, d = aspdc_setup
    img = _input(44, 36, seed=5)
    if dtype == np.uint8:
        img = np.round(img * 255).astype(np.uint8)
        # (v - 127.5) * (1 / 127.5), albumentations' Normalize(0.5, 0.5) in float32.
        x = (img.astype(np.float32) - np.float32(127.5)) * np.float32(1 / 127.5)
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    else:
        x = _to_network(img)
    y = np.clip(_torch_forward(net, x), -1, 1)
    want = ((y + 1) / 2)[0].transpose(1, 2, 0)
    model = deblurcore.ASPDC(d / "aspdc.safetensors", num_threads=2)
    out = model(img)
    assert out.shape == img.shape and out.dtype == img.dtype
    if dtype == np.uint8:
        # Rounded to nearest: a 1e-5 difference can only flip a value sitting on a .5 boundary.
        assert np.abs(out.astype(int) - np.round(want * 255).astype(int)).max() <= 1
    else:
        assert np.abs(out - want).max() <= TOL


def test_odd_size_is_padded_and_cropped(aspdc_setup):
    """Sizes that are not multiples of 4 run on the replicate-padded image, cropped back."""
    net, _, d = aspdc_setup
    img = _input(30, 41, seed=9)
    padded = np.pad(img, ((0, 2), (0, 3), (0, 0)), mode="edge")
    y = np.clip(_torch_forward(net, _to_network(padded)), -1, 1)
    want = ((y + 1) / 2)[0].transpose(1, 2, 0)[:30, :41]
    out = deblurcore.ASPDC(d / "aspdc.safetensors", num_threads=2)(img)
    assert out.shape == img.shape
    assert np.abs(out - want).max() <= TOL


def test_load_model_picks_aspdc(aspdc_setup):
    _, _, d = aspdc_setup
    m = deblurcore.load_model(d / "aspdc.safetensors", num_threads=1)
    assert isinstance(m, deblurcore.ASPDC) and not m.is_video


def test_bad_images_refused(aspdc_setup):
    _, _, d = aspdc_setup
    model = deblurcore.ASPDC(d / "aspdc.safetensors", num_threads=1)
    with pytest.raises(TypeError, match="dtype"):
        model(np.zeros((16, 16, 3), np.float64))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        model(np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        model(np.zeros((16, 16, 4), np.uint8))
    with pytest.raises(ValueError, match="at least 9x9"):
        model(np.zeros((8, 32, 3), np.uint8))
    with pytest.raises(TypeError):
        model([[0, 0, 0]])
    # The raw forward checks the network's own constraints.
    with pytest.raises(ValueError, match="multiples of 4"):
        model._core.forward(np.zeros((1, 3, 16, 18), np.float32))
    with pytest.raises(ValueError, match="at least 12"):
        model._core.forward(np.zeros((1, 3, 8, 16), np.float32))
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        model._core.forward(np.zeros((1, 4, 16, 16), np.float32))


def test_bad_weight_files_refused(aspdc_setup, tmp_path):
    _, _, d = aspdc_setup
    tensors = load_file(str(d / "aspdc.safetensors"))
    meta = {"architecture": "aspdc", "channel_order": "RGB", "input_range": "-1,1"}

    def write(name, ts, md):
        path = tmp_path / name
        save_file(ts, str(path), metadata=md)
        return path

    key = "en_res_group2_2.hallucination_d3.hallucination_conv.p_conv.weight"
    missing = {k: v for k, v in tensors.items() if k != key}
    with pytest.raises(ValueError, match="p_conv.weight"):
        deblurcore.ASPDC(write("missing.safetensors", missing, meta))
    wrong = dict(tensors)
    wrong[key] = np.zeros((18, 128, 1, 1), np.float32)
    with pytest.raises(ValueError, match="p_conv.weight"):
        deblurcore.ASPDC(write("shape.safetensors", wrong, meta))
    extra = dict(tensors)
    extra["en_res_group1_2.hallucination_d0.p_conv.weight"] = np.zeros((18, 128, 3, 3), np.float32)
    with pytest.raises(ValueError, match="hallucination_d0.p_conv.weight"):
        deblurcore.ASPDC(write("extra.safetensors", extra, meta))
    with pytest.raises(ValueError, match="channel_order"):
        deblurcore.ASPDC(write("bgr.safetensors", tensors, dict(meta, channel_order="BGR")))
    with pytest.raises(ValueError, match="architecture"):
        deblurcore.ASPDC(write("arch.safetensors", tensors, dict(meta, architecture="aspdc2")))
