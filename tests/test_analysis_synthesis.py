"""The Analysis-Synthesis pair end to end: official-layout Keras files with random weights ->
converter -> C++ model, against the float64 PyTorch re-implementation written from the spec
(tests/torch_models/analysis_synthesis.py, which reads the Keras arrays itself).

Tolerances (spec §8):
- Kernel: relative L1 <= 1e-4 against float64. Ours is float32 throughout, with the CC
  standardisation reduced in float64; the kernel is a normalised map of values ~1e-4 whose
  float32 rounding through ~20 conv layers and the FFT correlation stays near 1e-6 relative
  (measured ~6e-7). A one-pixel padding shift or a swapped layer moves it by >1e-2.
- Synthesis fed a fixed kernel: max abs <= 5e-3 on the 0..255 scale. The random network's raw
  output reaches ~1000 (float32 relative precision 6e-8, K = 1152 products per output, ~30
  convs in series): measured ~2e-3.
- Final uint8 image: the rounding of values within 5e-3 of a .5 boundary may differ by 1.

Sizes are small (the analysis needs >= 193 px per side): a 193x197 tensor (odd sizes at every
pyramid level), a 214x200 portrait image (padded 224x208: no known shape fits, so the
non-official whole-image fallback; level-3 correlation fields 10x8, smaller than the 13x13
window, so it wraps), and 40x56 images for the synthesis. The even/odd crop table of §6.2
(e.g. max_input_size=(354, 640): 354/177/89/45 rows) is tested as a pure function.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("h5py")

import torch_models.analysis_synthesis as R  # noqa: E402

import deblurcore  # noqa: E402
from deblurcore.convert import convert_checkpoint  # noqa: E402

KERNEL_REL_L1 = 1e-4
SYNTH_MAX_ABS = 5e-3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(2)
    d = tmp_path_factory.mktemp("as")
    w, pa, ps = R.write_pair(d, seed=1, style="bytes")
    convert_checkpoint([ps, pa], d / "as.safetensors")
    model = deblurcore.AnalysisSynthesis(d / "as.safetensors", num_threads=2)
    return model, w, d


def _image(h, w, seed, dtype=np.uint8):
    """A smooth scene with edges and noise, HxWx3, uint8 0..255 or float32 0..1."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin((xx - 2 * yy) / 7.0)], -1)
    img = 0.8 * img + 0.2 * ((xx // 23 + yy // 17) % 2)[..., None] + rng.normal(0, 0.03, img.shape)
    img = np.clip(img, 0, 1)
    if dtype == np.uint8:
        return np.rint(img * 255).astype(np.uint8)
    return img.astype(np.float32)


def _rel_l1(a, b):
    return float(np.abs(a - b).sum() / np.abs(b).sum())


def _line_kernel():
    k = np.zeros((85, 85), np.float32)
    k[42, 30:55] = 1.0
    k[40:45, 42] += 0.5
    return k / k.sum()


# --------------------------------------------------------------------------- crop selection

# Spec §6.2: (input W x H, padded H x W, crop h x w, offsets) and -amis 512.
CROP_TABLE = [
    ((720, 1280), None, (0, 104, 720, 1072)),
    ((1280, 720), None, (104, 0, 1072, 720)),
    ((1088, 1920), None, (178, 420, 732, 1080)),
    ((480, 640), None, (16, 8, 448, 624)),
    ((1024, 1024), None, (107, 41, 810, 942)),
    ((2160, 3840), None, (540, 1554, 1080, 732)),
    ((256, 272), None, (0, 8, 256, 256)),
    ((720, 1280), 512, (153, 328, 414, 624)),
    ((368, 640), (354, 640), (7, 0, 354, 640)),
]


@pytest.mark.parametrize("padded, amis, expected", CROP_TABLE)
def test_crop_table(padded, amis, expected):
    got = deblurcore.AnalysisSynthesis.analysis_crop(*padded, max_input_size=amis)
    assert got == (*expected, True)
    assert R.analysis_crop(*padded, amis) == expected


def test_crop_selection_matches_the_reference_everywhere():
    rng = np.random.default_rng(0)
    sizes = [(h, w) for h in range(240, 1300, 16) for w in range(240, 1300, 16)]
    for i in rng.choice(len(sizes), 400, replace=False):
        h, w = sizes[i]
        amis = [None, 512, (300, 700)][i % 3]
        ref = R.analysis_crop(h, w, amis)
        if ref is None:
            continue
        assert deblurcore.AnalysisSynthesis.analysis_crop(h, w, amis)[:4] == ref, (h, w, amis)


def test_crop_fallback_and_errors():
    # No known shape fits 224x208: the whole image, flagged non-official.
    assert deblurcore.AnalysisSynthesis.analysis_crop(224, 208) == (0, 0, 224, 208, False)
    with pytest.raises(ValueError, match="at least 193"):
        deblurcore.AnalysisSynthesis.analysis_crop(192, 400)
    with pytest.raises(ValueError, match="max_input_size"):
        deblurcore.AnalysisSynthesis.analysis_crop(240, 368, max_input_size=200)
    with pytest.raises(ValueError):
        deblurcore.AnalysisSynthesis.analysis_crop(240, 368, max_input_size=(0, 3))


# --------------------------------------------------------------------------- kernel


def test_kernel_odd_pyramid(setup):
    model, w, _ = setup
    img = _image(193, 197, seed=2).astype(np.float32)  # 193/97/49/25 x 197/99/50/25
    x = np.ascontiguousarray(img.transpose(2, 0, 1)[None])
    k = model.analysis(x)
    kr = R.analysis(torch.from_numpy(x.astype(np.float64)), w["analysis"]).numpy()
    assert k.shape == (1, 85, 85)
    assert abs(float(k.sum()) - 1.0) < 1e-5
    assert _rel_l1(k, kr) <= KERNEL_REL_L1


@pytest.fixture(scope="module")
def portrait(setup):
    """The 214x200 portrait image and the float64 reference pipeline on it."""
    model, w, _ = setup
    img = _image(214, 200, seed=3)
    out_ref, k_ref, raw_ref = R.deblur(img.astype(np.float64), w["analysis"], w["synthesis"])
    return img, out_ref, k_ref, model(img)


def test_kernel_fallback_wrap_portrait(setup, portrait):
    model, _, _ = setup
    img, _, k_ref, _ = portrait
    k = model.estimate_kernel(img)
    assert k.shape == (85, 85) and k.dtype == np.float32
    assert k.min() >= 0 and abs(float(k.sum()) - 1) < 1e-5
    assert _rel_l1(k, k_ref) <= KERNEL_REL_L1


def test_end_to_end(setup, portrait):
    model, _, _ = setup
    img, out_ref, _, out = portrait
    assert out.shape == img.shape and out.dtype == np.uint8
    expected = np.round(out_ref)  # np.round: half to even, as the official code
    diff = np.abs(out.astype(np.int32) - expected.astype(np.int32))
    assert diff.max() <= 1
    assert np.count_nonzero(diff) <= 0.001 * diff.size


# --------------------------------------------------------------------------- synthesis


def _padded_nchw(img):
    padded, _ = R.pad16(img.astype(np.float32))
    return np.ascontiguousarray(padded.transpose(2, 0, 1)[None])


def test_synthesis_fixed_kernel(setup):
    model, w, _ = setup
    k = _line_kernel()
    img = _image(40, 56, seed=4)  # padded 48x64: pads (4, 4) and (4, 4)
    x = _padded_nchw(img)
    raw = model.synthesis(x, k[None])
    raw_ref = R.synthesis(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(k[None].astype(np.float64)),
                          w["synthesis"]).numpy()
    assert np.abs(raw - raw_ref).max() <= SYNTH_MAX_ABS
    # Through the image API, float32 in [0, 1]: unpadded, clipped, back in [0, 1].
    imgf = img.astype(np.float32) / 255
    out = model(imgf, kernel=k)
    out_ref, _, _ = R.deblur(imgf.astype(np.float64) * 255, None, w["synthesis"], kernel=k)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.abs(out - out_ref / 255).max() <= SYNTH_MAX_ABS / 255 + 1e-6


def test_negative_controls(setup):
    """The comparisons above catch a swapped layer, a transposed kernel and a one-pixel 'same'
    padding shift: each perturbation of the reference moves the output far beyond the
    tolerance."""
    model, w, _ = setup
    k = _line_kernel()
    x = _padded_nchw(_image(32, 48, seed=5))
    ours = model.synthesis(x, k[None])
    xt, kt = torch.from_numpy(x.astype(np.float64)), torch.from_numpy(k[None].astype(np.float64))
    assert np.abs(ours - R.synthesis(xt, kt, w["synthesis"]).numpy()).max() <= SYNTH_MAX_ABS

    swapped = dict(w["synthesis"])
    swapped["E1.c1"], swapped["E1.c2"] = swapped["E1.c2"], swapped["E1.c1"]
    transposed = dict(w["synthesis"])
    kern, bias = transposed["E0.c1"]
    transposed["E0.c1"] = [np.ascontiguousarray(kern.transpose(1, 0, 2, 3)), bias]
    for name, ws, shift in (("swapped", swapped, False), ("transposed", transposed, False),
                            ("padding shift", w["synthesis"], True)):
        ref = R.synthesis(xt, kt, ws, torch_same_padding=shift).numpy()
        assert np.abs(ours - ref).max() > 100 * SYNTH_MAX_ABS, name


# --------------------------------------------------------------------------- API and CLI


def test_api_and_errors(setup):
    model, _, d = setup
    m = deblurcore.load_model(d / "as.safetensors", num_threads=2)
    assert isinstance(m, deblurcore.AnalysisSynthesis) and m.architecture == "analysis_synthesis"
    img = _image(40, 56, seed=6)
    with pytest.raises(ValueError, match="193"):
        model.estimate_kernel(img)
    with pytest.raises(ValueError, match="85"):
        model(img, kernel=np.zeros((5, 5), np.float32))
    with pytest.raises(TypeError):
        model(img.astype(np.uint16))
    with pytest.raises(ValueError):
        model(img[:4])
    with pytest.raises(TypeError, match="max_input_size"):
        model.estimate_kernel(img, max_input_size="big")


def test_cli_kernel_out(setup, portrait, tmp_path):
    from deblurcore import cli, media

    model, _, d = setup
    img = portrait[0]
    src = tmp_path / "in"
    src.mkdir()
    media.write_image(src / "a.png", img)
    out, kdir = tmp_path / "out", tmp_path / "kernels"
    argv = ["deblur", str(src), "-o", str(out), "-w", str(d / "as.safetensors"), "--threads", "2",
            "--kernel-out", str(kdir), "-q"]
    assert cli.main(argv) == 0
    np.testing.assert_array_equal(media.read_image(out / "a.png"), portrait[3])
    kimg = media.read_image(kdir / "a.png")
    assert kimg.shape == (85, 85, 3) and kimg.max() == 255
