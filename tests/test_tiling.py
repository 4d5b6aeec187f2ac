"""Tiled inference: the tile plan, the blend weights, equivalence with the untiled result.

Bounds and why:
- The blend weights of every pixel sum to 1 within 1e-6 (float32 weights normalised in
  float64), so an identity "network" comes back within 2e-7 of its input on [0, 1].
- A local filter of radius r (r box blurs of radius 1 with replicated borders) is wrong only
  within r pixels of a tile border, where the tile's weight is at most r / overlap (linear
  ramp): tiled - untiled <= (r / overlap) * (value range), and exact with no seam inside.
- Real networks (random weights in the official layout): a tile covering the whole image is
  the untiled computation (bitwise equal on float32 input); with seams, the result is the
  model's output on each aligned tile blended with the weights above (1e-6: float32 sums).
  How far tiled and untiled differ depends on the weights: random weights keep the whole
  theoretical receptive field (IFAN: several hundred pixels) influential, so no small-image
  bound holds for them; benchmarks/tiling.py measures the table.
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import tiling
from deblurcore.convert import write_random_weights
from tests.helpers.natural import natural_image


@pytest.mark.parametrize("length,tile,overlap,multiple", [
    (100, 32, 8, 8), (2160, 512, 32, 8), (3840, 512, 32, 4), (33, 32, 0, 16), (512, 512, 32, 8),
    (1000, 64, 31, 16), (17, 8, 0, 1),
])
def test_plan_is_aligned_covering_and_overlapping(length, tile, overlap, multiple):
    spans = tiling.plan(length, 8, tile, overlap, multiple)[0]
    assert spans[0][0] == 0 and spans[-1][1] == length
    for (s0, e0), (s1, _e1) in zip(spans, spans[1:]):
        assert s1 % multiple == 0
        assert e0 - s1 >= overlap  # overlap at least as asked
        assert s1 > s0
    for s, e in spans:
        assert e - s <= max(tile // multiple * multiple, multiple) + multiple - 1
    weights = tiling.weights_1d(spans, length)
    total = np.zeros(length)
    for (s, e), w in zip(spans, weights):
        assert np.all(w >= 0)
        total[s:e] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_identity_and_integer_round_trip():
    rng = np.random.default_rng(0)
    img = rng.random((70, 90, 3), dtype=np.float32)
    out = tiling.run_tiled(lambda x: x, [img], (32, 40), 8, 8)
    assert np.abs(out - img).max() <= 2e-7
    for dtype in (np.uint8, np.uint16):
        u = (img * np.iinfo(dtype).max).astype(dtype)
        assert np.array_equal(tiling.run_tiled(lambda x: x, [u], 24, 4, 4), u)


def _blur(x, r):
    for _ in range(r):
        p = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
        x = sum(p[i:i + x.shape[0], j:j + x.shape[1]] for i in range(3) for j in range(3)) / 9
    return x.astype(np.float32)


@pytest.mark.parametrize("overlap", [8, 16, 32])
def test_local_filter_error_is_bounded_by_radius_over_overlap(overlap):
    r = 3
    img = np.random.default_rng(1).random((96, 120, 3), dtype=np.float32)
    full = _blur(img, r)
    tiled = tiling.run_tiled(lambda x: _blur(x, r), [img], 64, overlap, 8)
    err = np.abs(tiled - full).max()
    assert err <= r / overlap * 1.0 + 1e-6
    assert err > 0  # the seams are really there: the bound is not vacuous


def test_errors_name_the_argument():
    img = np.zeros((64, 64, 3), np.float32)
    with pytest.raises(ValueError, match="tile_overlap"):
        tiling.run_tiled(lambda x: x, [img], 16, 16, 8)
    with pytest.raises(ValueError, match="tile_overlap"):
        tiling.run_tiled(lambda x: x, [img], 16, -1, 8)
    with pytest.raises(ValueError, match="tile"):
        tiling.run_tiled(lambda x: x, [img], 0, 4, 8)
    with pytest.raises(TypeError, match="tile"):
        tiling.run_tiled(lambda x: x, [img], "big", 4, 8)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiling")
    return {a: write_random_weights(d / f"{a}.safetensors", arch=a, seed=0)
            for a in ("ifan", "aspdc", "stfan")}


@pytest.mark.parametrize("arch", ["ifan", "aspdc"])
def test_one_tile_is_the_untiled_result(weights, arch):
    model = deblurcore.load_model(weights[arch], num_threads=2)
    img = natural_image(40, 56, seed=2)
    assert np.array_equal(model(img, tile=64), model(img))
    u8 = np.rint(img * 255).astype(np.uint8)
    # Integer input goes through float32 v/255 tile by tile: within one level of the untiled.
    assert np.abs(model(u8, tile=64).astype(int) - model(u8).astype(int)).max() <= 1


@pytest.mark.parametrize("arch", ["ifan", "aspdc"])
def test_tiled_model_is_the_blend_of_the_model_on_each_tile(weights, arch):
    """With seams, the result is exactly the model's output on each tile (aligned, cut from
    the image), blended with the published weights: no pixel is lost or shifted."""
    model = deblurcore.load_model(weights[arch], num_threads=2)
    img = natural_image(72, 100, seed=4)
    tiled = model(img, tile=48, tile_overlap=16)
    m = model._core.size_multiple
    rows, cols = tiling.plan(72, 100, 48, 16, m)
    expected = np.zeros_like(img)
    for (r0, r1), wr in zip(rows, tiling.weights_1d(rows, 72)):
        for (c0, c1), wc in zip(cols, tiling.weights_1d(cols, 100)):
            part = model(np.ascontiguousarray(img[r0:r1, c0:c1]))
            expected[r0:r1, c0:c1] += part * wr[:, None, None] * wc[None, :, None]
    assert len(rows) > 1 and len(cols) > 1
    np.testing.assert_allclose(tiled, np.clip(expected, 0, 1), rtol=0, atol=1e-6)


def test_stfan_refuses_tiles(weights):
    model = deblurcore.load_model(weights["stfan"], num_threads=2)
    with pytest.raises(ValueError, match="STFAN cannot be tiled"):
        model(np.zeros((16, 16, 3), np.uint8), tile=8)


def test_8bit_model_still_refuses_uint16_when_tiled(weights):
    model = deblurcore.load_model(weights["ifan"], num_threads=2)
    with pytest.raises(TypeError, match="uint16"):
        model(np.zeros((16, 16, 3), np.uint16), tile=8, tile_overlap=2)
    with pytest.raises(ValueError, match="NaN"):
        model(np.full((16, 16, 3), np.nan, np.float32), tile=8, tile_overlap=2)


@pytest.fixture(scope="module")
def analysis_synthesis(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("h5py")
    import tests.torch_models.analysis_synthesis as reference
    from deblurcore.convert import convert_checkpoint

    d = tmp_path_factory.mktemp("as_tiling")
    _, analysis, synthesis = reference.write_pair(d, seed=1)
    convert_checkpoint([analysis, synthesis], d / "as.safetensors")
    return deblurcore.AnalysisSynthesis(d / "as.safetensors", num_threads=2)


def test_analysis_synthesis_estimates_once_and_tiles_the_synthesis(analysis_synthesis):
    m = analysis_synthesis
    img = natural_image(200, 208, seed=5)
    kernel = m.estimate_kernel(img)
    # One tile over the whole image: the untiled synthesis with the same kernel.
    assert np.array_equal(m(img, kernel=kernel, tile=224), m(img, kernel=kernel))
    # Tiled without kernel=: the kernel of the whole image, not one per tile.
    tiled = m(img, tile=128, tile_overlap=16)
    assert np.array_equal(tiled, m(img, kernel=kernel, tile=128, tile_overlap=16))
    with pytest.raises(ValueError, match="max_input_size"):
        m(img, kernel=kernel, max_input_size=512, tile=128)
