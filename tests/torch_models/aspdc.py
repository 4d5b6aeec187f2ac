"""ASPDC's DeblurringNet in PyTorch, written from the reference spec (a test oracle only).

Module names reproduce the official state_dict keys (``en_res_group1_2.hallucination_d1.
hallucination_conv.p_conv.weight``, ...), so ``state_dict()`` of this module is what the
official checkpoint holds under ``deblurring_state_dict``. mmcv's ModulatedDeformConv2d is
replaced by :func:`modulated_deform_conv2d`, a pure-torch DCNv2 with explicit bilinear gathers.
The dilation-0 branch reproduces how mmcv 1.3.9 reads its too-small mask and offset buffers
(spec §4.3), with the reads past the end of the buffers taken as 0.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

SLOPE = 0.1


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def modulated_deform_conv2d(
    x, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None
):
    """DCNv2 (torchvision.ops.deform_conv2d semantics) in the dtype of ``x``, any offset groups.

    offset (N, 2*G*kh*kw, Hout, Wout) holds (dy, dx) per tap k = ky*kw + kx; a sample is 0
    unless -1 < py < H and -1 < px < W, and each bilinear corner outside the image counts as 0.
    """
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, Cin, H, W = x.shape
    Cout, _, kh, kw = weight.shape
    taps = kh * kw
    Hout = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wout = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    assert offset.shape[0] == N and offset.shape[2:] == (Hout, Wout), "offset must be output-sized"
    G = offset.shape[1] // (2 * taps)
    cpg = Cin // G
    dt = x.dtype
    base_y = (torch.arange(Hout, dtype=dt) * sh - ph)[:, None]
    base_x = (torch.arange(Wout, dtype=dt) * sw - pw)[None, :]
    cols = x.new_zeros(N, Cin, taps, Hout * Wout)
    for g in range(G):
        xs = x[:, g * cpg : (g + 1) * cpg].reshape(N, cpg, H * W)
        for k in range(taps):
            ky, kx = divmod(k, kw)
            py = base_y + ky * dh + offset[:, g * 2 * taps + 2 * k]
            px = base_x + kx * dw + offset[:, g * 2 * taps + 2 * k + 1]
            inside = (py > -1) & (py < H) & (px > -1) & (px < W)
            y0, x0 = torch.floor(py), torch.floor(px)
            ly, lx = py - y0, px - x0
            hy, hx = 1 - ly, 1 - lx
            val = x.new_zeros(N, cpg, Hout * Wout)
            for cy, cx, wgt in ((0, 0, hy * hx), (0, 1, hy * lx), (1, 0, ly * hx), (1, 1, ly * lx)):
                yy, xx = y0 + cy, x0 + cx
                ok = inside & (yy >= 0) & (yy <= H - 1) & (xx >= 0) & (xx <= W - 1)
                idx = (yy.clamp(0, H - 1) * W + xx.clamp(0, W - 1)).long().reshape(N, 1, -1)
                got = torch.gather(xs, 2, idx.expand(N, cpg, -1))
                val = val + got * (wgt * ok).reshape(N, 1, -1)
            if mask is not None:
                val = val * mask[:, g * taps + k].reshape(N, 1, -1)
            cols[:, g * cpg : (g + 1) * cpg, k] = val
    out = torch.matmul(weight.reshape(Cout, Cin * taps), cols.reshape(N, Cin * taps, Hout * Wout))
    out = out.reshape(N, Cout, Hout, Wout)
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out


def mmcv_flat_view(small, h, w):
    """What mmcv 1.3.9 reads from a (N, C, hs, ws) buffer indexed as (N, C, h, w).

    Element (c, y, x) of image n is the flat element f = c*h*w + y*w + x of that image's
    buffer, decoded back to (kk, yy, xx) of the small layout; f past the end of the buffer
    (an out-of-bounds read in the official kernel) gives 0. Written with explicit index
    arithmetic (spec §4.3), independently of the runtime's buffer copy.
    """
    N, C, hs, ws = small.shape
    f = torch.arange(C * h * w).reshape(C, h, w)
    inside = f < C * hs * ws
    fc = f.clamp(max=C * hs * ws - 1)
    kk, rem = fc // (hs * ws), fc % (hs * ws)
    yy, xx = rem // ws, rem % ws
    picked = small[:, kk, yy, xx]  # (N, C, h, w)
    return picked * inside.to(small.dtype)


class DCN(nn.Module):
    """Stand-in for mmcv ModulatedDeformConv2d(c, c, 3, padding=1): parameters weight, bias."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(c, c, 3, 3))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x, offset, mask):
        return modulated_deform_conv2d(x, offset, self.weight, self.bias, 1, 1, 1, mask)


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(SLOPE), nn.Conv2d(c, c, 3, 1, 1)
        )

    def forward(self, x):
        return x + self.model(x)


class DeformConv(nn.Module):
    """modules.py DeformConv: offset/mask predictors with the atrous dilation, DCN with none."""

    def __init__(self, c, d):
        super().__init__()
        self.p_conv = nn.Conv2d(c, 18, 3, 1, d, dilation=d)
        self.m_conv = nn.Conv2d(c, 9, 3, 1, d, dilation=d)
        self.dconv = DCN(c)

    def forward(self, x):
        offset = self.p_conv(x)
        mask = torch.sigmoid(self.m_conv(x))
        return self.dconv(x, offset, mask), offset


