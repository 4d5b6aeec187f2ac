"""The reference models as ONNX graphs of standard ops, for the ONNX Runtime side of
benchmarks.models.

Each ``<model>_onnx(net, h, w, fac)`` returns what torch.onnx.export needs for that model at
(h, w): ``(module, example inputs, input names, output names, patches)``, the patches being
context managers that swap pieces with no ONNX export (Tensor.unfold, mmcv's deformable conv)
for the same math in exportable ops while the export runs.
"""

from __future__ import annotations

from unittest import mock

#: Inputs of the exported STFAN step, in the order of DeblurNet.forward.
STFAN_INPUTS = ("img_blur", "last_img_blur", "output_last_img", "output_last_fea")


def _fac_slices(x, kernel, k):
    """STFAN's FAC as k*k shifted slices of the replicate-padded input, multiplied and added
    (same math as unfold + sum; only the summation order differs)."""
    import torch.nn.functional as F

    n, c, h, w = x.shape
    r = (k - 1) // 2
    xp = F.pad(x, (r, r, r, r), mode="replicate")
    taps = kernel.reshape(n, c, k * k, h, w)
    out = None
    for t in range(k * k):
        ky, kx = divmod(t, k)
        term = xp[:, :, ky : ky + h, kx : kx + w] * taps[:, :, t]
        out = term if out is None else out + term
    return out


def _sac_slices(f, kernel1, k):
    """IFAN's separable pass (vertical then horizontal, both with kernel1, replicate-padded in
    their own direction) as k shifted slices per pass instead of Tensor.unfold."""
    import torch.nn.functional as F

    n, c, h, w = f.shape
    r = (k - 1) // 2
    taps = kernel1.reshape(n, c, k, h, w)
    fp = F.pad(f, (0, 0, r, r), mode="replicate")
    v = None
    for j in range(k):
        term = fp[:, :, j : j + h, :] * taps[:, :, j]
        v = term if v is None else v + term
    vp = F.pad(v, (r, r, 0, 0), mode="replicate")
    out = None
    for j in range(k):
        term = vp[:, :, :, j : j + w] * taps[:, :, j]
        out = term if out is None else out + term
    return out


def _deform_conv_function():
    """An autograd Function that exports as one ONNX DeformConv node (3x3, stride 1, pad 1,
    one group and one offset group: the DCN of ASPDC).

    Its forward only gives the tracer an output of the right shape; the exported graph's
    numbers are checked against the reference DCN by the check worker."""
    import torch

    class DeformConv3x3(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, offset, mask, weight, bias):
            state = torch._C._get_tracing_state()
            torch._C._set_tracing_state(None)  # plain ints for the shape, nothing recorded
            try:
                return x.new_zeros(x.shape[0], weight.shape[0], x.shape[2], x.shape[3])
            finally:
                torch._C._set_tracing_state(state)

        @staticmethod
        def symbolic(g, x, offset, mask, weight, bias):
            # ONNX input order: X, W, offset, B, mask; offset holds (dy, dx) per tap, as here.
            return g.op(
                "DeformConv",
                x,
                weight,
                offset,
                bias,
                mask,
                kernel_shape_i=[3, 3],
                strides_i=[1, 1],
                pads_i=[1, 1, 1, 1],
                dilations_i=[1, 1],
                group_i=1,
                offset_group_i=1,
            )

    return DeformConv3x3


def stfan_onnx(net, h, w, fac):
    import torch

    from tests.torch_models import stfan

    patches = [mock.patch.object(stfan, "fac_reference", _fac_slices)] if fac == "slices" else []
    inputs = tuple(torch.zeros(1, 3, h, w) for _ in range(3)) + (
        torch.zeros(1, 256, h // 4, w // 4),
    )
    return net, inputs, list(STFAN_INPUTS), ["output_img", "output_fea"], patches


def aspdc_onnx(net, h, w, fac):
    import torch
    import torch.nn.functional as F

    from tests.torch_models.aspdc import DCN, HallucinationModule

    deform = _deform_conv_function()

    def dcn_forward(mod):
        return lambda x, offset, mask: deform.apply(x, offset, mask, mod.weight, mod.bias)

    def d0_forward(mod):
        # mmcv reads the (n, 9, h-2, w-2) mask as an (n, 9, h, w) buffer: the same flat
        # elements in order, zeros past its end (spec §4.3); the offsets are all zero.
        def forward(x):
            n, _, hh, ww = x.shape
            flat = torch.sigmoid(mod.m_conv(x)).reshape(n, -1)
            mask = F.pad(flat, (0, 9 * hh * ww - flat.shape[1])).reshape(n, 9, hh, ww)
            offset = x.new_zeros(n, 18, hh, ww)
            return mod.dconv(x, offset, mask), offset

        return forward

    for mod in net.modules():
        if isinstance(mod, DCN):
            mod.forward = dcn_forward(mod)
        elif isinstance(mod, HallucinationModule) and mod.dilation == 0:
            if mod.d0_mode != "mmcv_flat":
                raise ValueError(f"aspdc export: d0_mode {mod.d0_mode!r} not handled")
            mod.forward = d0_forward(mod)

    class Graph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, rgb):
            return self.net(rgb * 2 - 1)[0]

    return Graph(), (torch.zeros(1, 3, h, w),), ["rgb"], ["output"], []


def ifan_onnx(net, h, w, fac):
    import torch

    from tests.torch_models import ifan

    return (
        net,
        (torch.zeros(1, 3, h, w),),
        ["C"],
        ["output"],
        [mock.patch.object(ifan, "sac", _sac_slices)],
    )
