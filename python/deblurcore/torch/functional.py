"""FAC, IAC and DCNv2 as differentiable PyTorch functions, run by deblurcore's kernels.

Forward and backward are deblurcore's C++ kernels (CPU, or CUDA when built with it); nothing is
compiled against torch. How tensors cross (no copies for contiguous float32; the rule for
other dtypes and layouts) is described in :mod:`deblurcore.torch._bridge`. Gradients are
first-order only (``once_differentiable``): a double backward raises.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from .. import _core
from .._arrays import as_bool, as_int, as_pair
from ._bridge import CoreCall, result


def _dtype(t: torch.Tensor, name: str) -> torch.dtype:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    return t.dtype


def _grad(capsule, like: torch.Tensor | None, needed: bool):
    if not needed or like is None:
        return None
    return result(capsule, like.dtype)


class _Fac(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel, kernel_size):
        call = CoreCall(x)
        out = call.run(_core.dl_fac, call.arg(x, "x"), call.arg(kernel, "kernel"), kernel_size)
        ctx.save_for_backward(x, kernel)
        ctx.kernel_size = kernel_size
        return result(out, x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, kernel = ctx.saved_tensors
        call = CoreCall(x)
        gx, gk = call.run(
            _core.dl_fac_backward, call.arg(grad_out, "grad_out"), call.arg(x, "x"),
            call.arg(kernel, "kernel"), ctx.kernel_size,
        )
        need = ctx.needs_input_grad
        return _grad(gx, x, need[0]), _grad(gk, kernel, need[1]), None


def fac(x: torch.Tensor, kernel: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Filter adaptive convolution (STFAN's ``KernelConv2D``), differentiable in both inputs.

    ``x`` ``(N, C, H, W)``, ``kernel`` ``(N, C*k*k, H, W)`` (filter channel ``c*k*k + ky*k +
    kx``), ``kernel_size`` k odd; replicate padding of ``(k-1)//2``. Returns ``(N, C, H, W)``.
    Same semantics as :func:`deblurcore.ops.fac`.
    """
    _dtype(x, "x"), _dtype(kernel, "kernel")
    return _Fac.apply(x, kernel, as_int(kernel_size, "kernel_size"))


class _Iac(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, filters, n_iterations, kernel_size, reuse, final_activation):
        call = CoreCall(x)
        out = call.run(
            _core.dl_iac, call.arg(x, "x"), call.arg(filters, "filters"), n_iterations,
            kernel_size, reuse, final_activation,
        )
        ctx.save_for_backward(x, filters)
        ctx.args = (n_iterations, kernel_size, reuse, final_activation)
        return result(out, x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, filters = ctx.saved_tensors
        call = CoreCall(x)
        gx, gf = call.run(
            _core.dl_iac_backward, call.arg(grad_out, "grad_out"), call.arg(x, "x"),
            call.arg(filters, "filters"), *ctx.args,
        )
        need = ctx.needs_input_grad
        return _grad(gx, x, need[0]), _grad(gf, filters, need[1]), None, None, None, None


def iac(
    x: torch.Tensor,
    filters: torch.Tensor,
    n_iterations: int,
    kernel_size: int,
    reuse_vertical_filter: bool = True,
    final_activation: bool = True,
) -> torch.Tensor:
    """Iterative adaptive convolution (IFAN's IAC), differentiable in ``x`` and ``filters``.

    ``x`` ``(N, C, H, W)``, ``filters`` ``(N, n*C*(2k+1), H, W)`` in the official filter
    head's layout. ``reuse_vertical_filter=True`` (default) is what the official IFAN code
    computes and its checkpoints were trained with (the horizontal pass reuses the vertical
    taps; the F2 channels get zero gradient); False uses the F2 taps (the paper's intent).
    Same semantics as :func:`deblurcore.ops.iac`.
    """
    _dtype(x, "x"), _dtype(filters, "filters")
    return _Iac.apply(
        x, filters, as_int(n_iterations, "n_iterations"), as_int(kernel_size, "kernel_size"),
        as_bool(reuse_vertical_filter, "reuse_vertical_filter"),
        as_bool(final_activation, "final_activation"),
    )


class _DeformConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, offset, mask, weight, bias, stride, padding, dilation):
        call = CoreCall(x)
        out = call.run(
            _core.dl_deform_conv2d, call.arg(x, "x"), call.arg(offset, "offset"),
            call.arg(mask, "mask"), call.arg(weight, "weight"), call.arg(bias, "bias"),
            stride, padding, dilation,
        )
        ctx.save_for_backward(x, offset, mask, weight, bias)
        ctx.geometry = (stride, padding, dilation)
        return result(out, x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, offset, mask, weight, bias = ctx.saved_tensors
        call = CoreCall(x)
        grads = call.run(
            _core.dl_deform_conv2d_backward, call.arg(grad_out, "grad_out"), call.arg(x, "x"),
            call.arg(offset, "offset"), call.arg(mask, "mask"), call.arg(weight, "weight"),
            call.arg(bias, "bias"), *ctx.geometry,
        )
        need = ctx.needs_input_grad
        inputs = (x, offset, mask, weight, bias)
        return (*(_grad(g, t, n) for g, t, n in zip(grads, inputs, need)), None, None, None)


def deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
) -> torch.Tensor:
    """Modulated deformable convolution (DCNv2), differentiable in every tensor argument.

    The argument order is mmcv's ``modulated_deform_conv2d`` (x, offset, mask, weight, bias,
    ...); the conventions are torchvision's ``deform_conv2d``: ``offset`` ``(N, 2*G*kh*kw,
    Hout, Wout)`` holds (dy, dx) per tap ``k = ky*kw + kx`` of offset group ``g`` at channels
    ``g*2*kh*kw + 2k`` and ``+1``; ``mask`` ``(N, G*kh*kw, Hout, Wout)`` or None (all ones);
    ``weight`` ``(Cout, Cin, kh, kw)`` (no weight groups); ``bias`` ``(Cout,)`` or None;
    ``stride``, ``padding``, ``dilation`` an int or an (h, w) pair. Bilinear samples outside
    the image are 0 (torchvision's rule). Called with keywords it takes torchvision's
    arguments as they are: ``deform_conv2d(x, offset, weight=w, bias=b, mask=m, ...)``.

    Where a sampling position is an integer, the offset gradient is the one-sided derivative
    from above (what autograd gives through ``floor``, and torchvision's kernel computes).
    """
    _dtype(x, "x"), _dtype(offset, "offset"), _dtype(weight, "weight")
    if mask is not None:
        _dtype(mask, "mask")
    if bias is not None:
        _dtype(bias, "bias")
    return _DeformConv2d.apply(
        x, offset, mask, weight, bias, as_pair(stride, "stride"), as_pair(padding, "padding"),
        as_pair(dilation, "dilation"),
    )
