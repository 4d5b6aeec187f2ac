"""iac / iac_backward (IFAN's iterative adaptive convolution) against a PyTorch reference.

The reference below is written from the IFAN spec (official models/IAC.py semantics): per
iteration a vertical k-tap pass (rows replicate-padded), then a horizontal k-tap pass on its
result (columns replicate-padded), each as torch.mul followed by torch.sum over the taps, then
the per-pixel bias and LeakyReLU(0.1), after every iteration (the last one only with
final_activation). The filter tensor holds n pairs (F1_i, F2_i) of C*k channels, then n bias
blocks of C channels; the horizontal pass uses F1 (reuse_vertical_filter, the released
checkpoints) or F2.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deblurcore import ops


def _sac(f, taps_v, taps_h, k):
    """One separable adaptive pass pair, the official way (mul, then sum over the taps)."""
    N, C, H, W = f.shape
    r = (k - 1) // 2
    col = F.pad(f, (0, 0, r, r), mode="replicate").unfold(2, k, 1)  # (N, C, H, W, k)
    v = torch.sum(torch.mul(col, taps_v.reshape(N, C, k, H, W).permute(0, 1, 3, 4, 2)), -1)
    row = F.pad(v, (r, r, 0, 0), mode="replicate").unfold(3, k, 1)
    return torch.sum(torch.mul(row, taps_h.reshape(N, C, k, H, W).permute(0, 1, 3, 4, 2)), -1)


def iac_torch(x, filters, n, k, reuse_vertical_filter=True, final_activation=True):
    """IAC on torch tensors of any float dtype (differentiable)."""
    C = x.shape[1]
    ck = C * k
    f = x
    for i in range(n):
        f1 = filters[:, 2 * ck * i : 2 * ck * i + ck]
        f2 = filters[:, 2 * ck * i + ck : 2 * ck * (i + 1)]
        b = filters[:, 2 * ck * n + C * i : 2 * ck * n + C * (i + 1)]
        f = _sac(f, f1, f1 if reuse_vertical_filter else f2, k) + b
        if i < n - 1 or final_activation:
            f = F.leaky_relu(f, 0.1)
    return f


def make_inputs(N, C, H, W, n, k, seed=0):
    """Random x and filters. Tap std 0.45 keeps 17 chained iterations of two k=3 passes in a
    stable range (outputs of order 1, neither vanishing nor overflowing)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    filters = (rng.standard_normal((N, n * C * (2 * k + 1), H, W)) * 0.45).astype(np.float32)
    return x, filters


def torch_forward64(x, filters, n, k, reuse, final):
    return iac_torch(
        torch.from_numpy(x).double(), torch.from_numpy(filters).double(), n, k, reuse, final
    ).numpy()


def torch_grads64(g, x, filters, n, k, reuse, final):
    xt = torch.from_numpy(x).double().requires_grad_()
    ft = torch.from_numpy(filters).double().requires_grad_()
    iac_torch(xt, ft, n, k, reuse, final).backward(torch.from_numpy(g).double())
    return xt.grad.numpy(), ft.grad.numpy()


# (N, C, H, W, n_iterations, k): odd sizes, single rows/columns, batch 2, k = 3 and 5,
# N = 1 and 17 iterations.
CASES = [
    (1, 3, 7, 9, 1, 3),
    (2, 3, 7, 9, 17, 3),
    (2, 4, 5, 11, 4, 5),
    (1, 2, 1, 6, 3, 3),
    (1, 2, 6, 1, 3, 5),
    (2, 5, 9, 4, 17, 5),
    (1, 1, 3, 2, 2, 5),  # k larger than the image: padding clamps several taps to one pixel
]
FLAGS = [(True, True), (True, False), (False, True), (False, False)]


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("reuse,final", FLAGS)
def test_forward_matches_torch(case, reuse, final):
    N, C, H, W, n, k = case
    x, filt = make_inputs(N, C, H, W, n, k)
    want = torch_forward64(x, filt, n, k, reuse, final)
    assert np.isfinite(want).all() and 0.05 < np.abs(want).max() < 100.0  # calibrated range
    fast = ops.iac(x, filt, n, k, reuse, final)
    ref = ops.iac(x, filt, n, k, reuse, final, reference=True)
    assert fast.shape == ref.shape == x.shape and fast.dtype == np.float32
    # The reference kernel runs the whole chain in double and rounds once: within a few float32
    # ulps of the float64 result (relative to its largest magnitude).
    assert _rel(ref, want) < 1e-6
    # The fast kernel works in float32: each iteration adds a few roundings, which later
    # iterations can amplify by at most the filters' gain; measured < 3e-7 relative for
    # 17 iterations at this filter scale, bound 1e-5.
    assert _rel(fast, want) < 1e-5


