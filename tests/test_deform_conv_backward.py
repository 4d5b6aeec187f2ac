"""deform_conv2d_backward (DCNv2 gradients) against float64 PyTorch autograd of the test
oracle (tests/torch_models/aspdc.py's modulated_deform_conv2d), fast and reference kernels.

Tolerances: every gradient is compared elementwise within TOL * max|want| of that gradient
(max over the tensor). Our sample positions are float32 (integer + float32 offset, as the
forward computes them), so interpolation weights carry ~|p| * 6e-8 < 2e-6 relative error; the
fast kernel also accumulates in float32 over at most Cout (gcol), Cin/G (offset, mask) or
N*Hout*Wout (weight, bias) terms. Measured errors are below 6e-8 (reference) and 1.5e-6
(fast) of max|want| over these cases; the tolerances (1e-6, 2e-5) leave a margin above 10x
and stay far below a single term's size, so a missing tap, corner or sign shows. Offsets are
integer + a fraction in [0.05, 0.95]: no sample lies within float32 rounding of an integer
position, where the derivative of the bilinear weights jumps and float32 vs float64
positions could pick different sides.
"""

from __future__ import annotations

import numpy as np
import pytest

from deblurcore import ops
from tests.helpers.numerics import pair

torch = pytest.importorskip("torch")
from tests.torch_models.aspdc import modulated_deform_conv2d  # noqa: E402


def _case(seed, N, Cin, Cout, H, W, k, stride, padding, dilation, groups, with_mask,
          with_bias=True):
    rng = np.random.default_rng(seed)
    kh, kw = pair(k)
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    Hout = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wout = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    x = rng.standard_normal((N, Cin, H, W)).astype(np.float32)
    w = (rng.standard_normal((Cout, Cin, kh, kw)) / np.sqrt(Cin * kh * kw)).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32) if with_bias else None
    shape = (N, 2 * groups * kh * kw, Hout, Wout)
    off = (rng.integers(-3, 3, shape) + rng.uniform(0.05, 0.95, shape)).astype(np.float32)
    m = (rng.uniform(0, 1, (N, groups * kh * kw, Hout, Wout)).astype(np.float32)
         if with_mask else None)
    g = rng.standard_normal((N, Cout, Hout, Wout)).astype(np.float32)
    return x, off, w, b, m, g


def torch_grads64(x, off, w, b, m, g, stride, padding, dilation):
    """Autograd of the float64 oracle: (gx, goff, gm or None, gw, gb or None)."""
    ts = [None if a is None else torch.from_numpy(a).double().requires_grad_()
          for a in (x, off, m, w, b)]
    tx, toff, tm, tw, tb = ts
    out = modulated_deform_conv2d(tx, toff, tw, tb, stride, padding, dilation, tm)
    out.backward(torch.from_numpy(g).double())
    return tuple(None if t is None else t.grad.numpy() for t in (tx, toff, tm, tw, tb))


CASES = [
    # N, Cin, Cout, H, W, kernel, stride, padding, dilation, groups, mask, bias
    (2, 5, 7, 9, 11, 3, 1, 1, 1, 1, True, True),
    (2, 5, 7, 9, 11, 3, 1, 1, 1, 1, False, False),
    (2, 4, 6, 12, 10, 3, 2, 1, 1, 1, True, True),
    (2, 3, 5, 10, 13, (3, 2), (1, 2), (2, 0), (2, 1), 1, True, True),
    (2, 6, 4, 8, 9, 3, 1, 2, 2, 2, True, False),
    (1, 3, 9, 7, 8, 1, 1, 0, 1, 3, True, True),
    (1, 16, 13, 21, 19, 3, 1, 1, 1, 1, True, True),
]
NAMES = ("grad_x", "grad_offset", "grad_mask", "grad_weight", "grad_bias")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("reference", [False, True])
def test_backward_matches_float64_autograd(case, reference):
    N, Cin, Cout, H, W, k, s, p, d, groups, with_mask, with_bias = case
    seed = abs(hash(case)) % 2**32
    x, off, w, b, m, g = _case(seed, N, Cin, Cout, H, W, k, s, p, d, groups, with_mask, with_bias)
    got = ops.deform_conv2d_backward(g, x, off, w, b, s, p, d, m, num_threads=2,
                                     reference=reference)
    want = torch_grads64(x, off, w, b, m, g, s, p, d)
    tol = 1e-6 if reference else 2e-5
    for name, a, e in zip(NAMES, got, want):
        if e is None:
            assert a is None, name
            continue
        assert a.shape == e.shape and a.dtype == np.float32, name
        scale = float(np.abs(e).max())
        np.testing.assert_allclose(a, e, rtol=0, atol=tol * scale, err_msg=f"{name} {case}")


