"""The foundation ops of deblurcore.ops against PyTorch, at the API level.

Every numerical case runs the fast kernel and the scalar reference kernel (reference=True) and
compares both with PyTorch evaluated in float64, so the comparison measures our float32 error
alone. Each case has its own fixed random seed (derived from its parameters).

Tolerances (each assertion states its own):
* Sums of products (conv2d, conv_transpose2d, fac and its gradients) are checked elementwise
  against  1e-5 * S,  where S is the sum of the absolute values of the terms of that output
  element (computed in float64 from |x| and |w|). A float32 accumulation of n terms, in any
  order and with or without FMA, has an error of at most about n * 2**-24 * S; the cases here
  have n <= 400, which gives at most 2.4e-5 * S in the worst case and in practice
  ~sqrt(n) * 2**-24 * S < 2e-6 * S (random signs), well inside 1e-5 * S. The bound is far
  below one average term S/n, so a missing or misplaced tap cannot hide in it.
* Single roundings (a product, leaky_relu's x*slope) are compared as exact float32 results.
* Copies and selections (relu, add, concat, pad) must be bit-exact.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import (
    assert_bitwise,
    assert_sum_close,
    case_rng,
    pair,
    randn,
    torch_epilogue,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

# Relative tolerance of a float32 sum of products, with respect to the sum of the absolute
# values of its terms (see the module docstring).
SUM_RTOL = 1e-5
ISAS = {"avx512": ["generic", "avx2", "avx512"], "avx2": ["generic", "avx2"]}.get(
    deblurcore.cpu_isa(), ["generic"])
_assert_sum_close = partial(assert_sum_close, rtol=SUM_RTOL)


def _t64(a):
    return torch.from_numpy(np.asarray(a)).double()


# ---------------------------------------------------------------------------------------------
# conv2d

# (N, Cin, H, W, Cout, kernel, stride, padding, dilation, bias)
CONV2D_CASES = [
    (1, 3, 7, 9, 4, 3, 1, 1, 1, True),            # 3x3 'same', odd sizes
    (2, 5, 11, 6, 3, 1, 1, 0, 1, True),           # 1x1, batch 2
    (1, 4, 9, 10, 6, 5, 1, 2, 1, True),           # 5x5
    (1, 2, 13, 12, 3, 7, 1, 3, 1, False),         # 7x7, no bias
    (2, 3, 9, 8, 5, 3, 2, 1, 1, True),            # stride 2, odd input: ceil(H/2) rows
    (1, 3, 12, 11, 4, 3, 1, 2, 2, True),          # dilation 2
    (1, 3, 1, 1, 4, 3, 1, 1, 1, True),            # one-pixel image, only the centre tap
    (1, 3, 1, 1, 2, 1, 1, 0, 1, False),           # one pixel, 1x1
    (1, 3, 10, 7, 4, (3, 5), (2, 1), (1, 2), (1, 2), True),  # (h, w) pairs everywhere
    (1, 16, 6, 5, 8, 3, 2, 1, 1, True),           # more channels, stride 2
    (1, 3, 8, 8, 2, 3, 3, 0, 1, True),            # stride 3, no padding (ragged end)
    (1, 2, 4, 5, 1, (4, 5), 1, 0, 1, True),       # kernel as large as the input: 1x1 output
    (1, 2, 9, 9, 3, 1, 2, 0, 1, False),           # 1x1 stride 2 (subsampling)
    (2, 8, 5, 7, 3, 3, 1, 0, 1, True),            # 'valid' 3x3, batch 2
    (1, 1, 3, 2, 1, 3, 1, 3, 1, True),            # padding larger than the image
]


def _check_conv(transposed, case, reference, activation=None, slope=0.01, residual=None,
                before=False, isa=None):
    if transposed:
        N, Cin, H, W, Cout, k, stride, padding, out_pad, dilation, has_bias = case
    else:
        N, Cin, H, W, Cout, k, stride, padding, dilation, has_bias = case
        out_pad = 0
    rng = case_rng(transposed, case, activation, residual, before)
    kh, kw = pair(k)
    x = randn(rng, (N, Cin, H, W))
    w = randn(rng, (Cin, Cout, kh, kw) if transposed else (Cout, Cin, kh, kw))
    b = randn(rng, (Cout,)) if has_bias else None

    def torch_conv(xx, ww, bb):
        if transposed:
            return F.conv_transpose2d(xx, ww, bb, stride, padding, out_pad, 1, dilation)
        return F.conv2d(xx, ww, bb, stride, padding, dilation)

    bt = None if b is None else _t64(b)
    y = torch_conv(_t64(x), _t64(w), bt)
    res = None if residual is None else randn(rng, tuple(y.shape))
    y = torch_epilogue(y, activation, slope, None if res is None else _t64(res), before)
    # S = sum |terms| of each output: |bias| + sum |w||x| (+ |residual|). The activations are
    # 1-Lipschitz (slope <= 1), so they do not enlarge the error.
    scale = torch_conv(_t64(x).abs(), _t64(w).abs(), None if b is None else bt.abs()).numpy()
    if res is not None:
        scale = scale + np.abs(res)
    kwargs = dict(activation=activation, negative_slope=slope, residual=res,
                  residual_before_activation=before, reference=reference)
    if isa is not None:
        kwargs["isa"] = isa
    if transposed:
        ours = ops.conv_transpose2d(x, w, b, stride, padding, out_pad, dilation, **kwargs)
    else:
        ours = ops.conv2d(x, w, b, stride, padding, dilation, **kwargs)
    _assert_sum_close(ours, y.numpy(), scale, f"{'conv_transpose2d' if transposed else 'conv2d'}"
                      f" {case} reference={reference}")


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("case", CONV2D_CASES, ids=str)
def test_conv2d_matches_torch(case, reference):
    _check_conv(False, case, reference)


EPILOGUES = [
    # (activation, negative_slope, residual, residual_before_activation)
    ("leaky_relu", 0.1, None, False),
    ("relu", 0.01, None, False),
    (None, 0.01, "yes", False),
    ("leaky_relu", 0.1, "yes", False),   # act(conv) + residual
    ("leaky_relu", 0.1, "yes", True),    # act(conv + residual)
    ("relu", 0.01, "yes", True),
    ("relu", 0.01, "yes", False),
]


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("epilogue", EPILOGUES, ids=str)
@pytest.mark.parametrize("case", [CONV2D_CASES[0], CONV2D_CASES[4], CONV2D_CASES[6]], ids=str)
def test_conv2d_epilogue(case, epilogue, reference):
    act, slope, res, before = epilogue
    _check_conv(False, case, reference, act, slope, res, before)


@pytest.mark.parametrize("isa", ISAS)
def test_conv2d_every_isa(isa):
    _check_conv(False, CONV2D_CASES[2], False, "leaky_relu", 0.1, "yes", False, isa=isa)


# ---------------------------------------------------------------------------------------------
# conv_transpose2d

# (N, Cin, H, W, Cout, kernel, stride, padding, output_padding, dilation, bias)
CONVT_CASES = [
    (1, 4, 5, 6, 3, 4, 2, 1, 0, 1, True),         # STFAN's upconv: exactly 2H x 2W
    (2, 3, 4, 3, 2, 3, 2, 1, 1, 1, True),         # output_padding 1, batch 2
    (1, 2, 3, 5, 4, 3, 1, 1, 0, 1, False),        # stride 1, no bias
    (1, 3, 1, 1, 2, 4, 2, 1, 0, 1, True),         # one-pixel image
    (1, 2, 4, 4, 3, 3, 1, 0, 0, 2, True),         # dilation 2
    (1, 2, 4, 4, 3, 3, 1, 0, 1, 2, True),         # output_padding < dilation (stride 1)
    (1, 3, 3, 4, 2, (3, 5), (2, 1), (1, 2), (1, 0), (1, 1), True),  # (h, w) pairs
    (1, 5, 4, 4, 3, 1, 1, 0, 0, 1, True),         # 1x1
    (1, 2, 3, 3, 2, 5, 3, 2, 2, 1, False),        # stride 3, output_padding 2
    (1, 2, 5, 4, 2, 2, 3, 0, 0, 1, True),         # stride larger than the kernel: zero gaps
    (1, 7, 3, 5, 6, 7, 1, 3, 0, 1, True),         # 7x7
]


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("case", CONVT_CASES, ids=str)
def test_conv_transpose2d_matches_torch(case, reference):
    _check_conv(True, case, reference)


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("epilogue", EPILOGUES, ids=str)
@pytest.mark.parametrize("case", [CONVT_CASES[0], CONVT_CASES[1]], ids=str)
def test_conv_transpose2d_epilogue(case, epilogue, reference):
    act, slope, res, before = epilogue
    _check_conv(True, case, reference, act, slope, res, before)


@pytest.mark.parametrize("isa", ISAS)
def test_conv_transpose2d_every_isa(isa):
    _check_conv(True, CONVT_CASES[0], False, "leaky_relu", 0.1, "yes", True, isa=isa)


# ---------------------------------------------------------------------------------------------
# Elementwise and channel ops

SHAPES = [(2, 3, 5, 7), (1, 1, 1, 1), (40_000,), (3, 0), (2, 9, 33)]
REF = pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])


def _special_values(rng, shape):
    """Random normals scaled up, with +-0, +-inf and large values mixed in when there is room."""
    x = randn(rng, shape) * 4
    flat = x.reshape(-1)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 1e30, -1e30, 88.0, -88.0, -104.0],
                        np.float32)
    if flat.size >= specials.size:
        flat[: specials.size] = specials
    return x


@REF
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_relu(shape, reference):
    x = _special_values(case_rng("relu", shape), shape)
    # A selection: bit-exact, including +0 (not -0) for negative inputs and 0 for -inf.
    assert_bitwise(ops.relu(x, reference=reference), F.relu(torch.from_numpy(x)).numpy(),
                    "relu")


@REF
@pytest.mark.parametrize("slope", [0.1, 0.01, 0.2])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_leaky_relu(shape, slope, reference):
    x = _special_values(case_rng("leaky_relu", shape, slope), shape)
    # x or one float32 product x*slope, rounded once: bit-exact.
    ref = F.leaky_relu(torch.from_numpy(x), slope).numpy()
    assert_bitwise(ops.leaky_relu(x, slope, reference=reference), ref, "leaky_relu")


@REF
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sigmoid(shape, reference):
    x = _special_values(case_rng("sigmoid", shape), shape)
    ours = ops.sigmoid(x, reference=reference)
    ref = torch.sigmoid(_t64(x)).numpy()
    # 1 / (1 + exp(-x)) in float32: the C library's expf (within 2 units of roundoff u =
    # 2**-24), one addition and one division (u each) give a relative error <= 4u; plus 1e-44
    # absolute for results that underflow into the subnormal range (spacing 1.4e-45).
    assert ours.shape == ref.shape and ours.dtype == np.float32
    err = np.abs(ours.astype(np.float64) - ref)
    assert np.all(err <= 4 * 2.0**-24 * np.abs(ref) + 1e-44), err.max()


@REF
@pytest.mark.parametrize("shape", [(2, 5, 3, 4), (1, 1, 2, 3), (1, 64, 1, 1), (3, 7, 1, 9)],
                         ids=str)
def test_softmax(shape, reference):
    x = randn(case_rng("softmax", shape), shape) * 5
    x[0, 0, 0, 0] = 60.0  # large logits must not overflow (max subtracted first)
    ours = ops.softmax(x, 1, reference=reference)
    ref = torch.softmax(_t64(x), 1).numpy()
    # exp(x - max), a float32 sum of C <= 64 positive terms and one division: relative error
    # <= (C + 4) * 2**-24 < 1e-5 of each element (no term underflows: x - max > -87).
    assert ours.shape == ref.shape and ours.dtype == np.float32
    err = np.abs(ours.astype(np.float64) - ref)
    assert np.all(err <= 1e-5 * ref), (err / ref).max()
    # dim=-3 is the same dimension as dim=1.
    assert_bitwise(ops.softmax(x, -3, reference=reference), ours, "softmax dim=-3")


@REF
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_add(shape, reference):
    rng = case_rng("add", shape)
    a, b = _special_values(rng, shape), randn(rng, shape)
    # One float32 addition, rounded once as torch does: bit-exact.
    assert_bitwise(ops.add(a, b, reference=reference),
                    (torch.from_numpy(a) + torch.from_numpy(b)).numpy(), "add")


@REF
@pytest.mark.parametrize("channels", [(3,), (1, 4), (2, 1, 5), (16, 3, 8, 1)], ids=str)
@pytest.mark.parametrize("N", [1, 2])
def test_concat(channels, N, reference):
    rng = case_rng("concat", channels, N)
    xs = [randn(rng, (N, c, 3, 5)) for c in channels]
    ref = torch.cat([torch.from_numpy(x) for x in xs], 1).numpy()
    assert_bitwise(ops.concat(xs, 1, reference=reference), ref, "concat")  # a copy
    assert_bitwise(ops.concat(tuple(xs), -3, reference=reference), ref, "concat dim=-3")


PAD_CASES = [
    # (shape, pad, mode, value)
    ((1, 2, 4, 5), (1, 2, 3, 0), "constant", 0.0),
    ((2, 3, 3, 3), (2, 1, 1, 2), "constant", -1.5),
    ((1, 1, 4, 6), (2, 3), "constant", 7.0),          # 2-tuple: left/right only
    ((1, 2, 4, 5), (0, 0, 0, 0), "constant", 1.0),    # no padding
    ((2, 2, 3, 4), (3, 2, 4, 1), "replicate", 0.0),   # pads larger than the image
    ((1, 3, 1, 1), (2, 2, 2, 2), "replicate", 0.0),   # one pixel
    ((1, 2, 5, 3), (1, 0), "replicate", 0.0),
    ((1, 2, 4, 5), (3, 4, 2, 3), "reflect", 0.0),     # the largest pads reflect allows
    ((2, 3, 6, 7), (1, 1, 1, 1), "reflect", 0.0),
    ((1, 1, 2, 4), (2, 1), "reflect", 0.0),
]


@REF
@pytest.mark.parametrize("case", PAD_CASES, ids=str)
def test_pad(case, reference):
    shape, pad, mode, value = case
    x = randn(case_rng("pad", case), shape)
    kwargs = {"value": value} if mode == "constant" else {}
    # torch takes a 2-tuple on 4-D input only in 'constant' mode; ours means (l, r, 0, 0).
    ref = F.pad(torch.from_numpy(x), tuple(pad) + (0, 0) * (len(pad) == 2), mode=mode,
                **kwargs).numpy()
    assert_bitwise(ops.pad(x, pad, mode, value, reference=reference), ref, f"pad {case}")


# ---------------------------------------------------------------------------------------------
# fac (filter adaptive convolution) and its backward


def _torch_fac(x, kernel, k):
    """Replicate pad, unfold, multiply by the per-pixel filters, sum: the definition."""
    N, C, H, W = x.shape
    r = (k - 1) // 2
    cols = F.unfold(F.pad(x, (r, r, r, r), mode="replicate"), k)  # (N, C*k*k, H*W)
    return (cols.view(N, C, k * k, H, W) * kernel.view(N, C, k * k, H, W)).sum(2)


def _fac_data(case):
    N, C, H, W, k = case
    rng = case_rng("fac", case)
    return (randn(rng, (N, C, H, W)), randn(rng, (N, C * k * k, H, W)),
            randn(rng, (N, C, H, W)))


# (N, C, H, W, k)
FAC_CASES = [
    (1, 3, 7, 9, 5),       # STFAN's k=5, odd sizes
    (2, 2, 6, 5, 5),       # batch 2
    (1, 2, 5, 8, 3),
    (1, 2, 9, 11, 7),
    (2, 3, 4, 6, 1),       # k=1: a per-pixel product
    (1, 2, 1, 1, 5),       # one pixel: every tap is the pixel itself
    (2, 1, 1, 1, 7),
    (1, 2, 1, 9, 5),       # one row
    (1, 1, 8, 1, 3),       # one column
    (1, 2, 2, 3, 7),       # image smaller than the radius
    (1, 1, 3, 40, 5),      # a row longer than one vector
    (1, 1, 4, 5, 5),       # exactly one column reads every tap unclamped
    (1, 1, 9, 7, 5),       # one plane: split into row blocks so that every thread has work
    (1, 1, 5, 13, 9),      # a size without a specialised path
    (1, 1, 200, 340, 3),   # a plane larger than one row block
]


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("case", FAC_CASES, ids=str)
def test_fac_matches_torch(case, reference):
    k = case[-1]
    x, kernel, _ = _fac_data(case)
    ref = _torch_fac(_t64(x), _t64(kernel), k).numpy()
    # S = sum over the k*k taps of |x||kernel|; k*k <= 49 float32 products and additions.
    scale = _torch_fac(_t64(x).abs(), _t64(kernel).abs(), k).numpy()
    _assert_sum_close(ops.fac(x, kernel, k, reference=reference), ref, scale,
                      f"fac {case} reference={reference}")


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("case", FAC_CASES, ids=str)
def test_fac_backward_matches_autograd(case, reference):
    k = case[-1]
    x, kernel, g = _fac_data(case)
    xt, kt = _t64(x).requires_grad_(), _t64(kernel).requires_grad_()
    _torch_fac(xt, kt, k).backward(_t64(g))
    # The same autograd on |kernel| and |g| gives, per element, the sum of |terms| of grad_x.
    xa, ka = _t64(x).requires_grad_(), _t64(kernel).abs().requires_grad_()
    _torch_fac(xa, ka, k).backward(_t64(g).abs())
    gx, gk = ops.fac_backward(g, x, kernel, k, reference=reference)
    what = f"fac_backward {case} reference={reference}"
    # grad_x: a float32 sum of at most ((r+1)(r+2)/2)**2 = 100 terms (a corner pixel, k = 7,
    # which also collects the replicated border): within 1e-5 of the sum of |terms|.
    _assert_sum_close(gx, xt.grad.numpy(), xa.grad.numpy(), what + " grad_x")
    # grad_kernel: one float32 product x*g per element, correctly rounded: within 2**-24 of
    # the exact value (relative), and bit-exact to the same product done by torch in float32.
    _assert_sum_close(gk, kt.grad.numpy(), np.abs(kt.grad.numpy()), what + " grad_kernel",
                      rtol=2.0**-24)
    assert_bitwise(gk, _torch_fac_grad_kernel(x, g, k).numpy(), what + " grad_kernel")


def _torch_fac_grad_kernel(x, g, k):
    """x[clamp(y+ky-r), clamp(x+kx-r)] * g[y, x] as one float32 product per element."""
    N, C, H, W = x.shape
    r = (k - 1) // 2
    cols = F.unfold(F.pad(torch.from_numpy(x), (r, r, r, r), mode="replicate"), k)
    return (cols.view(N, C, k * k, H, W) * torch.from_numpy(g).view(N, C, 1, H, W)).view(
        N, C * k * k, H, W)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("case", [FAC_CASES[0], FAC_CASES[3], FAC_CASES[5], FAC_CASES[10]],
                         ids=str)
def test_fac_every_isa(case, isa):
    """The generic, AVX2 and AVX-512 builds agree with the reference kernel (within the sum
    tolerance: the FMA builds round once per tap, the generic one twice)."""
    k = case[-1]
    x, kernel, g = _fac_data(case)
    scale = _torch_fac(_t64(x).abs(), _t64(kernel).abs(), k).numpy()
    _assert_sum_close(ops.fac(x, kernel, k, isa=isa), ops.fac(x, kernel, k, reference=True),
                      scale, f"fac {case} isa={isa}")
    gx, gk = ops.fac_backward(g, x, kernel, k, isa=isa)
    gx_ref, gk_ref = ops.fac_backward(g, x, kernel, k, reference=True)
    xa, ka = _t64(x).requires_grad_(), _t64(kernel).abs().requires_grad_()
    _torch_fac(xa, ka, k).backward(_t64(g).abs())
    _assert_sum_close(gx, gx_ref, xa.grad.numpy(), f"fac_backward {case} isa={isa} grad_x")
    assert_bitwise(gk, gk_ref, f"fac_backward {case} isa={isa} grad_kernel")


def test_fac_fma_matches_cuda_order():
    """The FMA builds reproduce the official CUDA kernel's arithmetic bit for bit:
    acc = 0; for ky: for kx: acc = fmaf(xp, kernel, acc), in float32.

    fmaf is emulated in float64: the product of two float32 is exact in float64, the sum
    s = p + acc is rounded once to float64, then to float32. That double rounding equals the
    single rounding of the exact sum unless the float64 result falls exactly on a midpoint
    between two float32 (midpoints are float64 numbers, so rounding to float64 cannot cross
    one); the test asserts this never happens for an inexact sum, so the emulation is exact."""
    if deblurcore.cpu_isa() == "generic":
        pytest.skip("no FMA build on this CPU")
    case = (1, 2, 6, 7, 5)
    N, C, H, W, k = case
    x, kernel, _ = _fac_data(case)
    r = (k - 1) // 2
    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)), mode="edge")
    kv = kernel.reshape(N, C, k * k, H, W)
    acc = np.zeros((N, C, H, W), np.float32)
    for ky in range(k):
        for kx in range(k):
            p = xp[:, :, ky:ky + H, kx:kx + W].astype(np.float64) * kv[:, :, ky * k + kx]
            a = acc.astype(np.float64)
            s = p + a
            bb = s - p
            inexact = (p - (s - bb)) + (a - bb) != 0  # TwoSum: the rounding error of p + a
            new = s.astype(np.float32)
            up = np.nextafter(new, np.where(s > new, np.inf, -np.inf).astype(np.float32))
            midpoint = s == (new.astype(np.float64) + up.astype(np.float64)) / 2
            assert not np.any(inexact & midpoint), "emulation would double-round"
            acc = new
    for isa in [i for i in ISAS if i != "generic"] + [None]:
        assert_bitwise(ops.fac(x, kernel, k, isa=isa), acc, f"fac isa={isa} vs fmaf order")


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_fac_is_deterministic_across_threads(threads):
    """Each pixel is summed in the same order whatever the split across threads."""
    case = (2, 3, 11, 13, 5)
    x, kernel, g = _fac_data(case)
    assert_bitwise(ops.fac(x, kernel, 5, num_threads=threads),
                    ops.fac(x, kernel, 5, num_threads=1), "fac")
    gx, gk = ops.fac_backward(g, x, kernel, 5, num_threads=threads)
    gx1, gk1 = ops.fac_backward(g, x, kernel, 5, num_threads=1)
    assert_bitwise(gx, gx1, "grad_x")
    assert_bitwise(gk, gk1, "grad_kernel")


def _fac_np64(x, kernel, k):
    """FAC in float64 numpy, written independently of torch: replicate pad, then the taps."""
    N, C, H, W = x.shape
    r = (k - 1) // 2
    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)), mode="edge")
    kv = kernel.reshape(N, C, k * k, H, W)
    out = np.zeros((N, C, H, W))
    for ky in range(k):
        for kx in range(k):
            out += xp[:, :, ky:ky + H, kx:kx + W] * kv[:, :, ky * k + kx]
    return out


@pytest.mark.parametrize("case", [(1, 2, 4, 3, 3), (2, 1, 3, 4, 5), (1, 1, 2, 2, 3)], ids=str)
def test_fac_backward_finite_differences(case):
    """Gradient of the random linear functional L = sum(w * fac(x, kernel)) by central
    differences in float64, for every element of x and of the kernel."""
    N, C, H, W, k = case
    rng = case_rng("fac-fd", case)
    x = rng.standard_normal((N, C, H, W))
    kernel = rng.standard_normal((N, C * k * k, H, W))
    w = rng.standard_normal((N, C, H, W))
    gx, gk = ops.fac_backward(w.astype(np.float32), x.astype(np.float32),
                              kernel.astype(np.float32), k)

    def loss(xx, kk):
        return float(np.sum(w * _fac_np64(xx, kk, k)))

    h = 1e-3
    num_gx = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        num_gx[i] = (loss(x + e, kernel) - loss(x - e, kernel)) / (2 * h)
    num_gk = np.zeros_like(kernel)
    for i in np.ndindex(kernel.shape):
        e = np.zeros_like(kernel)
        e[i] = h
        num_gk[i] = (loss(x, kernel + e) - loss(x, kernel - e)) / (2 * h)
    # L is linear in x and in the kernel separately, so central differences are exact up to
    # float64 round-off (~1e-16 * |L| / h ~ 1e-12). Our gradients are float32: the inputs
    # are rounded to float32 first (relative 2**-24 per term) and grad_x sums up to ~100
    # terms, so both stay within 1e-5 of the sum of |terms| (|w| * |kernel| or |w| * |x|
    # summed the same way, computed by the float64 reference on absolute values).
    xa, ka = _t64(np.abs(x)).requires_grad_(), _t64(np.abs(kernel)).requires_grad_()
    _torch_fac(xa, ka, k).backward(_t64(np.abs(w)))
    # (+1e-7 in the scale: 1e-12 absolute headroom for the round-off of the differences.)
    _assert_sum_close(gx, num_gx, xa.grad.numpy() + 1e-7, f"grad_x {case}")
    _assert_sum_close(gk, num_gk, ka.grad.numpy() + 1e-7, f"grad_kernel {case}")


# ---------------------------------------------------------------------------------------------
# Non-contiguous input


def test_non_contiguous_input_is_copied():
    rng = case_rng("noncontig")
    base = randn(rng, (2, 3, 7, 6))
    base_before = base.copy()
    x = base.transpose(0, 1, 3, 2)          # (2, 3, 6, 7), a transposed view
    assert not x.flags.c_contiguous
    xc = np.ascontiguousarray(x)
    wbase = randn(rng, (3, 4, 3, 3))
    w = wbase.transpose(1, 0, 3, 2)         # (4, 3, 3, 3)
    wc = np.ascontiguousarray(w)
    assert_bitwise(ops.conv2d(x, w, padding=1), ops.conv2d(xc, wc, padding=1), "conv2d")
    assert_bitwise(ops.conv_transpose2d(x, wbase, stride=2),
                    ops.conv_transpose2d(xc, np.ascontiguousarray(wbase), stride=2),
                    "conv_transpose2d")
    kernel = randn(rng, (2, 27, 7, 6)).transpose(0, 1, 3, 2)
    assert_bitwise(ops.fac(x, kernel, 3), ops.fac(xc, np.ascontiguousarray(kernel), 3), "fac")
    gx, gk = ops.fac_backward(x[:, :, ::-1], x, kernel, 3)  # negative strides too
    gx2, gk2 = ops.fac_backward(np.ascontiguousarray(x[:, :, ::-1]), xc,
                                np.ascontiguousarray(kernel), 3)
    assert_bitwise(gx, gx2, "fac_backward grad_x")
    assert_bitwise(gk, gk2, "fac_backward grad_kernel")
    assert_bitwise(ops.relu(x), ops.relu(xc), "relu")
    assert_bitwise(ops.softmax(x), ops.softmax(xc), "softmax")
    assert_bitwise(ops.add(x, x[:, :, ::-1]), ops.add(xc, np.ascontiguousarray(x[:, :, ::-1])),
                    "add")
    assert_bitwise(ops.concat([x, x[:, 1:]]), ops.concat([xc, np.ascontiguousarray(xc[:, 1:])]),
                    "concat")
    assert_bitwise(ops.pad(x, (1, 2, 2, 1), "reflect"), ops.pad(xc, (1, 2, 2, 1), "reflect"),
                    "pad")
    # The caller's arrays are never modified.
    assert_bitwise(base, base_before, "input after the calls")


# ---------------------------------------------------------------------------------------------
# Bad input: a clear exception that names the argument

X = np.zeros((1, 2, 5, 5), np.float32)
W3 = np.zeros((3, 2, 3, 3), np.float32)
K5 = np.zeros((1, 2 * 25, 5, 5), np.float32)


def _conv(**kw):
    args = dict(x=X, weight=W3)
    args.update(kw)
    return lambda: ops.conv2d(**args)


def _convt(**kw):
    args = dict(x=X, weight=np.zeros((2, 3, 4, 4), np.float32), stride=2, padding=1)
    args.update(kw)
    return lambda: ops.conv_transpose2d(**args)


def _fac(**kw):
    args = dict(x=X, kernel=K5, kernel_size=5)
    args.update(kw)
    return lambda: ops.fac(**args)


def _fac_backward(**kw):
    args = dict(grad_out=X, x=X, kernel=K5, kernel_size=5)
    args.update(kw)
    return lambda: ops.fac_backward(**args)


BAD_INPUTS = [
    # (call, exception, a regular expression the message must match)
    # wrong dtype / not an array
    (_conv(x=X.astype(np.float64)), TypeError, r"x must have dtype float32, got float64"),
    (_conv(x=X.astype(np.int32)), TypeError, r"x must have dtype float32"),
    (_conv(weight=W3.astype(np.float16)), TypeError, r"weight must have dtype float32"),
    (_conv(x=X.tolist()), TypeError, r"x must be a numpy.ndarray"),
    (_conv(x=None), TypeError, r"x must be a numpy.ndarray"),
    (_conv(bias=[0.0, 0.0, 0.0]), TypeError, r"bias must be a numpy.ndarray"),
    (_fac(kernel=K5.astype(np.float64)), TypeError, r"kernel must have dtype float32"),
    (_fac(x=None), TypeError, r"x must be a numpy.ndarray"),
    (_fac_backward(grad_out=X.astype(np.float64)), TypeError, r"grad_out must have dtype"),
    (lambda: ops.relu(X.astype(np.float64)), TypeError, r"x must have dtype float32"),
    (lambda: ops.sigmoid([1.0]), TypeError, r"x must be a numpy.ndarray"),
    (lambda: ops.add(X, X.astype(np.int64)), TypeError, r"b must have dtype float32"),
    (lambda: ops.concat([X, X.astype(np.float64)]), TypeError, r"tensors\[1\] must have dtype"),
    (lambda: ops.concat(X), TypeError, r"tensors must be a list or tuple"),
    (lambda: ops.pad(X.astype(np.float64), (1, 1)), TypeError, r"x must have dtype float32"),
    (lambda: ops.pad(X, 1), TypeError, r"pad must be a sequence"),
    (_fac(kernel_size=5.0), TypeError, r"kernel_size must be an int"),
    (_conv(stride=1.5), TypeError, r"stride must be an int or a pair"),
    (_conv(padding=(1, 1, 1)), TypeError, r"padding must be an int or a pair"),
    # wrong ndim
    (_conv(x=X[0]), ValueError, r"x must be 4-D"),
    (_conv(weight=W3[0]), ValueError, r"weight must be 4-D"),
    (_conv(bias=np.zeros((3, 1), np.float32)), ValueError, r"bias must be 1-D"),
    (_fac(kernel=K5[0]), ValueError, r"kernel must be 4-D"),
    (_fac_backward(grad_out=X[0]), ValueError, r"grad_out must be 4-D"),
    (lambda: ops.softmax(X[0]), ValueError, r"x must be 4-D"),
    (lambda: ops.pad(X[0], (1, 1)), ValueError, r"x must be 4-D"),
    (lambda: ops.concat([X, X[0]]), ValueError, r"tensors\[1\] must be 4-D"),
    # empty dimensions
    (_conv(x=np.zeros((0, 2, 5, 5), np.float32)), ValueError, r"x must have no empty dim"),
    (_fac(x=np.zeros((1, 2, 0, 5), np.float32)), ValueError, r"x must have no empty dim"),
    # mismatched channels and shapes
    (_conv(weight=np.zeros((3, 4, 3, 3), np.float32)), ValueError,
     r"conv2d: weight has 4 input channels .* x has 2 channels"),
    (_conv(bias=np.zeros(4, np.float32)), ValueError, r"conv2d: bias must have shape \(3,\)"),
    (_convt(weight=np.zeros((3, 2, 4, 4), np.float32)), ValueError,
     r"conv_transpose2d: weight has 3 input channels"),
    (_convt(bias=np.zeros(2, np.float32)), ValueError, r"conv_transpose2d: bias must have shape"),
    (_fac(kernel=np.zeros((1, 2 * 9, 5, 5), np.float32)), ValueError,
     r"fac: kernel must have C\*k\*k = 2\*25 = 50 channels"),
    (_fac(kernel=np.zeros((1, 50, 5, 4), np.float32)), ValueError,
     r"fac: kernel must have the spatial size of x"),
    (_fac(kernel=np.zeros((2, 50, 5, 5), np.float32)), ValueError,
     r"fac: kernel has batch 2 but x has batch 1"),
    (_fac_backward(grad_out=np.zeros((1, 2, 5, 4), np.float32)), ValueError,
     r"fac_backward: grad_out must have the shape of x"),
    (_fac_backward(kernel=np.zeros((1, 49, 5, 5), np.float32)), ValueError,
     r"fac_backward: kernel must have C\*k\*k"),
    (lambda: ops.add(X, X[:, :1]), ValueError, r"add: b must have the shape of a"),
    (lambda: ops.concat([X, X[:, :, :4]]), ValueError, r"concat: tensors\[1\] has shape"),
    (lambda: ops.concat([]), ValueError, r"concat: tensors must not be empty"),
    # sizes that give an empty output
    (_conv(weight=np.zeros((3, 2, 7, 7), np.float32)), ValueError,
     r"conv2d: the padded input \(5x5\) is smaller than the dilated kernel \(7x7\)"),
    (_conv(dilation=3), ValueError, r"smaller than the dilated kernel \(7x7\)"),
    (_convt(x=np.zeros((1, 2, 1, 1), np.float32), weight=np.zeros((2, 3, 1, 1), np.float32),
            stride=1, padding=1), ValueError, r"conv_transpose2d: .*empty output"),
    # bad stride / dilation / padding / output_padding
    (_conv(stride=0), ValueError, r"conv2d: stride must be positive, got 0"),
    (_conv(stride=(1, -2)), ValueError, r"conv2d: stride must be positive, got -2"),
    (_conv(dilation=0), ValueError, r"conv2d: dilation must be positive"),
    (_conv(padding=-1), ValueError, r"conv2d: padding must be non-negative, got -1"),
    (_convt(stride=0), ValueError, r"conv_transpose2d: stride must be positive"),
    (_convt(dilation=(-1, 1)), ValueError, r"conv_transpose2d: dilation must be positive"),
    (_convt(padding=-2), ValueError, r"conv_transpose2d: padding must be non-negative"),
    (_convt(output_padding=2), ValueError, r"conv_transpose2d: output_padding must be smaller"),
    (_convt(stride=1, padding=0, output_padding=(0, 1)), ValueError, r"output_padding"),
    (_convt(output_padding=-1), ValueError, r"output_padding must be non-negative"),
    # fac kernel size
    (_fac(kernel_size=4), ValueError, r"fac: kernel_size must be a positive odd number, got 4"),
    (_fac(kernel_size=0), ValueError, r"kernel_size must be a positive odd number, got 0"),
    (_fac(kernel_size=-5), ValueError, r"kernel_size must be a positive odd number, got -5"),
    (_fac_backward(kernel_size=2), ValueError, r"fac_backward: kernel_size must be"),
    # pad
    (lambda: ops.pad(X, (5, 0), "reflect"), ValueError, r"pad: reflect padding must be smaller"),
    (lambda: ops.pad(X, (0, 0, 0, 5), "reflect"), ValueError, r"reflect padding"),
    (lambda: ops.pad(X, (1, -1)), ValueError, r"pad: pads must be non-negative, got right=-1"),
    (lambda: ops.pad(X, (1, 1, 1)), ValueError, r"pad must have 2 or 4 entries"),
    (lambda: ops.pad(X, (1, 1), "circular"), ValueError, r"mode must be 'constant'"),
    # softmax / concat dims
    (lambda: ops.softmax(X, 2), ValueError, r"softmax: only dim=1"),
    (lambda: ops.concat([X, X], 0), ValueError, r"concat: only dim=1"),
    # epilogue
    (_conv(residual=np.zeros((1, 3, 5, 5), np.float32)), ValueError,
     r"conv2d: epilogue.residual must have the shape of the output \(1, 3, 3, 3\)"),
    (_conv(residual=np.zeros((1, 3, 3, 3), np.float64)), TypeError,
     r"residual must have dtype float32"),
    (_convt(residual=np.zeros((1, 3, 5, 5), np.float32)), ValueError,
     r"conv_transpose2d: epilogue.residual must have the shape of the output \(1, 3, 10, 10\)"),
    (_conv(activation="gelu"), ValueError, r"activation must be None, 'relu' or 'leaky_relu'"),
    # run options
    (_conv(device="gpu"), ValueError, r"device must be 'cpu' or 'cuda', got 'gpu'"),
    (_fac(device="CPU"), ValueError, r"device must be 'cpu' or 'cuda'"),
    (lambda: ops.relu(X, num_threads=0), ValueError, r"num_threads must be None or >= 1"),
    (_fac(isa="sse"), ValueError, r"isa must be None"),
]


@pytest.mark.parametrize("call,exc,match", BAD_INPUTS, ids=[m for _, _, m in BAD_INPUTS])
def test_bad_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


CUDA_CALLS = [
    _conv(device="cuda"), _convt(device="cuda"), _fac(device="cuda"),
    _fac_backward(device="cuda"), lambda: ops.relu(X, device="cuda"),
    lambda: ops.softmax(X, device="cuda"), lambda: ops.pad(X, (1, 1), device="cuda"),
    lambda: ops.concat([X, X], device="cuda"), lambda: ops.add(X, X, device="cuda"),
]


@pytest.mark.skipif(deblurcore.cuda_available(), reason="this build has a CUDA device")
@pytest.mark.parametrize("call", CUDA_CALLS)
def test_cuda_without_cuda_raises(call):
    with pytest.raises(RuntimeError, match="CUDA"):
        call()
