"""The CUDA backend (device='cuda') against the CPU reference kernels (reference=True).

Skipped where deblurcore.cuda_available() is False (a build without CUDA, or no GPU), except
for the test that checks the error raised on such machines. Each case has its own fixed random
seed (derived from its parameters).

Tolerances (each assertion states its own):
* Sums of products (conv2d, conv_transpose2d, fac, fac_backward's grad_x) are checked
  elementwise against  SUM_RTOL * S,  S being the sum of the absolute values of the terms of
  that output element (bias and residual included), computed by the reference kernel on |x|
  and |w|. The reference accumulates in double; the GPU in float32 with fmaf, in its own
  order. A float32 sum of n terms is off by at most about n * 2**-24 * S, in practice
  ~sqrt(n) * 2**-24 * S with random signs; the cases keep n <= 600, so the worst case is
  3.6e-5 * S and the typical one < 1.5e-6 * S: SUM_RTOL = 1e-5 has a wide margin in practice
  and still lies far below one average term S/n, so a missing or misplaced tap cannot hide.
* fac's forward sums its taps like the official kernel (from 0, ky outer, kx inner, fmaf), as
  the CPU FMA kernels do: with an FMA CPU kernel available the two must agree bit for bit.
* grad_kernel is one product per element: bit-exact (the reference's double product of two
  floats, rounded to float, is the float product).
* sigmoid and softmax use the GPU's expf (within 2 ulp) and a correctly rounded division:
  relative 2e-6 for sigmoid; 1e-6 absolute for softmax (outputs <= 1, C <= 64 terms summed).
* Selections and copies (relu, leaky_relu, add, pad, concat) must be bit-exact.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import assert_bitwise, assert_sum_close, case_rng, pair, randn

CUDA = deblurcore.cuda_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device (or a build without CUDA)")

SUM_RTOL = 1e-5
_assert_sum_close = partial(assert_sum_close, rtol=SUM_RTOL)
# The GPU returns its canonical NaN from arithmetic on NaN where x86 keeps the input's payload.
_assert_bitwise = partial(assert_bitwise, any_nan_matches=True)


# ---------------------------------------------------------------------------------------------
# Without a GPU: a clear error, no crash.

@pytest.mark.skipif(CUDA, reason="a CUDA device is present")
def test_cuda_request_without_device_raises():
    x = np.ones((1, 1, 2, 2), np.float32)
    with pytest.raises(RuntimeError, match="cuda"):
        ops.relu(x, device="cuda")
    with pytest.raises(RuntimeError, match="cuda"):
        ops.conv2d(x, np.ones((1, 1, 1, 1), np.float32), device="cuda")


# ---------------------------------------------------------------------------------------------
# conv2d / conv_transpose2d
#
# The GPU kernel computes 64 (output channels) x 64 (pixels) tiles over k = Cin*kh*kw in
# slices of 16: the cases cover partial tiles in each of the three dimensions, several tiles
# along each, and the index paths of stride, padding, dilation and (h, w) pairs.

# (N, Cin, H, W, Cout, kernel, stride, padding, dilation, bias)
CONV2D_CASES = [
    (1, 3, 17, 23, 5, 3, 1, 1, 1, True),             # k = 27: one partial k slice
    (2, 20, 9, 13, 70, 3, 1, 1, 1, True),            # two channel tiles, batch 2
    (1, 7, 16, 16, 130, 5, 2, 2, 1, False),          # three channel tiles, stride 2
    (1, 5, 19, 11, 9, 3, 1, 2, 2, True),             # dilation 2
    (3, 33, 6, 7, 64, 1, 1, 0, 1, True),             # 1x1, exactly one channel tile
    (1, 4, 8, 9, 8, (4, 2), 3, 0, 1, True),          # rectangular kernel, stride 3
    (1, 2, 1, 1, 3, 3, 1, 1, 1, True),               # one pixel
    (1, 64, 12, 12, 32, 3, 2, 1, 1, True),           # k = 576
    (2, 16, 40, 56, 96, 3, 1, 1, 1, True),           # many pixel tiles
    (1, 3, 10, 7, 4, (3, 5), (2, 1), (1, 2), (1, 2), True),  # (h, w) pairs everywhere
]

# (N, Cin, H, W, Cout, kernel, stride, padding, output_padding, dilation, bias)
CONVT_CASES = [
    (1, 6, 5, 7, 9, 4, 2, 1, 0, 1, True),            # STFAN-style 4x4 stride-2 upsampling
    (2, 20, 6, 5, 70, 4, 2, 1, 1, 1, True),          # output_padding, two channel tiles
    (1, 3, 4, 4, 5, 3, 1, 1, 0, 1, False),           # stride 1
    (1, 4, 5, 6, 3, 3, 3, 2, 2, 2, True),            # stride 3, dilation 2
    (1, 5, 3, 4, 66, 2, 2, 0, 0, 1, True),           # 2x2 stride 2
    (1, 32, 20, 24, 16, 4, 2, 1, 0, 1, True),        # many pixel tiles, k = 512
]

# (activation, negative_slope, residual, residual_before_activation)
EPILOGUES = [
    (None, 0.01, False, False),
    ("relu", 0.01, False, False),
    ("leaky_relu", 0.1, True, False),
    ("leaky_relu", 0.2, True, True),
    (None, 0.01, True, False),
]


def _check_conv(transposed, case, epilogue):
    if transposed:
        N, Cin, H, W, Cout, k, stride, padding, out_pad, dilation, has_bias = case
    else:
        N, Cin, H, W, Cout, k, stride, padding, dilation, has_bias = case
    activation, slope, has_res, before = epilogue
    rng = case_rng(transposed, case, epilogue)
    kh, kw = pair(k)
    x = randn(rng, (N, Cin, H, W))
    w = randn(rng, (Cin, Cout, kh, kw) if transposed else (Cout, Cin, kh, kw))
    b = randn(rng, (Cout,)) if has_bias else None

    def run(xx, ww, bb, res, device, reference, act=activation):
        kwargs = dict(activation=act, negative_slope=slope, residual=res,
                      residual_before_activation=before, device=device, reference=reference)
        if transposed:
            return ops.conv_transpose2d(xx, ww, bb, stride, padding, out_pad, dilation, **kwargs)
        return ops.conv2d(xx, ww, bb, stride, padding, dilation, **kwargs)

    shape = run(x, w, b, None, "cpu", True).shape
    res = randn(rng, shape) if has_res else None
    ref = run(x, w, b, res, "cpu", True)
    ours = run(x, w, b, res, "cuda", False)
    # S = sum |terms|: sum |w||x| + |bias| (+ |residual|). ReLU / LeakyReLU (slope <= 1) are
    # 1-Lipschitz and do not enlarge the error; the residual added after the activation adds
    # one rounding of the output, covered by the |residual| term and the margin.
    scale = run(np.abs(x), np.abs(w), None if b is None else np.abs(b), None, "cpu", True,
                act=None).astype(np.float64)
    if res is not None:
        scale = scale + np.abs(res)
    assert_sum_close(ours, ref, scale, f"{'conv_transpose2d' if transposed else 'conv2d'} "
                      f"{case} {epilogue}")


@needs_cuda
@pytest.mark.parametrize("case", CONV2D_CASES, ids=str)
def test_conv2d_cuda(case):
    _check_conv(False, case, EPILOGUES[0])


@needs_cuda
@pytest.mark.parametrize("epilogue", EPILOGUES[1:], ids=str)
@pytest.mark.parametrize("case", [CONV2D_CASES[1], CONV2D_CASES[3]], ids=str)
def test_conv2d_cuda_epilogue(case, epilogue):
    _check_conv(False, case, epilogue)


@needs_cuda
@pytest.mark.parametrize("case", CONVT_CASES, ids=str)
def test_conv_transpose2d_cuda(case):
    _check_conv(True, case, EPILOGUES[0])


@needs_cuda
@pytest.mark.parametrize("epilogue", EPILOGUES[1:], ids=str)
@pytest.mark.parametrize("case", [CONVT_CASES[0], CONVT_CASES[1]], ids=str)
def test_conv_transpose2d_cuda_epilogue(case, epilogue):
    _check_conv(True, case, epilogue)


# ---------------------------------------------------------------------------------------------
# fac / fac_backward

# (N, C, H, W, k): odd sizes, images smaller than the filter (every tap clamped), k = 1.
FAC_CASES = [
    (1, 3, 9, 11, 5),
    (2, 4, 16, 20, 5),
    (1, 2, 3, 4, 5),
    (1, 2, 1, 1, 5),
    (1, 1, 1, 6, 3),
    (1, 2, 2, 5, 7),
    (1, 3, 8, 8, 1),
    (1, 5, 37, 45, 3),
]


def _fac_inputs(case):
    N, C, H, W, k = case
    rng = case_rng("fac", case)
    x = randn(rng, (N, C, H, W))
    kernel = randn(rng, (N, C * k * k, H, W))
    g = randn(rng, (N, C, H, W))
    return x, kernel, g, k


@needs_cuda
@pytest.mark.parametrize("case", FAC_CASES, ids=str)
def test_fac_cuda(case):
    x, kernel, _, k = _fac_inputs(case)
    ours = ops.fac(x, kernel, k, device="cuda")
    ref = ops.fac(x, kernel, k, reference=True)
    scale = ops.fac(np.abs(x), np.abs(kernel), k, reference=True)
    assert_sum_close(ours, ref, scale, f"fac {case}")


@needs_cuda
@pytest.mark.skipif(deblurcore.cpu_isa() == "generic", reason="needs an FMA (AVX2) CPU kernel")
@pytest.mark.parametrize("case", FAC_CASES, ids=str)
def test_fac_cuda_official_order_bitwise(case):
    # Both kernels sum the taps from 0.0f, ky outer, kx inner, with one fmaf each. grad_x of
    # the pixels off the border (one padded position each) is summed in that order too; the
    # border pixels add several padded positions, in an order that differs between the two.
    x, kernel, g, k = _fac_inputs(case)
    assert_bitwise(ops.fac(x, kernel, k, device="cuda"), ops.fac(x, kernel, k, isa="avx2"),
                    f"fac {case}")
    gx, _ = ops.fac_backward(g, x, kernel, k, device="cuda")
    gx_cpu, _ = ops.fac_backward(g, x, kernel, k, isa="avx2")
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    assert_bitwise(gx[inner], gx_cpu[inner], f"fac_backward grad_x off the border {case}")


@needs_cuda
@pytest.mark.parametrize("case", FAC_CASES, ids=str)
def test_fac_backward_cuda(case):
    x, kernel, g, k = _fac_inputs(case)
    gx, gk = ops.fac_backward(g, x, kernel, k, device="cuda")
    gx_ref, gk_ref = ops.fac_backward(g, x, kernel, k, reference=True)
    assert_bitwise(gk, gk_ref, f"fac_backward grad_kernel {case}")
    # grad_x: S = sum over the same terms of |kernel| * |g|.
    scale, _ = ops.fac_backward(np.abs(g), np.abs(x), np.abs(kernel), k, reference=True)
    assert_sum_close(gx, gx_ref, scale, f"fac_backward grad_x {case}")


@needs_cuda
def test_fac_backward_cuda_is_deterministic():
    # grad_x is a gather (no atomics): repeated runs agree bit for bit.
    x, kernel, g, k = _fac_inputs((2, 4, 16, 20, 5))
    first = ops.fac_backward(g, x, kernel, k, device="cuda")
    second = ops.fac_backward(g, x, kernel, k, device="cuda")
    assert_bitwise(first[0], second[0], "grad_x")
    assert_bitwise(first[1], second[1], "grad_kernel")


# ---------------------------------------------------------------------------------------------
# elementwise and channel ops

# Sizes around the 256-thread blocks, an empty array and several ranks.
SHAPES = [(1,), (255,), (257,), (2, 3, 17, 19), (1, 64, 33, 35), (0, 3)]


def _values(case, shape):
    # Normal values plus the special ones every elementwise op must pass through unchanged
    # in kind: zeros of both signs, infinities and NaN.
    rng = case_rng(case, shape)
    v = randn(rng, shape) * 4
    flat = v.reshape(-1)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], np.float32)
    flat[: min(flat.size, specials.size)] = specials[: flat.size]
    return v


@needs_cuda
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_relu_leaky_relu_cuda(shape):
    x = _values("act", shape)
    assert_bitwise(ops.relu(x, device="cuda"), ops.relu(x, reference=True), "relu")
    for slope in (0.1, 0.01, 0.2):
        assert_bitwise(ops.leaky_relu(x, slope, device="cuda"),
                        ops.leaky_relu(x, slope, reference=True), f"leaky_relu {slope}")


@needs_cuda
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sigmoid_cuda(shape):
    x = _values("sigmoid", shape)
    ours, ref = ops.sigmoid(x, device="cuda"), ops.sigmoid(x, reference=True)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    # Relative 2e-6 (a few ulp: expf within 2 ulp, then 1 + e and a correctly rounded 1 / .).
    np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=0)


@needs_cuda
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_add_cuda(shape):
    a, b = _values("add-a", shape), _values("add-b", shape)
    assert_bitwise(ops.add(a, b, device="cuda"), ops.add(a, b, reference=True), "add")


@needs_cuda
@pytest.mark.parametrize("shape", [(2, 5, 3, 4), (1, 1, 2, 3), (1, 64, 1, 1), (3, 7, 1, 9),
                                   (1, 25, 30, 40)], ids=str)
def test_softmax_cuda(shape):
    x = randn(case_rng("softmax", shape), shape) * 5
    ours, ref = ops.softmax(x, device="cuda"), ops.softmax(x, reference=True)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    # Absolute 1e-6: outputs lie in [0, 1]; expf is within 2 ulp and the float32 sum of at
    # most 64 terms <= 1 each is within 64 * 2**-24 relative of the exact one.
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


# (shape, (left, right, top, bottom))
PAD_CASES = [
    ((2, 3, 5, 6), (2, 1, 3, 4)),
    ((1, 1, 4, 4), (3, 3, 3, 3)),
    ((1, 2, 1, 7), (0, 2, 0, 0)),
    ((1, 4, 33, 70), (2, 2, 2, 2)),
]


@needs_cuda
@pytest.mark.parametrize("mode", ["constant", "replicate", "reflect"])
@pytest.mark.parametrize("case", PAD_CASES, ids=str)
def test_pad_cuda(case, mode):
    shape, pads = case
    if mode == "reflect" and (max(pads[0], pads[1]) >= shape[3] or
                              max(pads[2], pads[3]) >= shape[2]):
        pytest.skip("reflect needs each pad smaller than its dimension")
    x = randn(case_rng("pad", case), shape)
    assert_bitwise(ops.pad(x, pads, mode, 0.5, device="cuda"),
                    ops.pad(x, pads, mode, 0.5, reference=True), f"pad {mode}")


@needs_cuda
@pytest.mark.parametrize("channels", [(3,), (1, 4), (2, 1, 5), (16, 3, 8, 1)], ids=str)
@pytest.mark.parametrize("N", [1, 3])
def test_concat_cuda(channels, N):
    rng = case_rng("concat", channels, N)
    xs = [randn(rng, (N, c, 7, 9)) for c in channels]
    assert_bitwise(ops.concat(xs, device="cuda"), ops.concat(xs, reference=True), "concat")


@needs_cuda
def test_ops_chain_on_cuda_stays_consistent():
    # Several ops in a row, each result copied back and fed to the next: every copy to the
    # host must see the finished kernel (the synchronisation point of the CUDA backend).
    rng = case_rng("chain")
    x = randn(rng, (1, 8, 24, 32))
    w = randn(rng, (8, 8, 3, 3))
    y_gpu, y_cpu = x, x
    for _ in range(4):
        y_gpu = ops.conv2d(y_gpu, w, padding=1, activation="leaky_relu", negative_slope=0.1,
                           device="cuda")
        y_cpu = ops.conv2d(y_cpu, w, padding=1, activation="leaky_relu", negative_slope=0.1,
                           reference=True)
        # Renormalise so that values stay O(1) and the tolerance below stays meaningful.
        s = np.float32(np.abs(y_cpu).max())
        y_gpu, y_cpu = (y_gpu / s).astype(np.float32), (y_cpu / s).astype(np.float32)
    # Four layers of k = 72 sums, each within ~1e-6 relative: 1e-4 of the O(1) values.
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=0, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Fourier and Analysis-Synthesis ops. Tolerances: cuFFT and our CPU FFT both have an error of
# O(log n) * 6e-8 relative to the norm of the output, so rfft2/irfft2 compare relative L2
# norms to 2e-6; cross_correlation values lie in [-1, 1] (unit-norm channels): 5e-6 absolute.
# standardize / normalize_l1 sum in double on both sides: 1e-6 relative. linear sums in
# float32 with fmaf: SUM_RTOL * S. rgb_to_grayscale (no FMA), crop and pad: bit-exact.

def _rel_l2(a, b):
    return np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b.astype(np.float64)), 1e-30)


@needs_cuda
@pytest.mark.parametrize("H,W", [(1, 1), (7, 13), (16, 25), (37, 74), (64, 63)])
def test_cuda_rfft2_irfft2(H, W):
    x = randn(case_rng("fft", H, W), (2, 3, H, W))
    X = ops.rfft2(x, device="cuda")
    Xr = ops.rfft2(x, reference=True)
    assert _rel_l2(X, Xr) <= 2e-6
    assert _rel_l2(ops.irfft2(Xr, W, device="cuda"), ops.irfft2(Xr, W, reference=True)) <= 2e-6


@needs_cuda
@pytest.mark.parametrize("shape,m", [((1, 3, 16, 20), 4), ((2, 4, 9, 11), 5), ((1, 32, 12, 14), 3)])
def test_cuda_cross_correlation(shape, m):
    x = randn(case_rng("cc", shape, m), shape)
    x[0, 1] = 2.0  # a constant channel
    got = ops.cross_correlation(x, m, device="cuda")
    ref = ops.cross_correlation(x, m, reference=True)
    assert np.abs(got - ref).max() <= 5e-6


@needs_cuda
def test_cuda_small_analysis_synthesis_ops():
    rng = case_rng("as-small")
    x = (rng.random((2, 3, 9, 13)) * 255).astype(np.float32)
    for fn in (lambda **k: ops.standardize(x, **k), lambda **k: ops.normalize_l1(x, **k)):
        ref = fn(reference=True)
        assert np.abs(fn(device="cuda") - ref).max() <= 1e-6 * np.abs(ref).max()
    assert_bitwise(ops.rgb_to_grayscale(x, device="cuda"), ops.rgb_to_grayscale(x, reference=True),
                    "rgb_to_grayscale")
    assert_bitwise(ops.crop(x, 1, 2, 5, 7, device="cuda"), x[:, :, 1:6, 2:9], "crop")
    assert_bitwise(ops.pad(x, (3, 5, 2, 9), "symmetric", device="cuda"),
                    ops.pad(x, (3, 5, 2, 9), "symmetric", reference=True), "pad symmetric")
    v = randn(rng, (2, 7225))
    w = randn(rng, (128, 7225))
    b = randn(rng, (128,))
    scale = np.abs(v).astype(np.float64) @ np.abs(w).astype(np.float64).T + np.abs(b)
    for act in (None, "relu"):
        assert_sum_close(ops.linear(v, w, b, activation=act, device="cuda"),
                          ops.linear(v, w, b, activation=act, reference=True), scale,
                          f"linear {act}", rtol=3e-5)
