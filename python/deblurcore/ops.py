"""Ops on numpy arrays, named and parameterised like ``torch.nn.functional``.

Conventions shared by every op:

* Arrays are float32 in PyTorch's dimension order (NCHW for images). Non-contiguous float32
  input is copied to a contiguous array first. Any other dtype, float64 included, raises
  ``TypeError``: convert explicitly with ``x.astype(numpy.float32)``.
* ``stride``, ``padding``, ``dilation`` and ``output_padding`` take an int or an (h, w) pair;
  the padding of conv2d and conv_transpose2d may also be per side (top, bottom, left, right).
* Bad shapes or values raise ``ValueError`` naming the argument; wrong types ``TypeError``.
* Keyword-only ``device`` ('cpu' or 'cuda'; with 'cuda' the arrays are copied to the GPU and
  the result back), ``num_threads`` (None: all hardware threads) and ``reference`` (run the
  plain scalar reference kernel, the executable spec of the op: slow, for testing).
* The result is a new float32 array; inputs are never modified.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from ._arrays import NCHW, IntPair, as_bool, as_float32, as_int, as_padding, as_pair, run_opts
from ._ops_analysis_synthesis import (
    crop,
    cross_correlation,
    irfft2,
    linear,
    normalize_l1,
    rfft2,
    rgb_to_grayscale,
    standardize,
)

__all__ = [
    "mmcv_flat_reinterpret",
    "conv2d",
    "conv_transpose2d",
    "fac",
    "fac_backward",
    "iac",
    "iac_backward",
    "relu",
    "leaky_relu",
    "sigmoid",
    "softmax",
    "add",
    "concat",
    "pad",
    "deform_conv2d",
    "deform_conv2d_backward",
    "rfft2",
    "irfft2",
    "cross_correlation",
    "standardize",
    "rgb_to_grayscale",
    "normalize_l1",
    "linear",
    "crop",
]

_ACTIVATIONS = ("none", "relu", "leaky_relu")
# An int, an (h, w) pair or per-side (top, bottom, left, right) padding.
PaddingArg = Union[int, Sequence[int]]


def _precision(precision: str) -> str:
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    return precision


def _isa(isa: Optional[str]) -> str:
    if isa is None:
        return ""
    if isa not in ("avx512", "avx2", "generic"):
        raise ValueError(f"isa must be None, 'avx512', 'avx2' or 'generic', got {isa!r}")
    return isa


def _algorithm(algorithm: Optional[str]) -> str:
    if algorithm is None:
        return ""
    if algorithm not in ("auto", "direct", "winograd", "winograd6"):
        raise ValueError(
            "algorithm must be None, 'auto', 'direct', 'winograd' or 'winograd6', "
            f"got {algorithm!r}")
    return algorithm


def _epilogue(activation: Optional[str], negative_slope: float, residual, residual_before,
              scale=None, shift=None):
    act = "none" if activation is None else activation
    if act not in _ACTIVATIONS:
        raise ValueError(f"activation must be None, 'relu' or 'leaky_relu', got {activation!r}")
    res = None if residual is None else as_float32(residual, "residual", 4, NCHW)
    sc = None if scale is None else as_float32(scale, "scale", 2, "(N, Cout)")
    sh = None if shift is None else as_float32(shift, "shift", 2, "(N, Cout)")
    return act, float(negative_slope), res, bool(residual_before), sc, sh


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    *,
    activation: Optional[str] = None,
    negative_slope: float = 0.01,
    residual: Optional[np.ndarray] = None,
    residual_before_activation: bool = False,
    scale: Optional[np.ndarray] = None,
    shift: Optional[np.ndarray] = None,
    device: str = "cpu",
    num_threads: Optional[int] = None,
    reference: bool = False,
    isa: Optional[str] = None,
    algorithm: Optional[str] = None,
    precision: str = "fp32",
) -> np.ndarray:
    """2-D convolution (cross-correlation) with zero padding, like ``F.conv2d`` (groups=1).

    Args:
        x: input ``(N, Cin, H, W)``.
        weight: ``(Cout, Cin, kh, kw)``.
        bias: ``(Cout,)`` or None.
        stride, dilation: int or (h, w), >= 1.
        padding: int, (h, w), or per side (top, bottom, left, right), >= 0 (TensorFlow's
            'same' padding of a stride-2 convolution of an even size is (0, 1, 0, 1)).
        activation: fused output activation: None, 'relu' or 'leaky_relu'.
        negative_slope: slope of 'leaky_relu'.
        scale, shift: optional ``(N, Cout)`` arrays, a per-sample, per-channel affine map
            applied after the bias: ``v = (conv + bias) * scale + shift``.
        residual: optional ``(N, Cout, Hout, Wout)`` array added in the epilogue:
            ``act(v) + residual``, or ``act(v + residual)`` when
            ``residual_before_activation`` is true.
        isa: CPU instruction set of the fast kernel: None (the best this CPU has), 'avx512',
            'avx2' or 'generic' (portable C++); one the CPU lacks raises ``ValueError``. For
            testing and benchmarking the portable paths.
        algorithm: CPU algorithm of 3x3 stride-1 convolutions: None (the environment variable
            ``DEBLURCORE_CONV_ALGO``, else 'auto'), 'auto' (Winograd F(4x4, 3x3) or direct per
            layer, by a measured rule), 'direct', 'winograd' (where it applies: 3x3 kernel,
            stride 1, dilation 1), or 'winograd6': Winograd F(6x6, 3x3) in fp32 where this CPU
            has AVX-512 (``isa`` 'avx512') and the output is at least 91 columns wide, else as
            'winograd' (the float blocks of a ``precision='bf16'`` model run it).
        precision: 'fp32', or 'bf16': operands rounded to bfloat16 with float accumulation
            (CPUs with AVX512_BF16 only, ``ValueError`` elsewhere; ignored by ``reference``).
            ``deblurcore.cpu_supports_bf16()`` tells whether this CPU has it.

    Returns:
        ``(N, Cout, Hout, Wout)`` with ``Hout = (H + top + bottom - d(kh-1) - 1) // s + 1``.
    """
    run = run_opts(device, num_threads, reference)
    x = as_float32(x, "x", 4, "(N, Cin, H, W)")
    weight = as_float32(weight, "weight", 4, "(Cout, Cin, kh, kw)")
    bias = None if bias is None else as_float32(bias, "bias", 1, "(Cout,)")
    epi = _epilogue(activation, negative_slope, residual, residual_before_activation, scale,
                    shift)
    return _core.conv2d(
        x, weight, bias, as_pair(stride, "stride"), list(as_padding(padding)),
        as_pair(dilation, "dilation"), *epi, *run, _isa(isa), _precision(precision),
        _algorithm(algorithm),
    )


def conv_transpose2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    output_padding: IntPair = 0,
    dilation: IntPair = 1,
    *,
    activation: Optional[str] = None,
    negative_slope: float = 0.01,
    residual: Optional[np.ndarray] = None,
    residual_before_activation: bool = False,
    scale: Optional[np.ndarray] = None,
    shift: Optional[np.ndarray] = None,
    device: str = "cpu",
    num_threads: Optional[int] = None,
    reference: bool = False,
    isa: Optional[str] = None,
    precision: str = "fp32",
    algorithm: Optional[str] = None,
) -> np.ndarray:
    """2-D transposed convolution, like ``F.conv_transpose2d`` (groups=1).

    Args:
        x: input ``(N, Cin, H, W)``.
        weight: ``(Cin, Cout, kh, kw)``, PyTorch's layout for transposed convolutions.
        bias: ``(Cout,)`` or None.
        stride, output_padding, dilation: int or (h, w); output_padding must be
            smaller than stride or dilation.
        padding: int or (h, w) as in PyTorch, or per side (top, bottom, left, right): the
            crop of the full output (Keras Conv2DTranspose 'same' with stride 2 and a 5x5
            kernel is (1, 2, 1, 2)); output_padding must then be 0.
        activation, negative_slope, residual, residual_before_activation, scale, shift, isa,
            precision: as in :func:`conv2d`.
        algorithm: as in :func:`conv2d`, for the 4x4 stride-2 padding-1 transposed
            convolutions of upsampling layers (output 2H x 2W, fp32): their four output phases
            run as one 3x3 convolution by Winograd F(4x4, 3x3) or as direct phases.

    Returns:
        ``(N, Cout, Hout, Wout)`` with ``Hout = (H-1)s - 2p + d(kh-1) + output_padding + 1``,
        or ``(H-1)s - top - bottom + d(kh-1) + 1`` with per-side padding.
    """
    run = run_opts(device, num_threads, reference)
    x = as_float32(x, "x", 4, "(N, Cin, H, W)")
    weight = as_float32(weight, "weight", 4, "(Cin, Cout, kh, kw)")
    bias = None if bias is None else as_float32(bias, "bias", 1, "(Cout,)")
    epi = _epilogue(activation, negative_slope, residual, residual_before_activation, scale,
                    shift)
    return _core.conv_transpose2d(
        x, weight, bias, as_pair(stride, "stride"), list(as_padding(padding)),
        as_pair(output_padding, "output_padding"), as_pair(dilation, "dilation"), *epi, *run,
        _isa(isa), _precision(precision), _algorithm(algorithm),
    )


def fac(
    x: np.ndarray,
    kernel: np.ndarray,
    kernel_size: int,
    *,
    device: str = "cpu",
    num_threads: Optional[int] = None,
    reference: bool = False,
    isa: Optional[str] = None,
) -> np.ndarray:
    """Filter adaptive convolution (STFAN's KernelConv2D).

    Each pixel of each channel is filtered by its own ``k x k`` filter, with replicate
    padding of ``(k-1)//2``::

        out[n,c,y,x] = sum_{ky,kx} x[n, c, clamp(y+ky-r), clamp(x+kx-r)]
                                   * kernel[n, c*k*k + ky*k + kx, y, x]

    Args:
        x: ``(N, C, H, W)``.
        kernel: ``(N, C*k*k, H, W)``; filter channel index ``c*k*k + ky*k + kx``.
        kernel_size: k, odd.
        isa: CPU instruction set of the fast kernel, as in :func:`conv2d`.

    Returns:
        ``(N, C, H, W)``.
    """
    run = run_opts(device, num_threads, reference)
    x = as_float32(x, "x", 4, NCHW)
    kernel = as_float32(kernel, "kernel", 4, "(N, C*k*k, H, W)")
    return _core.fac(x, kernel, as_int(kernel_size, "kernel_size"), *run, _isa(isa))


def fac_backward(
    grad_out: np.ndarray,
    x: np.ndarray,
    kernel: np.ndarray,
    kernel_size: int,
    *,
    device: str = "cpu",
    num_threads: Optional[int] = None,
    reference: bool = False,
    isa: Optional[str] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`fac`: what autograd gives for replicate-pad followed by FAC.

    Args:
        grad_out: ``(N, C, H, W)``, the gradient of the loss with respect to fac's output.
        x, kernel, kernel_size: the forward arguments.
        isa: CPU instruction set of the fast kernel, as in :func:`conv2d`.

    Returns:
        ``(grad_x, grad_kernel)``: ``grad_x`` ``(N, C, H, W)`` with respect to the unpadded
        input (border pixels collect the gradients of the padding that replicates them), and
        ``grad_kernel`` ``(N, C*k*k, H, W)``.
    """
    run = run_opts(device, num_threads, reference)
    grad_out = as_float32(grad_out, "grad_out", 4, NCHW)
    x = as_float32(x, "x", 4, NCHW)
    kernel = as_float32(kernel, "kernel", 4, "(N, C*k*k, H, W)")
    gx, gk = _core.fac_backward(grad_out, x, kernel, as_int(kernel_size, "kernel_size"), *run,
                                _isa(isa))
    return gx, gk


def relu(x: np.ndarray, *, device: str = "cpu", num_threads: Optional[int] = None,
         reference: bool = False) -> np.ndarray:
    """``max(x, 0)`` elementwise, any shape."""
    return _core.unary("relu", as_float32(x, "x"), 0.0, *run_opts(device, num_threads, reference))


def leaky_relu(x: np.ndarray, negative_slope: float = 0.01, *, device: str = "cpu",
               num_threads: Optional[int] = None, reference: bool = False) -> np.ndarray:
    """``x if x > 0 else negative_slope * x`` elementwise, any shape."""
    return _core.unary("leaky_relu", as_float32(x, "x"), float(negative_slope),
                       *run_opts(device, num_threads, reference))


def sigmoid(x: np.ndarray, *, device: str = "cpu", num_threads: Optional[int] = None,
            reference: bool = False) -> np.ndarray:
    """``1 / (1 + exp(-x))`` elementwise, any shape."""
    return _core.unary("sigmoid", as_float32(x, "x"), 0.0, *run_opts(device, num_threads, reference))


def softmax(x: np.ndarray, dim: int = 1, *, device: str = "cpu",
            num_threads: Optional[int] = None, reference: bool = False) -> np.ndarray:
    """Softmax over the channels of ``(N, C, H, W)`` (only ``dim=1`` is supported)."""
    dim = as_int(dim, "dim")
    return _core.unary("softmax", as_float32(x, "x", 4, NCHW), float(dim),
                       *run_opts(device, num_threads, reference))


def add(a: np.ndarray, b: np.ndarray, *, device: str = "cpu",
        num_threads: Optional[int] = None, reference: bool = False) -> np.ndarray:
    """``a + b`` for arrays of the same shape (no broadcasting)."""
    return _core.add(as_float32(a, "a"), as_float32(b, "b"), *run_opts(device, num_threads, reference))


def concat(tensors: Sequence[np.ndarray], dim: int = 1, *, device: str = "cpu",
           num_threads: Optional[int] = None, reference: bool = False) -> np.ndarray:
    """Concatenate ``(N, Ci, H, W)`` arrays along the channels (only ``dim=1``), like ``torch.cat``."""
    if isinstance(tensors, np.ndarray) or not isinstance(tensors, (list, tuple)):
        raise TypeError("tensors must be a list or tuple of numpy arrays")
    arrays = [as_float32(t, f"tensors[{i}]", 4, NCHW) for i, t in enumerate(tensors)]
    return _core.concat(arrays, as_int(dim, "dim"), *run_opts(device, num_threads, reference))


def pad(x: np.ndarray, pad: Sequence[int], mode: str = "constant", value: float = 0.0, *,
        device: str = "cpu", num_threads: Optional[int] = None,
        reference: bool = False) -> np.ndarray:
    """Pad the last two dimensions of ``(N, C, H, W)``, like ``F.pad``.

    Args:
        pad: ``(left, right, top, bottom)``, each >= 0 (a 2-tuple pads left/right only).
        mode: 'constant' (fills ``value``), 'replicate', 'reflect' (each pad smaller than
            the dimension it reflects) or 'symmetric' (numpy.pad's mirror that includes the
            edge, ``[b a | a b c ...]``; each pad at most the dimension it mirrors).
    """
    if isinstance(pad, (int, np.integer)) or not hasattr(pad, "__len__"):
        raise TypeError(f"pad must be a sequence of 2 or 4 ints, got {pad!r}")
    if len(pad) not in (2, 4):
        raise ValueError(f"pad must have 2 or 4 entries (left, right[, top, bottom]), got {len(pad)}")
    pads = [as_int(p, "pad") for p in pad] + [0] * (4 - len(pad))
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a string, got {mode!r}")
    return _core.pad(as_float32(x, "x", 4, NCHW), pads, mode, float(value),
                     *run_opts(device, num_threads, reference))


def _deform_args(x, offset, weight, bias, stride, padding, dilation, mask) -> tuple:
    """deform_conv2d's tensor and grid arguments, checked, in the order the core takes them."""
    return (
        as_float32(x, "x", 4, "(N, Cin, H, W)"),
        as_float32(offset, "offset", 4, "(N, 2*G*kh*kw, Hout, Wout)"),
        as_float32(weight, "weight", 4, "(Cout, Cin, kh, kw)"),
        None if bias is None else as_float32(bias, "bias", 1, "(Cout,)"),
        as_pair(stride, "stride"),
        as_pair(padding, "padding"),
        as_pair(dilation, "dilation"),
        None if mask is None else as_float32(mask, "mask", 4, "(N, G*kh*kw, Hout, Wout)"),
    )


def deform_conv2d(
    x: np.ndarray,
    offset: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    mask: Optional[np.ndarray] = None,
    *,
    device: str = "cpu",
    num_threads: Optional[int] = None,
    reference: bool = False,
    precision: str = "fp32",
) -> np.ndarray:
    """Modulated deformable convolution (DCNv2), like ``torchvision.ops.deform_conv2d``.

    Same argument order and conventions as torchvision (and mmcv's
    ``ModulatedDeformConv2d``). For output pixel ``(oy, ox)`` and kernel tap
    ``k = ky*kw + kx`` of offset group ``g``, the input is sampled at::

        py = oy*stride_h - padding_h + ky*dilation_h + offset[n, g*2*kh*kw + 2k,     oy, ox]
        px = ox*stride_w - padding_w + kx*dilation_w + offset[n, g*2*kh*kw + 2k + 1, oy, ox]

    by bilinear interpolation (corners outside the image count as 0; the sample is 0 unless
    ``-1 < py < H`` and ``-1 < px < W``), multiplied by ``mask[n, g*kh*kw + k, oy, ox]``, and
    contracted with ``weight`` as in :func:`conv2d`.

    Args:
        x: input ``(N, Cin, H, W)``.
        offset: ``(N, 2*G*kh*kw, Hout, Wout)``, (dy, dx) pairs per tap; the number of offset
            groups ``G`` is inferred from it and must divide ``Cin``.
        weight: ``(Cout, Cin, kh, kw)`` (no weight groups).
        bias: ``(Cout,)`` or None.
        stride, padding, dilation: int or (h, w), of the regular sampling grid.
        mask: ``(N, G*kh*kw, Hout, Wout)`` modulation (applied as given), or None for all ones.
        precision: 'fp32', or 'bf16': the samples (interpolated and modulated in float) and
            the weights rounded to bfloat16 for the products, accumulated in float (CPUs with
            AVX512_BF16 only, ``ValueError`` elsewhere; ignored by ``reference``).

    Returns:
        ``(N, Cout, Hout, Wout)``, ``Hout = (H + 2p - d(kh-1) - 1) // s + 1``. Offset and
        mask must have exactly that spatial size (ValueError otherwise).
    """
    run = run_opts(device, num_threads, reference)
    return _core.deform_conv2d(
        *_deform_args(x, offset, weight, bias, stride, padding, dilation, mask), *run,
        _precision(precision),
    )


def deform_conv2d_backward(
    grad_out: np.ndarray,
    x: np.ndarray,
    offset: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    mask: Optional[np.ndarray] = None,
    *,
    device: str = "cpu",
    num_threads: Optional[int] = None,
    reference: bool = False,
) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray], np.ndarray, Optional[np.ndarray]]:
    """Gradients of :func:`deform_conv2d` (what autograd gives for its definition).

    Args:
        grad_out: ``(N, Cout, Hout, Wout)``, the gradient of the loss with respect to the output.
        x, offset, weight, bias, stride, padding, dilation, mask: the forward arguments.

    Returns:
        ``(grad_x, grad_offset, grad_mask, grad_weight, grad_bias)``, each of its argument's
        shape; ``grad_mask`` is None when ``mask`` is None, ``grad_bias`` when ``bias`` is.
        Where a sampling position is an integer, the offset gradient is the one-sided
        derivative from above (autograd's through ``floor``); samples outside the image (0 in
        the forward) contribute nothing.
    """
    run = run_opts(device, num_threads, reference)
    grad_out = as_float32(grad_out, "grad_out", 4, "(N, Cout, Hout, Wout)")
    args = _deform_args(x, offset, weight, bias, stride, padding, dilation, mask)
    gx, goff, gm, gw, gb = _core.deform_conv2d_backward(grad_out, *args, *run)
    return gx, goff, gm, gw, gb


