"""The CUDA side of the PyTorch interop: deform_conv2d_backward's CUDA kernel against the CPU
reference kernel, and deblurcore.torch on CUDA tensors (DLPack, PyTorch's current stream)
against the same calls on CPU tensors. Skipped without a CUDA build and device (and, for the
torch part, without a CUDA build of torch).

Tolerances: the CUDA kernel sums in float32 (gcol over Cout terms with fmaf; grad_x,
grad_offset, grad_mask through atomics in any order; grad_weight over N*Hout*Wout samples),
the reference in double: each gradient within 1e-4 of its largest magnitude, as the fast CPU
kernel is checked (tests/test_deform_conv_backward.py) — measured CPU errors stay below 2e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import ops

torch = pytest.importorskip("torch")
from tests.test_deform_conv_backward import NAMES, _case  # noqa: E402

CUDA = deblurcore.cuda_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device (or a build without CUDA)")
needs_torch_cuda = pytest.mark.skipif(not (CUDA and torch.cuda.is_available()),
                                      reason="needs deblurcore and torch with CUDA")


@needs_cuda
@pytest.mark.parametrize("groups, with_mask, with_bias", [(1, True, True), (2, False, False)])
def test_deform_conv2d_backward_cuda(groups, with_mask, with_bias):
    x, off, w, b, m, g = _case(12, 2, 6, 5, 11, 13, 3, 1, 1, 1, groups, with_mask, with_bias)
    got = ops.deform_conv2d_backward(g, x, off, w, b, 1, 1, 1, m, device="cuda")
    want = ops.deform_conv2d_backward(g, x, off, w, b, 1, 1, 1, m, reference=True)
    for name, a, e in zip(NAMES, got, want):
        if e is None:
            assert a is None, name
            continue
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-4 * float(np.abs(e).max()), err_msg=name)


@needs_torch_cuda
def test_torch_functions_on_cuda_tensors_match_cpu():
    import deblurcore.torch as dt

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 10, generator=gen)
    kernel = torch.randn(2, 27, 9, 10, generator=gen) / 3
    filters = torch.randn(2, 2 * 3 * 7, 9, 10, generator=gen) * 0.45
    off = torch.randn(2, 18, 9, 10, generator=gen)
    mask = torch.rand(2, 9, 9, 10, generator=gen)
    w = torch.randn(4, 3, 3, 3, generator=gen) / 5
    b = torch.randn(4, generator=gen)
    calls = [
        (lambda a, k: dt.fac(a, k, 3), (x, kernel)),
        (lambda a, f: dt.iac(a, f, 2, 3), (x, filters)),
        (lambda *a: dt.deform_conv2d(*a, 1, 1, 1), (x, off, mask, w, b)),
    ]
    for fn, inputs in calls:
        results = {}
        for device in ("cpu", "cuda"):
            leaves = [t.to(device).requires_grad_() for t in inputs]
            out = fn(*leaves)
            assert out.device.type == device
            out.backward(torch.ones_like(out))
            results[device] = [out.detach().cpu()] + [t.grad.cpu() for t in leaves]
        for a, e in zip(results["cuda"], results["cpu"]):
            torch.testing.assert_close(a, e, rtol=0, atol=1e-4 * float(e.abs().max()))
