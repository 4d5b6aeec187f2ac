"""STFAN's DeblurNet in PyTorch, written from the reference spec (a test oracle only).

Module names reproduce the official state_dict keys (``conv1_2.stem.0.weight``, ...), so a
``state_dict()`` of this module is what the official checkpoint holds under
``deblurnet_state_dict`` (there with a ``module.`` prefix).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

SLOPE = 0.1


def conv(cin, cout, k=3, stride=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=True), nn.LeakyReLU(SLOPE)
    )


def upconv(cin, cout):
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=True), nn.LeakyReLU(SLOPE))


class ResnetBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(SLOPE), nn.Conv2d(c, c, 3, 1, 1)
        )

    def forward(self, x):
        return self.stem(x) + x


def fac_reference(x, kernel, k):
    """FAC: replicate padding, per-pixel per-channel k x k filter, channel c*k*k + ky*k + kx."""
    n, c, h, w = x.shape
    r = (k - 1) // 2
    patches = F.unfold(F.pad(x, (r, r, r, r), mode="replicate"), k)  # (n, c*k*k, h*w)
    return (patches.view(n, c, k * k, h, w) * kernel.view(n, c, k * k, h, w)).sum(2)


class DeblurNet(nn.Module):
    def __init__(self):
        super().__init__()
        c1, c2, c3, ks = 32, 64, 128, 5
        self.fea = conv(2 * c3, c3)
        self.conv1_1 = conv(3, c1)
        self.conv1_2 = ResnetBlock(c1)
        self.conv1_3 = ResnetBlock(c1)
        self.conv2_1 = conv(c1, c2, stride=2)
        self.conv2_2 = ResnetBlock(c2)
        self.conv2_3 = ResnetBlock(c2)
        self.conv3_1 = conv(c2, c3, stride=2)
        self.conv3_2 = ResnetBlock(c3)
        self.conv3_3 = ResnetBlock(c3)
        self.upconv2_u = upconv(2 * c3, c2)
        self.upconv2_2 = ResnetBlock(c2)
        self.upconv2_1 = ResnetBlock(c2)
        self.upconv1_u = upconv(c2, c1)
        self.upconv1_2 = ResnetBlock(c1)
        self.upconv1_1 = ResnetBlock(c1)
        self.img_prd = conv(c1, 3)
        self.kconv1_1 = conv(9, c1)
        self.kconv1_2 = ResnetBlock(c1)
        self.kconv1_3 = ResnetBlock(c1)
        self.kconv2_1 = conv(c1, c2, stride=2)
        self.kconv2_2 = ResnetBlock(c2)
        self.kconv2_3 = ResnetBlock(c2)
        self.kconv3_1 = conv(c2, c3, stride=2)
        self.kconv3_2 = ResnetBlock(c3)
        self.kconv3_3 = ResnetBlock(c3)
        self.fac_warp = nn.Sequential(
            conv(c3, c3), ResnetBlock(c3), ResnetBlock(c3), conv(c3, c3 * ks * ks, 1)
        )
        self.kconv4 = conv(c3 * ks * ks, c3, 1)
        self.fac_deblur = nn.Sequential(
            conv(2 * c3, c3), ResnetBlock(c3), ResnetBlock(c3), conv(c3, c3 * ks * ks, 1)
        )
        self.ks = ks

    def forward(self, img_blur, last_img_blur, output_last_img, output_last_fea):
        merge = torch.cat([img_blur, last_img_blur, output_last_img], 1)
        kconv1 = self.kconv1_3(self.kconv1_2(self.kconv1_1(merge)))
        kconv2 = self.kconv2_3(self.kconv2_2(self.kconv2_1(kconv1)))
        kconv3 = self.kconv3_3(self.kconv3_2(self.kconv3_1(kconv2)))
        kernel_warp = self.fac_warp(kconv3)
        kconv4 = self.kconv4(kernel_warp)
        kernel_deblur = self.fac_deblur(torch.cat([kconv3, kconv4], 1))

        conv1_d = self.conv1_3(self.conv1_2(self.conv1_1(img_blur)))
        conv2_d = self.conv2_3(self.conv2_2(self.conv2_1(conv1_d)))
        conv3_d = self.conv3_3(self.conv3_2(self.conv3_1(conv2_d)))
        conv3_d_k = fac_reference(conv3_d, kernel_deblur, self.ks)
        if output_last_fea is None:
            output_last_fea = torch.cat([conv3_d, conv3_d], 1)
        conv_a_k = fac_reference(self.fea(output_last_fea), kernel_warp, self.ks)
        conv3 = torch.cat([conv3_d_k, conv_a_k], 1)

        upconv2 = self.upconv2_1(self.upconv2_2(self.upconv2_u(conv3)))
        upconv1 = self.upconv1_1(self.upconv1_2(self.upconv1_u(upconv2)))
        output_img = self.img_prd(upconv1) + img_blur
        return output_img, conv3


def run_clip(net, frames):
    """The official recurrence over BGR (1, 3, H, W) frames in [0, 1]; returns raw outputs."""
    outputs = []
    last_blur = last_out = last_fea = None
    with torch.no_grad():
        for frame in frames:
            if last_blur is None:
                last_blur, last_out = frame, frame
            out, fea = net(frame, last_blur, last_out, last_fea)
            outputs.append(out)
            last_blur, last_out, last_fea = frame, out.clamp(0, 1), fea
    return outputs


def random_state_dict(seed=0):
    """Random weights with a scale that keeps activations and FAC filters of moderate size.

    Convs get N(0, gain/fan_in) weights (so each layer roughly preserves the activation scale
    through LeakyReLU and residual sums) and small random biases; the filter heads' last 1x1
    conv is scaled so that the 25 taps of a FAC filter vary per pixel and sum to about 1, and
    img_prd so that the residual added to the frame stays in the tenths.
    """
    torch.manual_seed(seed)
    net = DeblurNet()
    sd = OrderedDict()
    for name, tensor in net.state_dict().items():
        if name.endswith(".weight"):
            transposed = name.startswith("upconv") and name.endswith("_u.0.weight")
            fan_in = tensor.shape[0] * 4 if transposed else tensor[0].numel()
            std = (2.0 / fan_in) ** 0.5
            if "stem.2" in name:
                std *= 0.3  # residual branches add onto their input
            if name in ("fac_warp.3.0.weight", "fac_deblur.3.0.weight"):
                std *= 0.04
            if name == "img_prd.0.weight":
                std *= 0.4
            sd[name] = torch.randn(tensor.shape) * std
        else:
            sd[name] = torch.randn(tensor.shape) * 0.02
    # With these biases the filters sum to about 1 and the carried feature keeps a constant
    # scale along the recurrence instead of growing from frame to frame.
    sd["fac_warp.3.0.bias"] = torch.full_like(sd["fac_warp.3.0.bias"], 0.02)
    sd["fac_deblur.3.0.bias"] = torch.full_like(sd["fac_deblur.3.0.bias"], 0.02)
    return sd