_IAC_FILTERS = "(N, n*C*(2k+1), H, W)"


def iac(
    x: np.ndarray,
    filters: np.ndarray,
    n_iterations: int,
    kernel_size: int,
    reuse_vertical_filter: bool = True,
    final_activation: bool = True,
    *,
    device: str = "cpu",
    num_threads: Optional[int] = None,
    reference: bool = False,
) -> np.ndarray:
    """Iterative adaptive convolution (IAC, the adaptive layer of IFAN, CVPR 2021).

    ``n_iterations`` times, each pixel of each channel is filtered by its own vertical
    ``k``-tap filter, then by its own horizontal ``k``-tap filter (each pass with replicate
    padding of ``r = (k-1)//2``), a per-pixel bias is added and LeakyReLU(0.1) applied.
    Starting from ``f = x``, iteration ``i`` computes::

        v[n,c,y,x] = sum_t F1_i[n, c*k+t, y, x] * f[n, c, clamp(y+t-r), x]
        u[n,c,y,x] = sum_t G_i [n, c*k+t, y, x] * v[n, c, y, clamp(x+t-r)]
        f = leaky_relu(u + b_i, 0.1)

    The filter channels are laid out as the official IFAN filter head produces them:
    ``n`` blocks ``(F1_i, F2_i)`` of ``C*k`` channels each, then ``n`` bias blocks ``b_i`` of
    ``C`` channels (``F1_i`` at channel ``2*C*k*i``, ``F2_i`` at ``2*C*k*i + C*k``, ``b_i`` at
    ``2*C*k*n + C*i``).

    Args:
        x: ``(N, C, H, W)``.
        filters: ``(N, n*C*(2k+1), H, W)``.
        n_iterations: n >= 1.
        kernel_size: k, odd.
        reuse_vertical_filter: True (default) uses ``G_i = F1_i`` for the horizontal pass,
            as the official code does and as every released IFAN checkpoint was trained;
            ``F2`` is then never read. False uses ``G_i = F2_i``, the paper's intent.
        final_activation: False skips the LeakyReLU after the last iteration.

    Returns:
        ``(N, C, H, W)``.
    """
    run = run_opts(device, num_threads, reference)
    x = as_float32(x, "x", 4, NCHW)
    filters = as_float32(filters, "filters", 4, _IAC_FILTERS)
    return _core.iac(
        x, filters, as_int(n_iterations, "n_iterations"), as_int(kernel_size, "kernel_size"),
        as_bool(reuse_vertical_filter, "reuse_vertical_filter"),
        as_bool(final_activation, "final_activation"), *run,
    )


