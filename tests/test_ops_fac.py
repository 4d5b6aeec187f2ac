"""fac (filter adaptive convolution) of deblurcore.ops and its backward against PyTorch, at the API level.

The tolerances and how they are derived: tests/helpers/op_checks.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import (
    assert_bitwise,
    case_rng,
    randn,
)
from tests.helpers.op_checks import ISAS, assert_f32_sum_close, t64

torch = pytest.importorskip("torch")
F = torch.nn.functional


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
    ref = _torch_fac(t64(x), t64(kernel), k).numpy()
    # S = sum over the k*k taps of |x||kernel|; k*k <= 49 float32 products and additions.
    scale = _torch_fac(t64(x).abs(), t64(kernel).abs(), k).numpy()
    assert_f32_sum_close(ops.fac(x, kernel, k, reference=reference), ref, scale,
                      f"fac {case} reference={reference}")


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("case", FAC_CASES, ids=str)
def test_fac_backward_matches_autograd(case, reference):
    k = case[-1]
    x, kernel, g = _fac_data(case)
    xt, kt = t64(x).requires_grad_(), t64(kernel).requires_grad_()
    _torch_fac(xt, kt, k).backward(t64(g))
    # The same autograd on |kernel| and |g| gives, per element, the sum of |terms| of grad_x.
    xa, ka = t64(x).requires_grad_(), t64(kernel).abs().requires_grad_()
    _torch_fac(xa, ka, k).backward(t64(g).abs())
    gx, gk = ops.fac_backward(g, x, kernel, k, reference=reference)
    what = f"fac_backward {case} reference={reference}"
    # grad_x: a float32 sum of at most ((r+1)(r+2)/2)**2 = 100 terms (a corner pixel, k = 7,
    # which also collects the replicated border): within 1e-5 of the sum of |terms|.
    assert_f32_sum_close(gx, xt.grad.numpy(), xa.grad.numpy(), what + " grad_x")
    # grad_kernel: one float32 product x*g per element, correctly rounded: within 2**-24 of
    # the exact value (relative), and bit-exact to the same product done by torch in float32.
    assert_f32_sum_close(gk, kt.grad.numpy(), np.abs(kt.grad.numpy()), what + " grad_kernel",
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
    scale = _torch_fac(t64(x).abs(), t64(kernel).abs(), k).numpy()
    assert_f32_sum_close(ops.fac(x, kernel, k, isa=isa), ops.fac(x, kernel, k, reference=True),
                      scale, f"fac {case} isa={isa}")
    gx, gk = ops.fac_backward(g, x, kernel, k, isa=isa)
    gx_ref, gk_ref = ops.fac_backward(g, x, kernel, k, reference=True)
    xa, ka = t64(x).requires_grad_(), t64(kernel).abs().requires_grad_()
    _torch_fac(xa, ka, k).backward(t64(g).abs())
    assert_f32_sum_close(gx, gx_ref, xa.grad.numpy(), f"fac_backward {case} isa={isa} grad_x")
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
    xa, ka = t64(np.abs(x)).requires_grad_(), t64(np.abs(kernel)).requires_grad_()
    _torch_fac(xa, ka, k).backward(t64(np.abs(w)))
    # (+1e-7 in the scale: 1e-12 absolute headroom for the round-off of the differences.)
    assert_f32_sum_close(gx, num_gx, xa.grad.numpy() + 1e-7, f"grad_x {case}")
    assert_f32_sum_close(gk, num_gk, ka.grad.numpy() + 1e-7, f"grad_kernel {case}")
