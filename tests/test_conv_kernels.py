"""Fast CPU conv2d / conv_transpose2d kernels against the scalar reference kernel and PyTorch.

Every shape runs on every instruction set this CPU has (avx512, avx2, generic), so the
portable paths are covered on any machine.

Tolerance (elementwise, rigorous rather than tuned). An output is a sum of K = Cin*kh*kw
products plus the bias, accumulated by the fast kernel in float32 with FMA (one rounding per
term, in any blocking order), then up to three more roundings in the epilogue (+residual,
*slope, +residual). The classic bound for floating-point summation gives
    |fast - exact| <= gamma(K + 4) * (S + |residual|),   gamma(n) = n*u / (1 - n*u),
with u = 2**-24 and S = sum |w||x| + |bias| (computed here in float64 from |x| and |w|);
LeakyReLU's slope is <= 1 so the activation never amplifies the error. The reference kernel
accumulates in float64 and rounds once (error <= u*|y|, inside the same bound), so
|fast - reference| <= gamma(K + 5) * (S + |residual|); PyTorch is another float32 summation of
the same terms, so |fast - torch| <= 2 * gamma(K + 5) * (S + |residual|). The bound is not
loose enough to hide a wrong or missing tap: one term is on average S/K, larger than
gamma(K)*S whenever K*K < 1/u (K < 4096; the cases here have K <= 400).
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import pair, torch_epilogue

torch = pytest.importorskip("torch")
F = torch.nn.functional

U = 2.0**-24


def _isas():
    best = deblurcore._core.cpu_isa()
    order = ["generic", "avx2", "avx512"]
    return order[: order.index(best) + 1]


ISAS = _isas()
EPILOGUES = [
    # (activation, negative_slope, use residual, residual_before_activation)
    (None, 0.01, False, False),
    ("relu", 0.01, False, False),
    ("leaky_relu", 0.1, False, False),
    ("leaky_relu", 0.2, True, False),
    ("leaky_relu", 0.1, True, True),
    ("relu", 0.01, True, True),
    (None, 0.01, True, False),
]


def _gamma(n):
    return n * U / (1 - n * U)


def _check(ours, ref, tol, what):
    err = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    worst = np.unravel_index(np.argmax(err - tol), err.shape)
    assert np.all(err <= tol), (
        f"{what}: |diff| {err[worst]:.3g} > tolerance {tol[worst]:.3g} at {worst}"
    )


def _run_case(transposed, N, Cin, Cout, H, W, k, stride, padding, dilation, out_pad, epi, seed):
    rng = np.random.default_rng(seed)
    kh, kw = pair(k)
    act, slope, use_res, before = epi
    x = rng.standard_normal((N, Cin, H, W), dtype=np.float32)
    wshape = (Cin, Cout, kh, kw) if transposed else (Cout, Cin, kh, kw)
    w = rng.standard_normal(wshape, dtype=np.float32)
    b = rng.standard_normal(Cout, dtype=np.float32) if seed % 3 else None
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    bt = None if b is None else torch.from_numpy(b)
    if transposed:
        conv = lambda xx, ww, bb: F.conv_transpose2d(  # noqa: E731
            xx, ww, bb, stride, padding, out_pad, 1, dilation)
    else:
        conv = lambda xx, ww, bb: F.conv2d(xx, ww, bb, stride, padding, dilation)  # noqa: E731
    y_torch = conv(xt, wt, bt)
    res = rng.standard_normal(tuple(y_torch.shape), dtype=np.float32) if use_res else None
    rt = None if res is None else torch.from_numpy(res)
    y_torch = torch_epilogue(y_torch, act, slope, rt, before).numpy()
    s = conv(xt.abs().double(), wt.abs().double(), None if bt is None else bt.abs().double())
    s = s.numpy() + (0.0 if res is None else np.abs(res))
    K = Cin * kh * kw
    tol = _gamma(K + 5) * s

    kwargs = dict(activation=act, negative_slope=slope, residual=res,
                  residual_before_activation=before)
    if transposed:
        fn = lambda **opts: ops.conv_transpose2d(  # noqa: E731
            x, w, b, stride, padding, out_pad, dilation, **kwargs, **opts)
    else:
        fn = lambda **opts: ops.conv2d(x, w, b, stride, padding, dilation, **kwargs, **opts)  # noqa: E731
    y_ref = fn(reference=True)
    assert y_ref.shape == y_torch.shape
    for isa in ISAS:
        y = fn(isa=isa)
        assert y.shape == y_ref.shape and y.dtype == np.float32
        _check(y, y_ref, tol, f"{isa} vs reference")
        _check(y, y_torch, 2 * tol, f"{isa} vs torch")
    return fn


# (N, Cin, Cout, H, W, kernel, stride, padding, dilation)
CONV_CASES = [
    (1, 3, 32, 17, 23, 3, 1, 1, 1),       # first layer: few input channels
    (2, 5, 7, 9, 11, 3, 2, 1, 1),         # batch, stride 2, odd sizes
    (1, 16, 10, 1, 1, 1, 1, 0, 1),        # one pixel, 1x1
    (1, 4, 3, 1, 1, 3, 1, 1, 1),          # one pixel, only the centre tap inside
    (1, 9, 70, 13, 21, 5, 1, 2, 1),       # 5x5, Cout not a multiple of any register block
    (1, 6, 9, 15, 16, 7, 1, 3, 1),        # 7x7
    (1, 8, 12, 16, 19, 3, 1, 2, 2),       # dilation 2
    (1, 5, 6, 10, 12, (3, 5), (2, 1), (1, 2), (1, 2)),  # non-square everything
    (1, 4, 5, 6, 7, 3, 1, 4, 1),          # padding larger than the kernel radius
    (1, 200, 17, 9, 10, 1, 1, 0, 1),      # 1x1 with K split into several K blocks
    (1, 40, 33, 12, 12, 3, 1, 1, 1),      # 3x3 with K = 360: several K blocks
    (1, 33, 65, 7, 50, 1, 2, 0, 1),       # 1x1 stride 2
    (3, 2, 1, 5, 4, 2, 1, 0, 1),          # Cout 1, even kernel, batch 3
    (1, 8, 16, 30, 41, 3, 1, 1, 1),       # several pixel tiles and a partial last one
    (1, 8, 100, 4, 4, 3, 1, 1, 1),        # few pixels, many channels (channel chunks)
    (1, 1, 1, 1, 1, 1, 1, 0, 1),
    (2, 3, 4, 11, 9, 4, 2, 1, 1),         # 4x4 stride 2
    (1, 7, 5, 9, 9, 3, 3, 0, 3),          # stride 3, dilation 3
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d_shapes(case):
    N, Cin, Cout, H, W, k, s, p, d = CONV_CASES[case]
    _run_case(False, N, Cin, Cout, H, W, k, s, p, d, 0, EPILOGUES[case % len(EPILOGUES)], case)


# (N, Cin, Cout, H, W, kernel, stride, padding, output_padding, dilation)
TCONV_CASES = [
    (1, 16, 8, 9, 11, 4, 2, 1, 0, 1),     # the models' 4x4 / s2 / p1 upsampling
    (1, 40, 7, 5, 6, 4, 2, 1, 0, 1),      # 4 taps per phase, K = 160: several K blocks
    (2, 5, 9, 7, 8, 3, 2, 1, 1, 1),       # odd kernel: phases with 1, 2 taps
    (1, 6, 5, 9, 11, 3, 1, 1, 0, 1),      # stride 1: one dense phase
    (1, 6, 5, 4, 5, 1, 3, 0, 2, 1),       # 1x1 stride 3: most phases get only the bias
    (1, 4, 6, 6, 7, 5, 2, 2, 1, 2),       # dilation 2 with stride 2: odd phases empty
    (1, 4, 3, 5, 5, 3, 3, 0, 1, 2),       # stride 3, dilation 2
    (2, 3, 5, 1, 1, 3, 2, 0, 1, 1),       # one-pixel input
    (1, 5, 4, 6, 5, (3, 4), (2, 3), (1, 0), (1, 2), 1),  # non-square everything
    (1, 3, 2, 7, 6, 2, 1, 1, 0, 1),       # padding crops the output
    (1, 1, 1, 1, 1, 1, 1, 0, 0, 1),
]


@pytest.mark.parametrize("case", range(len(TCONV_CASES)))
def test_conv_transpose2d_shapes(case):
    N, Cin, Cout, H, W, k, s, p, op, d = TCONV_CASES[case]
    _run_case(True, N, Cin, Cout, H, W, k, s, p, d, op, EPILOGUES[case % len(EPILOGUES)],
              100 + case)


@pytest.mark.parametrize("epi", range(len(EPILOGUES)))
@pytest.mark.parametrize("transposed", [False, True])
def test_every_epilogue(epi, transposed):
    if transposed:
        _run_case(True, 1, 12, 19, 7, 9, 4, 2, 1, 1, 0, EPILOGUES[epi], 200 + epi)
    else:
        _run_case(False, 2, 12, 19, 9, 13, 3, 1, 1, 1, 0, EPILOGUES[epi], 300 + epi)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("before", [False, True])
def test_epilogue_is_bitwise_pytorch(isa, before):
    # A 1x1 convolution with the identity matrix computes x exactly, so the fused epilogue must
    # then match PyTorch's separate float32 ops bit for bit: LeakyReLU is v > 0 ? v : v*slope.
    rng = np.random.default_rng(7)
    C = 21
    x = rng.standard_normal((1, C, 5, 37), dtype=np.float32)
    w = np.eye(C, dtype=np.float32).reshape(C, C, 1, 1)
    b = rng.standard_normal(C, dtype=np.float32)
    res = rng.standard_normal(x.shape, dtype=np.float32)
    for act, slope in (("leaky_relu", 0.1), ("leaky_relu", 0.2), ("relu", 0.01)):
        y = ops.conv2d(x, w, b, activation=act, negative_slope=slope, residual=res,
                       residual_before_activation=before, isa=isa)
        t = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b))
        t = torch_epilogue(t, act, slope, torch.from_numpy(res), before).numpy()
        np.testing.assert_array_equal(y, t)


@pytest.mark.parametrize("transposed", [False, True])
def test_thread_count_does_not_change_results(transposed):
    # Each output is summed by one thread in a fixed order whatever the work split.
    rng = np.random.default_rng(11)
    if transposed:
        x = rng.standard_normal((1, 24, 13, 17), dtype=np.float32)
        w = rng.standard_normal((24, 16, 4, 4), dtype=np.float32)
        run = lambda t: ops.conv_transpose2d(x, w, None, 2, 1, num_threads=t)  # noqa: E731
    else:
        x = rng.standard_normal((2, 24, 29, 31), dtype=np.float32)
        w = rng.standard_normal((40, 24, 3, 3), dtype=np.float32)
        run = lambda t: ops.conv2d(x, w, None, 1, 1, num_threads=t)  # noqa: E731
    np.testing.assert_array_equal(run(1), run(2))
    np.testing.assert_array_equal(run(1), run(3))


def test_isa_argument_is_checked():
    x = np.zeros((1, 1, 3, 3), np.float32)
    w = np.zeros((1, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match="isa"):
        ops.conv2d(x, w, isa="sse9")
    with pytest.raises(ValueError, match="isa"):
        ops.conv_transpose2d(x, w, isa="neon")