def iac_backward(
    grad_out: np.ndarray,
    x: np.ndarray,
    filters: np.ndarray,
    n_iterations: int,
    kernel_size: int,
    reuse_vertical_filter: bool = True,
    final_activation: bool = True,
    *,
    device: str = "cpu",
    num_threads: Optional[int] = None,
    reference: bool = False,
) -> Tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`iac` (what autograd gives for the official formulation).

    The forward is recomputed from ``x`` and ``filters``; no state is kept between calls.
    The derivative of LeakyReLU at 0 is taken as 0.1, as in PyTorch.

    Args:
        grad_out: ``(N, C, H, W)``, the gradient of the loss with respect to iac's output.
        x, filters, n_iterations, kernel_size, reuse_vertical_filter, final_activation: the
            forward arguments.

    Returns:
        ``(grad_x, grad_filters)``: ``grad_x`` ``(N, C, H, W)`` (border pixels collect the
        gradients of the padding that replicates them) and ``grad_filters`` with the shape of
        ``filters``, zero in the channels the forward does not read (every ``F2_i`` block when
        ``reuse_vertical_filter`` is true).
    """
    run = run_opts(device, num_threads, reference)
    grad_out = as_float32(grad_out, "grad_out", 4, NCHW)
    x = as_float32(x, "x", 4, NCHW)
    filters = as_float32(filters, "filters", 4, _IAC_FILTERS)
    gx, gf = _core.iac_backward(
        grad_out, x, filters, as_int(n_iterations, "n_iterations"),
        as_int(kernel_size, "kernel_size"),
        as_bool(reuse_vertical_filter, "reuse_vertical_filter"),
        as_bool(final_activation, "final_activation"), *run,
    )
    return gx, gf


def mmcv_flat_reinterpret(x: np.ndarray, height: int, width: int, *, device: str = "cpu",
                          num_threads: Optional[int] = None, reference: bool = False) -> np.ndarray:
    """``(N, C, h, w) -> (N, C, height, width)``: each sample's buffer read with the strides of
    ``(C, height, width)``, as mmcv 1.3.9's modulated deformable conv reads offset and mask maps
    whose size is not the output's (ASPDC's dilation-0 branch). Elements past the end of the
    sample's ``C*h*w`` values are 0 (mmcv reads other memory there)."""
    return _core.mmcv_flat_reinterpret(as_float32(x, "x", 4, NCHW), as_int(height, "height"),
                                       as_int(width, "width"), *run_opts(device, num_threads, reference))
