"""IFAN end to end: an official-layout checkpoint -> converter -> C++ model, against a
PyTorch IFAN written from the spec (tests/torch_models/ifan.py), for every released variant.

Tolerance: max |diff| <= 1e-4 on outputs of order 1. Both sides compute in float32; the
differences come from the summation order of the convolutions (up to 2304 products per
output) and pass through the 17 IAC iterations and the decoder. Measured around 5e-6 with
these weights, whose IAC filters keep the feature scale from iteration to iteration (checked
below). A wrong layer order, tap layout, padding or activation gives 1e-2 or more.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.numpy import load_file, save_file  # noqa: E402

import deblurcore  # noqa: E402
from deblurcore.convert import convert_checkpoint  # noqa: E402
from tests.torch_models.ifan import Network, official_checkpoint, random_state_dict  # noqa: E402

TOL = 1e-4


def make_image(h, w, seed=0, channels_first=False):
    """An RGB float32 image in [0, 1]: gradients, a sinusoid, a bright square, mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin((xx + yy) / 5.0)], -1) * 0.8
    img[h // 4 : h // 2, w // 3 : w // 2] = 0.95
    img = img + rng.normal(0, 0.03, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def nchw(img):
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].contiguous()


def hwc(t):
    return t[0].permute(1, 2, 0).numpy()


def make_variant(tmp, n_iter=17, dual=False, seed=1, variant=None):
    """Random weights -> official checkpoint file -> converted safetensors; (torch net, path)."""
    sd = random_state_dict(n_iter, dual, seed=seed)
    net = Network(n_iter, dual)
    net.load_state_dict(sd)
    net.eval()
    src = tmp / f"IFAN_{n_iter}_{int(dual)}_{seed}.pytorch"
    torch.save(official_checkpoint(sd, n_iter), src)
    dst = tmp / f"{src.stem}_{variant or 'auto'}.safetensors"
    convert_checkpoint(src, dst, arch="ifan", variant=variant)
    return net, dst


def torch_out(net, img, right=None, left=None):
    with torch.no_grad():
        if right is None:
            return hwc(net(nchw(img)))
        return hwc(net(nchw(img), nchw(right), nchw(left)))


@pytest.fixture(scope="module")
def ifan17(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ifan")
    net, path = make_variant(tmp)
    return net, path, deblurcore.IFAN(path, num_threads=2), tmp


def test_weights_and_metadata(ifan17):
    net, path, model, _ = ifan17
    tensors = load_file(str(path))
    assert len(tensors) == 158 and not any(k.startswith(("module.", "reblurNet")) for k in tensors)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(tensors[k], v.numpy())
    assert model.architecture == "ifan" and model.variant == "IFAN"
    assert (model.iterations, model.dual_pixel, model.bit_depth) == (17, False, 8)
    assert isinstance(deblurcore.load_model(path), deblurcore.IFAN)


def test_iac_neither_vanishes_nor_explodes(ifan17):
    # The random filter head is calibrated: through 17 iterations the feature keeps its scale.
    net = ifan17[0]
    with torch.no_grad():
        _, inter = net(nchw(make_image(64, 96)), return_intermediates=True)
    ratio = float(inter["iac"].std() / inter["f_C"].std())
    assert 0.2 < ratio < 5.0, ratio


@pytest.mark.parametrize("h,w", [(64, 96), (40, 56)])
def test_forward_matches_torch(ifan17, h, w):
    net, _, model, _ = ifan17
    img = make_image(h, w, seed=h)
    with torch.no_grad():
        want = net(nchw(img)).numpy()
    raw = model._core.forward(nchw(img).numpy())
    assert raw.shape == want.shape
    assert np.abs(raw - want).max() <= TOL
    # The residual is a real part of the result, and some outputs leave [0, 1] (the clip).
    assert np.abs(want - nchw(img).numpy()).std() > 0.05
    assert ((want < 0) | (want > 1)).mean() > 0.001
    out = model(img)
    assert out.shape == img.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, np.clip(hwc(torch.from_numpy(want)), 0, 1), rtol=0, atol=TOL)


def test_winograd_everywhere_matches_torch(ifan17, monkeypatch):
    """Every 3x3 stride-1 layer by Winograd F(4x4, 3x3): the same 1e-4 bound."""
    net, path, _, _ = ifan17
    img = make_image(64, 96, seed=5)
    with torch.no_grad():
        want = net(nchw(img)).numpy()
    monkeypatch.setenv("DEBLURCORE_CONV_ALGO", "winograd")
    model = deblurcore.IFAN(path, num_threads=2)
    assert np.abs(model._core.forward(nchw(img).numpy()) - want).max() <= TOL


def test_uint8_round_trip(ifan17):
    net, _, model, _ = ifan17
    img8 = (make_image(40, 56, seed=3) * 255).round().astype(np.uint8)
    want = np.clip(torch_out(net, img8.astype(np.float32) / 255.0), 0, 1)
    out = model(img8)
    assert out.dtype == np.uint8 and out.shape == img8.shape
    # Rounded to nearest: within one step where the float results straddle a rounding edge.
    assert np.abs(out.astype(np.int32) - np.round(want * 255).astype(np.int32)).max() <= 1


def test_any_size_is_padded_by_replication_and_cropped(ifan17):
    # The official code crops to a multiple of 8; we pad (replicating the last row and
    # column) and crop the result back, so the output has the input's size.
    net, _, model, _ = ifan17
    img = make_image(37, 50, seed=4)
    padded = np.pad(img, ((0, 3), (0, 6), (0, 0)), mode="edge")
    want = np.clip(torch_out(net, padded), 0, 1)[:37, :50]
    out = model(img)
    assert out.shape == img.shape
    np.testing.assert_allclose(out, want, rtol=0, atol=TOL)
    tiny = model(make_image(1, 1))  # padded to 8x8
    assert tiny.shape == (1, 1, 3)


@pytest.mark.parametrize("n_iter", [8, 26, 35, 44])
def test_iteration_variants(tmp_path, n_iter):
    net, path = make_variant(tmp_path, n_iter=n_iter, seed=n_iter)
    model = deblurcore.IFAN(path, num_threads=2)
    assert model.iterations == n_iter and model.variant == f"IFAN_{n_iter}"
    img = make_image(16, 24, seed=n_iter)
    np.testing.assert_allclose(model(img), np.clip(torch_out(net, img), 0, 1), rtol=0, atol=TOL)


def test_16bit_variant(ifan17):
    net, _, _, tmp = ifan17
    _, path = make_variant(tmp, variant="16bit")  # same weights as ifan17 (same seed)
    model = deblurcore.IFAN(path, num_threads=2)
    assert model.variant == "IFAN_16bit" and model.bit_depth == 16 and model.iterations == 17
    img16 = (make_image(40, 56, seed=5) * 65535).round().astype(np.uint16)
    want = np.clip(torch_out(net, img16.astype(np.float32) / 65535.0), 0, 1)
    out = model(img16)
    assert out.dtype == np.uint16 and out.shape == img16.shape
    # TOL in [0, 1] is 6.6 steps of 1/65535, plus one for the rounding.
    assert np.abs(out.astype(np.int64) - np.round(want * 65535).astype(np.int64)).max() <= 8
    # uint8 and float32 images are accepted too.
    assert model((make_image(8, 8) * 255).astype(np.uint8)).dtype == np.uint8
    assert model(make_image(8, 8)).dtype == np.float32


def test_dual_pixel_variant(tmp_path):
    net, path = make_variant(tmp_path, dual=True, seed=7)
    model = deblurcore.IFAN(path, num_threads=2)
    assert model.variant == "IFAN_dual" and model.dual_pixel
    assert model._core.architecture == "ifan"
    c = make_image(40, 56, seed=8)
    # Two different views: a shifted copy each way, so that R/L order matters.
    r = np.roll(c, 2, axis=1) * 0.9
    l_ = np.roll(c, -2, axis=1)
    want = np.clip(torch_out(net, c, r, l_), 0, 1)
    out = model(c, right=r, left=l_)
    assert out.shape == c.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, want, rtol=0, atol=TOL)
    swapped = model(c, right=l_, left=r)
    assert np.abs(swapped - out).max() > 10 * TOL
    # Odd sizes: all three padded alike.
    assert model(c[:35, :50], right=r[:35, :50], left=l_[:35, :50]).shape == (35, 50, 3)
    with pytest.raises(ValueError, match="right=R, left=L"):
        model(c)
    with pytest.raises(ValueError, match="shape"):
        model(c, right=r[:32], left=l_)
    with pytest.raises(TypeError, match="dtype"):
        model(c, right=(r * 255).astype(np.uint8), left=l_)
    with pytest.raises(ValueError, match="forward_dual"):
        model._core.forward(nchw(c).numpy())