class HallucinationModule(nn.Module):
    def __init__(self, c, dilation, d0_mode="mmcv_flat"):
        super().__init__()
        self.dilation = dilation
        self.d0_mode = d0_mode
        if dilation == 0:
            # Padding 0 as in the original; "intended" pads by 1 (an aligned per-pixel mask).
            self.m_conv = nn.Conv2d(c, 9, 3, 1, 0 if d0_mode == "mmcv_flat" else 1)
            self.dconv = DCN(c)
        else:
            self.hallucination_conv = DeformConv(c, dilation)

    def forward(self, x):
        if self.dilation != 0:
            return self.hallucination_conv(x)
        h, w = x.shape[2:]
        s = torch.sigmoid(self.m_conv(x))  # (N, 9, h-2, w-2)
        if self.d0_mode == "intended":
            return self.dconv(x, x.new_zeros(x.shape[0], 18, h, w), s), None
        offset = torch.zeros_like(s.repeat(1, 2, 1, 1))
        # mmcv reads both buffers with output-sized strides (per image: batch-1 semantics).
        mask = mmcv_flat_view(s, h, w)
        offset = mmcv_flat_view(offset, h, w)
        return self.dconv(x, offset, mask), offset


class HallucinationResBlock(nn.Module):
    def __init__(self, c=128, dilations=(0, 1, 2, 4), d0_mode="mmcv_flat"):
        super().__init__()
        self.res_conv = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(SLOPE))
        self.hallucination_d0 = HallucinationModule(c, dilations[0], d0_mode)
        self.hallucination_d1 = HallucinationModule(c, dilations[1])
        self.hallucination_d2 = HallucinationModule(c, dilations[2])
        self.hallucination_d3 = HallucinationModule(c, dilations[3])
        self.mask_conv = nn.Sequential(
            nn.Conv2d(c, c, 3, 1, 1),
            nn.LeakyReLU(SLOPE),
            ResBlock(c),
            ResBlock(c),
            nn.Conv2d(c, 4, 1),
        )
        self.fusion_conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        r = self.res_conv(x)
        d0, _ = self.hallucination_d0(r)
        d1, o1 = self.hallucination_d1(r)
        d2, o2 = self.hallucination_d2(r)
        d3, o3 = self.hallucination_d3(r)
        a = torch.softmax(self.mask_conv(x), dim=1)
        s = d0 * a[:, 0:1] + d1 * a[:, 1:2] + d2 * a[:, 2:3] + d3 * a[:, 3:4]
        return self.fusion_conv(s) + x, torch.cat([o1, o2, o3], 1)


class DeblurringNet(nn.Module):
    STAGES = (
        "en_res_group1",
        "en_res_group2",
        "en_res_group3",
        "de_res_group3",
        "de_res_group2",
        "de_res_group1",
    )

    def __init__(self, d0_mode="mmcv_flat"):
        super().__init__()
        lrelu = nn.LeakyReLU(SLOPE)
        self.head = nn.Sequential(
            nn.Conv2d(3, 32, 3, 1, 1),
            lrelu,
            ResBlock(32),
            ResBlock(32),
            nn.Conv2d(32, 64, 3, 2, 1),
            lrelu,
            nn.Conv2d(64, 128, 3, 2, 1),
            lrelu,
        )
        for s in self.STAGES:
            setattr(self, s + "_1", nn.Sequential(ResBlock(128), ResBlock(128)))
            setattr(self, s + "_2", HallucinationResBlock(128, d0_mode=d0_mode))
        self.dense_conv = nn.Sequential(nn.Conv2d(768, 128, 3, 1, 1), lrelu)
        self.tail = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 3, 2, 1, 1),
            lrelu,
            nn.ConvTranspose2d(64, 32, 3, 2, 1, 1),
            lrelu,
            nn.Conv2d(32, 3, 3, 1, 1),
        )

    def forward(self, rgb):
        x = self.head(rgb)
        feats = []
        for s in self.STAGES:
            x, _ = getattr(self, s + "_2")(getattr(self, s + "_1")(x))
            feats.append(x)
        res = self.tail(self.dense_conv(torch.cat(feats, 1)))
        return res + rgb, res


def random_state_dict(seed=0):
    """Random weights that keep activations moderate and exercise the deformable sampling.

    Convs get N(0, 2/fan_in) weights (residual branches scaled down); every p_conv is scaled so
    that its offsets are fractional and a few pixels large (std 1-3 px, plus a random per-tap
    bias of up to 1.5 px), every m_conv so that the masks spread over (0, 1), and the 1x1
    branch-logit conv so that the 4-way softmax is far from uniform.
    """
    g = torch.Generator().manual_seed(seed)
    net = DeblurringNet()
    sd = OrderedDict()
    for name, t in net.state_dict().items():
        if name.endswith(".weight"):
            fan_in = (
                t.shape[0] * 9
                if name.startswith("tail.0") or name.startswith("tail.2")
                else t[0].numel()
            )
            std = (2.0 / fan_in) ** 0.5
            if ".model.2." in name or "fusion_conv" in name:
                std *= 0.3
            if "p_conv" in name:
                std *= 1.5
            if "m_conv" in name:
                std *= 1.5
            if "mask_conv.4" in name:
                std *= 2.0
            if name == "tail.4.weight":
                std *= 0.3
            sd[name] = torch.randn(t.shape, generator=g) * std
        else:
            sd[name] = torch.randn(t.shape, generator=g) * 0.05
            if "p_conv" in name:
                sd[name] = (torch.rand(t.shape, generator=g) * 2 - 1) * 1.5
    return sd