def test_fast_matches_reference_and_threads():
    x, off, w, b, m, g = _case(3, 2, 24, 16, 17, 23, 3, 1, 1, 1, 2, True)
    fast = ops.deform_conv2d_backward(g, x, off, w, b, 1, 1, 1, m, num_threads=2)
    ref = ops.deform_conv2d_backward(g, x, off, w, b, 1, 1, 1, m, num_threads=2, reference=True)
    for name, a, e in zip(NAMES, fast, ref):
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-4 * float(np.abs(e).max()), err_msg=name)
    # Every thread owns whole outputs (pixels, input channels or output channels), so the
    # thread count does not change the result.
    one = ops.deform_conv2d_backward(g, x, off, w, b, 1, 1, 1, m, num_threads=1)
    for name, a, e in zip(NAMES, fast, one):
        np.testing.assert_array_equal(a, e, err_msg=name)


def test_several_pixel_chunks():
    # The fast kernel takes the pixels of an image in chunks of 2**20 / (Cin*kh*kw) pixels:
    # Cin*9 = 1152 gives chunks of 910 pixels, so this 31 x 31 output needs two.
    x, off, w, b, m, g = _case(4, 1, 128, 4, 31, 31, 3, 1, 1, 1, 1, True)
    fast = ops.deform_conv2d_backward(g, x, off, w, b, 1, 1, 1, m, num_threads=2)
    ref = ops.deform_conv2d_backward(g, x, off, w, b, 1, 1, 1, m, num_threads=2, reference=True)
    for name, a, e in zip(NAMES, fast, ref):
        # float32 sums over up to 961 pixels (weight) or 4 * 9 terms: measured < 3e-6.
        np.testing.assert_allclose(a, e, rtol=0, atol=2e-5 * float(np.abs(e).max()), err_msg=name)


def test_samples_outside_the_image_get_no_gradient():
    x, off, w, b, m, g = _case(5, 1, 2, 3, 6, 6, 3, 1, 1, 1, 1, True)
    off[:] = 100.5  # every sample far outside: forward 0 + bias
    gx, goff, gm, gw, gb = ops.deform_conv2d_backward(g, x, off, w, b, 1, 1, 1, m)
    for a in (gx, goff, gm, gw):
        assert not a.any()
    np.testing.assert_allclose(gb, g.sum(axis=(0, 2, 3)), rtol=1e-5)


def test_inputs_not_modified():
    x, off, w, b, m, g = _case(6, 1, 3, 4, 7, 7, 3, 1, 1, 1, 1, True)
    copies = [a.copy() for a in (x, off, w, b, m, g)]
    ops.deform_conv2d_backward(g, x, off, w, b, 1, 1, 1, m)
    for a, c in zip((x, off, w, b, m, g), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(g=a["g"][:, :-1]), "grad_out"),
        (lambda a: a.update(off=a["off"][:, :-1]), "offset"),
        (lambda a: a.update(m=a["m"][:, :-1]), "mask"),
        (lambda a: a.update(b=a["b"][:-1]), "bias"),
        (lambda a: a.update(x=a["x"][:, :-1]), "input channels"),
    ],
)
def test_bad_arguments_refused(change, message):
    x, off, w, b, m, g = _case(8, 1, 4, 3, 6, 6, 3, 1, 1, 1, 1, True)
    a = dict(x=x, off=off, w=w, b=b, m=m, g=g)
    change(a)
    with pytest.raises(ValueError, match=message):
        ops.deform_conv2d_backward(a["g"], a["x"], a["off"], a["w"], a["b"], 1, 1, 1, a["m"])
    with pytest.raises(TypeError, match="grad_out"):
        ops.deform_conv2d_backward(g.astype(np.float64), x, off, w, b, 1, 1, 1, m)


def test_cuda_device_without_cuda_build_is_clear():
    import deblurcore

    if deblurcore.cuda_available():
        pytest.skip("this build has CUDA")
    x, off, w, b, m, g = _case(9, 1, 2, 3, 5, 5, 3, 1, 1, 1, 1, True)
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.deform_conv2d_backward(g, x, off, w, b, 1, 1, 1, m, device="cuda")