def test_bad_images_are_refused(ifan17):
    model = ifan17[2]
    img = make_image(16, 16)
    with pytest.raises(TypeError, match="numpy"):
        model(img.tolist())
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        model(img[:, :, 0])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        model(np.concatenate([img, img[:, :, :1]], axis=2))
    with pytest.raises(TypeError, match="dtype"):
        model(img.astype(np.float64))
    with pytest.raises(TypeError, match="dtype"):
        model(img.astype(np.int32))
    # uint16 needs the 16-bit model; the 8-bit ones refuse it instead of requantising.
    with pytest.raises(TypeError, match="uint16"):
        model((img * 65535).astype(np.uint16))
    with pytest.raises(ValueError, match="IFAN_dual"):
        model(img, right=img, left=img)
    # The raw forward needs multiples of 8 and 3 channels.
    with pytest.raises(ValueError, match="multiples of 8"):
        model._core.forward(np.zeros((1, 3, 12, 16), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model._core.forward(np.zeros((1, 4, 16, 16), np.float32))


def test_bad_weights_are_refused(ifan17, tmp_path):
    _, path, _, _ = ifan17
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    # The metadata must agree with the shapes.
    bad = tmp_path / "bad_iterations.safetensors"
    save_file(tensors, str(bad), metadata={**meta, "iterations": "8"})
    with pytest.raises(ValueError, match="iterations"):
        deblurcore.IFAN(bad)
    # F.3 rows not a multiple of 896.
    t2 = dict(tensors)
    t2["F.3.weight"] = t2["F.3.weight"][:-1]
    t2["F.3.bias"] = t2["F.3.bias"][:-1]
    bad2 = tmp_path / "bad_head.safetensors"
    save_file(t2, str(bad2), metadata={k: v for k, v in meta.items() if k != "iterations"})
    with pytest.raises(ValueError, match="F.3.weight"):
        deblurcore.IFAN(bad2)
    # A missing key and an extra key.
    t3 = {k: v for k, v in tensors.items() if k != "DME.3.bias"}
    bad3 = tmp_path / "missing.safetensors"
    save_file(t3, str(bad3), metadata=meta)
    with pytest.raises(ValueError, match="DME.3.bias"):
        deblurcore.IFAN(bad3)
    t4 = dict(tensors, **{"reblurNet.RBF.3.bias": np.zeros(357, np.float32)})
    bad4 = tmp_path / "extra.safetensors"
    save_file(t4, str(bad4), metadata=meta)
    with pytest.raises(ValueError, match="reblurNet"):
        deblurcore.IFAN(bad4)
    # Weights of another architecture.
    bad5 = tmp_path / "arch.safetensors"
    save_file(tensors, str(bad5), metadata={**meta, "architecture": "aspdc"})
    with pytest.raises(ValueError):
        deblurcore.IFAN(bad5)
