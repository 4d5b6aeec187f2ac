"""``nn.Module`` layers named and parameterised like the official ones, on deblurcore's kernels.

* :class:`KernelConv2D`: STFAN's FAC layer (the official CUDA extension's module). Swap it in
  for the official one without compiling anything; the forward is ``(input, kernel)``.
* :class:`IAC`: IFAN's iterative adaptive convolution (the official code's ``IAC`` step).
* :class:`ModulatedDeformConv2d`: mmcv's DCNv2 layer (``weight``, ``bias`` state_dict names;
  forward ``(x, offset, mask)``); :class:`ModulatedDeformConv2dPack` adds mmcv's offset and
  mask predictor ``conv_offset`` (zero-initialised, so training starts from a plain conv).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import functional as F


class KernelConv2D(nn.Module):
    """STFAN's filter adaptive convolution: ``forward(input, kernel)`` with ``input``
    ``(N, C, H, W)`` (unpadded: the replicate padding of the official module's
    ``ReplicationPad2d`` is part of the op) and ``kernel`` ``(N, C*k*k, H, W)``; STFAN uses
    ``kernel_size=5``."""

    def __init__(self, kernel_size: int = 5):
        super().__init__()
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
        self.kernel_size = kernel_size

    def forward(self, input: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return F.fac(input, kernel, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


class IAC(nn.Module):
    """IFAN's iterative adaptive convolution: ``forward(x, filters)`` (see
    :func:`deblurcore.torch.iac` for the filter layout)."""

    def __init__(self, n_iterations: int, kernel_size: int, reuse_vertical_filter: bool = True,
                 final_activation: bool = True):
        super().__init__()
        self.n_iterations = n_iterations
        self.kernel_size = kernel_size
        self.reuse_vertical_filter = reuse_vertical_filter
        self.final_activation = final_activation

    def forward(self, x: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
        return F.iac(x, filters, self.n_iterations, self.kernel_size,
                     self.reuse_vertical_filter, self.final_activation)

    def extra_repr(self) -> str:
        return (f"n_iterations={self.n_iterations}, kernel_size={self.kernel_size}, "
                f"reuse_vertical_filter={self.reuse_vertical_filter}, "
                f"final_activation={self.final_activation}")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


class ModulatedDeformConv2d(nn.Module):
    """mmcv's ``ModulatedDeformConv2d``: ``forward(x, offset, mask)``, ``deform_groups`` offset
    groups (inferred from ``offset`` at run time; the argument documents the intent). Weight
    groups (``groups`` > 1) are not supported."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, deform_groups: int = 1, bias: bool = True):
        super().__init__()
        if groups != 1:
            raise ValueError(f"groups must be 1 (weight groups are not supported), got {groups}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)
        self.deform_groups = deform_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # mmcv's initialisation: uniform in +-1/sqrt(fan_in), bias zero.
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        nn.init.uniform_(self.weight, -1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.deform_conv2d(x, offset, mask, self.weight, self.bias, self.stride,
                               self.padding, self.dilation)


class ModulatedDeformConv2dPack(ModulatedDeformConv2d):
    """DCNv2 with its own offset and mask predictor, as mmcv's ``ModulatedDeformConv2dPack``:
    ``conv_offset`` (3*deform_groups*kh*kw outputs) gives offsets ``cat(o1, o2)`` and mask
    ``sigmoid(m)`` from ``o1, o2, m = chunk(conv_offset(x), 3)``; ``forward(x)``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kh, kw = self.kernel_size
        self.conv_offset = nn.Conv2d(self.in_channels, self.deform_groups * 3 * kh * kw,
                                     self.kernel_size, self.stride, self.padding, self.dilation,
                                     bias=True)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        o1, o2, m = torch.chunk(self.conv_offset(x), 3, dim=1)
        return super().forward(x, torch.cat((o1, o2), dim=1), torch.sigmoid(m))