@pytest.mark.parametrize("case", [c for c in CASES if c[5] == 3])
@pytest.mark.parametrize("reuse,final", FLAGS)
def test_forward_k3_bit_identical_to_official_float32(case, reuse, final):
    # For k = 3 the official float32 computation (products rounded, then a left-to-right sum
    # of three terms, then the bias add) is reproduced exactly: no FMA, same order.
    N, C, H, W, n, k = case
    x, filt = make_inputs(N, C, H, W, n, k, seed=1)
    want = iac_torch(torch.from_numpy(x), torch.from_numpy(filt), n, k, reuse, final).numpy()
    np.testing.assert_array_equal(ops.iac(x, filt, n, k, reuse, final), want)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("reuse,final", FLAGS)
def test_backward_matches_autograd(case, reuse, final):
    N, C, H, W, n, k = case
    x, filt = make_inputs(N, C, H, W, n, k, seed=2)
    g = np.random.default_rng(3).standard_normal(x.shape).astype(np.float32)
    want_x, want_f = torch_grads64(g, x, filt, n, k, reuse, final)
    for reference, tol in ((True, 1e-6), (False, 1e-5)):
        # Same bounds as the forward: double chain rounded once vs float32 throughout.
        gx, gf = ops.iac_backward(g, x, filt, n, k, reuse, final, reference=reference)
        assert gx.shape == x.shape and gf.shape == filt.shape
        assert _rel(gx, want_x) < tol, reference
        assert _rel(gf, want_f) < tol, reference
        if reuse:  # F2 is never read: its gradient is exactly zero
            ck = C * k
            for i in range(n):
                assert not gf[:, 2 * ck * i + ck : 2 * ck * (i + 1)].any()


def test_torch_reference_gradcheck_float64():
    # The reference's autograd is the exact gradient of the formulation: finite differences in
    # float64 (torch.autograd.gradcheck, eps 1e-6, its default tolerances; fast mode checks
    # random directional derivatives) agree with it.
    rng = np.random.default_rng(4)
    for reuse, final in FLAGS:
        for N, C, H, W, n, k in [(2, 2, 3, 4, 3, 3), (1, 1, 3, 4, 2, 5)]:
            x = torch.from_numpy(rng.standard_normal((N, C, H, W))).requires_grad_()
            f = torch.from_numpy(rng.standard_normal((N, n * C * (2 * k + 1), H, W)) * 0.45)
            f.requires_grad_()
            assert torch.autograd.gradcheck(
                lambda a, b, n=n, k=k, reuse=reuse, final=final: iac_torch(
                    a, b, n, k, reuse, final
                ),
                (x, f),
                fast_mode=True,
            )


def test_backward_finite_differences():
    # An independent check of our backward, with no autograd: the directional derivative of
    # L = <g, iac(x, filters)> along random directions, by central differences of the
    # reference kernel (float32 in and out, double inside), step 3e-4. The error is measured
    # against S = sum |grad * direction| (the size of the terms the derivative sums, which
    # cancel a lot). Truncation (the output is a polynomial of degree 2n in the filter scale),
    # the rare LeakyReLU kink crossed within one step, and the float32 rounding of inputs and
    # outputs (~1e-6 * |L| / step) stay below 1e-4 * S here (measured <= 1e-5); bound 1e-3.
    N, C, H, W, n, k = 2, 3, 5, 6, 4, 3
    x, filt = make_inputs(N, C, H, W, n, k, seed=5)
    rng = np.random.default_rng(6)
    g = rng.standard_normal(x.shape).astype(np.float32)
    eps = 3e-4
    for reuse, final in FLAGS:
        gx, gf = ops.iac_backward(g, x, filt, n, k, reuse, final)
        for _ in range(3):
            dx = rng.standard_normal(x.shape).astype(np.float32)
            df = rng.standard_normal(filt.shape).astype(np.float32)

            def loss(s, dx=dx, df=df, reuse=reuse, final=final):
                out = ops.iac(
                    x + np.float32(s * eps) * dx,
                    filt + np.float32(s * eps) * df,
                    n,
                    k,
                    reuse,
                    final,
                    reference=True,
                )
                return float(np.dot(out.ravel().astype(np.float64), g.ravel()))

            fd = (loss(1) - loss(-1)) / (2 * eps)
            terms = np.concatenate([(gx * dx).ravel(), (gf * df).ravel()]).astype(np.float64)
            an, scale = float(terms.sum()), float(np.abs(terms).sum())
            assert abs(fd - an) <= 1e-3 * scale, (reuse, final, fd, an, scale)


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_thread_counts_and_parallel_modes_agree(threads):
    # One plane per task when there are at least as many planes as threads, otherwise one
    # parallel loop per iteration: the same arithmetic per element, so bit-identical.
    for N, C in [(1, 1), (1, 2), (2, 3)]:
        x, filt = make_inputs(N, C, 6, 7, 5, 3, seed=7)
        base = ops.iac(x, filt, 5, 3, num_threads=1)
        np.testing.assert_array_equal(ops.iac(x, filt, 5, 3, num_threads=threads), base)
        g = np.ones_like(x)
        bx, bf = ops.iac_backward(g, x, filt, 5, 3, num_threads=1)
        tx, tf = ops.iac_backward(g, x, filt, 5, 3, num_threads=threads)
        np.testing.assert_array_equal(tx, bx)
        np.testing.assert_array_equal(tf, bf)


def test_inputs_not_modified():
    x, filt = make_inputs(1, 2, 4, 5, 3, 3)
    g = np.ones_like(x)
    x0, f0 = x.copy(), filt.copy()
    ops.iac(x, filt, 3, 3)
    ops.iac_backward(g, x, filt, 3, 3, False, False)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(filt, f0)


def test_bad_inputs():
    x, filt = make_inputs(1, 2, 4, 5, 3, 3)
    with pytest.raises(ValueError, match="filters must have 42 channels"):
        ops.iac(x, filt[:, :-1], 3, 3)
    with pytest.raises(ValueError, match="filters must have"):
        ops.iac(x, filt, 2, 3)  # channel count of 3 iterations given for 2
    with pytest.raises(ValueError, match="filters must have"):
        ops.iac(x[:, :1], filt, 3, 3)  # wrong C for the filter count
    with pytest.raises(ValueError, match="kernel_size must be a positive odd number"):
        ops.iac(x, filt, 3, 2)
    with pytest.raises(ValueError, match="kernel_size must be a positive odd number"):
        ops.iac(x, filt, 3, 0)
    with pytest.raises(ValueError, match="n_iterations must be positive"):
        ops.iac(x, filt, 0, 3)
    with pytest.raises(ValueError, match="n_iterations must be positive"):
        ops.iac_backward(x, x, filt, -1, 3)
    with pytest.raises(ValueError, match="spatial size"):
        ops.iac(x, filt[:, :, :3], 3, 3)
    with pytest.raises(ValueError, match="batch"):
        ops.iac(np.concatenate([x, x]), filt, 3, 3)
    with pytest.raises(ValueError, match="x must be 4-D"):
        ops.iac(x[0], filt, 3, 3)
    with pytest.raises(ValueError, match="filters must be 4-D"):
        ops.iac(x, filt[0], 3, 3)
    with pytest.raises(TypeError, match="float32"):
        ops.iac(x.astype(np.float64), filt, 3, 3)
    with pytest.raises(TypeError, match="n_iterations must be an int"):
        ops.iac(x, filt, 3.0, 3)
    with pytest.raises(TypeError, match="reuse_vertical_filter must be a bool"):
        ops.iac(x, filt, 3, 3, "yes")
    with pytest.raises(ValueError, match="grad_out must have the shape of x"):
        ops.iac_backward(x[:, :, :3], x, filt, 3, 3)
    with pytest.raises(ValueError, match="filters must have"):
        ops.iac_backward(x, x, filt[:, :-2], 3, 3)


def test_cuda_device_without_cuda_build_is_clear():
    import deblurcore

    if deblurcore.cuda_available():
        pytest.skip("CUDA present")
    x, filt = make_inputs(1, 2, 4, 5, 3, 3)
    with pytest.raises((RuntimeError, TypeError), match="(?i)cuda"):
        ops.iac(x, filt, 3, 3, device="cuda")
