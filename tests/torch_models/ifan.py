"""IFAN's deblurring Network in PyTorch, written from the reference spec (a test oracle only).

Module names reproduce the official state_dict keys (``conv4_4.1.stem.0.0.weight``,
``DME.3.weight``, ``F.3.weight``, ...), so ``state_dict()`` is what the official checkpoint
holds under ``module.Network.``. The IAC follows the official code exactly, including its
horizontal pass reusing the vertical filter F1 (F2 is computed by F.3 and never read) and the
LeakyReLU after every iteration.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

SLOPE = 0.1
CH1, CH2, CH3, CH4 = 32, 64, 128, 128
FS = 3  # IAC filter length
ROWS_PER_ITERATION = CH4 * FS * 2 + CH4  # 896


def conv(cin, cout, k=3, stride=1, act=True):
    c = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=True)
    return nn.Sequential(c, nn.LeakyReLU(SLOPE)) if act else c


def upconv(cin, cout):
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=True), nn.LeakyReLU(SLOPE))


class ResnetBlock(nn.Module):
    """x = lrelu(x + stem_i(x)) for each unit; plus the block input when res_num > 1."""

    def __init__(self, c, res_num):
        super().__init__()
        self.stem = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(SLOPE), nn.Conv2d(c, c, 3, 1, 1))
            for _ in range(res_num)
        )

    def forward(self, x):
        t = x
        for unit in self.stem:
            x = F.leaky_relu(x + unit(x), SLOPE)
        if len(self.stem) > 1:
            x = x + t
        return x


def sac(f, kernel1, k):
    """The official SAC as the checkpoints were trained: vertical then horizontal pass, both
    with kernel1; each pass replicate-pads its own direction, torch.mul then torch.sum."""
    n, c, h, w = f.shape
    r = (k - 1) // 2
    taps = kernel1.reshape(n, c, k, h, w).permute(0, 1, 3, 4, 2)  # (n, c, h, w, k)
    col = F.pad(f, (0, 0, r, r), mode="replicate").unfold(2, k, 1)
    v = torch.sum(torch.mul(col, taps), -1)
    row = F.pad(v, (r, r, 0, 0), mode="replicate").unfold(3, k, 1)
    return torch.sum(torch.mul(row, taps), -1)


def iac(feat, filters, n_iter, c=CH4, k=FS):
    """N iterations; filters = N blocks (F1_i, F2_i) of c*k channels, then N biases of c."""
    ck = c * k
    f = feat
    for i in range(n_iter):
        f1 = filters[:, 2 * ck * i : 2 * ck * i + ck]
        b = filters[:, 2 * ck * n_iter + c * i : 2 * ck * n_iter + c * (i + 1)]
        f = F.leaky_relu(sac(f, f1, k) + b, SLOPE)
    return f


class Network(nn.Module):
    def __init__(self, n_iter=17, dual=False):
        super().__init__()
        self.n_iter = n_iter
        self.dual = dual
        self.conv1_1, self.conv1_2, self.conv1_3 = conv(3, CH1), conv(CH1, CH1), conv(CH1, CH1)
        self.conv2_1, self.conv2_2, self.conv2_3 = (
            conv(CH1, CH2, stride=2),
            conv(CH2, CH2),
            conv(CH2, CH2),
        )
        self.conv3_1, self.conv3_2, self.conv3_3 = (
            conv(CH2, CH3, stride=2),
            conv(CH3, CH3),
            conv(CH3, CH3),
        )
        self.conv4_1, self.conv4_2, self.conv4_3 = (
            conv(CH3, CH4, stride=2),
            conv(CH4, CH4),
            conv(CH4, CH4),
        )
        self.conv4_4 = nn.Sequential(
            conv(CH4 * 2, CH4), ResnetBlock(CH4, 2), ResnetBlock(CH4, 2), conv(CH4, CH4)
        )
        self.conv_res = nn.Sequential(conv(CH4, CH4), ResnetBlock(CH4, 3), conv(CH4, CH4))
        self.upconv3_u, self.upconv3_1, self.upconv3_2 = (
            upconv(CH4, CH3),
            ResnetBlock(CH3, 1),
            ResnetBlock(CH3, 1),
        )
        self.upconv2_u, self.upconv2_1, self.upconv2_2 = (
            upconv(CH3, CH2),
            ResnetBlock(CH2, 1),
            ResnetBlock(CH2, 1),
        )
        self.upconv1_u, self.upconv1_1, self.upconv1_2 = (
            upconv(CH2, CH1),
            ResnetBlock(CH1, 1),
            ResnetBlock(CH1, 1),
        )
        self.out_res = conv(CH1, 3)
        self.kconv1_1 = conv(6 if dual else 3, CH1)
        self.kconv1_2, self.kconv1_3 = conv(CH1, CH1), conv(CH1, CH1)
        self.kconv2_1, self.kconv2_2, self.kconv2_3 = (
            conv(CH1, CH2, stride=2),
            conv(CH2, CH2),
            conv(CH2, CH2),
        )
        self.kconv3_1, self.kconv3_2, self.kconv3_3 = (
            conv(CH2, CH3, stride=2),
            conv(CH3, CH3),
            conv(CH3, CH3),
        )
        self.kconv4_1, self.kconv4_2, self.kconv4_3 = (
            conv(CH3, CH4, stride=2),
            conv(CH4, CH4),
            conv(CH4, CH4),
        )
        self.DME = nn.Sequential(
            conv(CH4, CH4), ResnetBlock(CH4, 2), ResnetBlock(CH4, 2), conv(CH4, 1, act=False)
        )
        self.conv_DME = conv(1, CH4)
        self.F = nn.Sequential(
            conv(CH4, CH4),
            ResnetBlock(CH4, 2),
            ResnetBlock(CH4, 2),
            conv(CH4, ROWS_PER_ITERATION * n_iter, k=1, act=False),
        )

    def forward(self, C, R=None, L=None, return_intermediates=False):
        """Returns the raw ``out`` (before the eval-mode clip), as (1, 3, H, W)."""
        f1 = self.conv1_3(self.conv1_2(self.conv1_1(C)))
        f2 = self.conv2_3(self.conv2_2(self.conv2_1(f1)))
        f3 = self.conv3_3(self.conv3_2(self.conv3_1(f2)))
        f_C = self.conv4_3(self.conv4_2(self.conv4_1(f3)))

        k_in = torch.cat([R, L], 1) if self.dual else C
        f = self.kconv1_3(self.kconv1_2(self.kconv1_1(k_in)))
        f = self.kconv2_3(self.kconv2_2(self.kconv2_1(f)))
        f = self.kconv3_3(self.kconv3_2(self.kconv3_1(f)))
        f = self.kconv4_3(self.kconv4_2(self.kconv4_1(f)))
        DM = self.DME(f)
        f = self.conv4_4(torch.cat([f, self.conv_DME(DM)], 1))
        filters = self.F(f)
        x = iac(f_C, filters, self.n_iter)
        f_iac = x

        x = self.conv_res(x)
        x = self.upconv3_2(self.upconv3_1(self.upconv3_u(x) + f3))
        x = self.upconv2_2(self.upconv2_1(self.upconv2_u(x) + f2))
        x = self.upconv1_2(self.upconv1_1(self.upconv1_u(x) + f1))
        out = self.out_res(x) + C
        if return_intermediates:
            return out, {"f_C": f_C, "iac": f_iac}
        return out


def random_state_dict(n_iter=17, dual=False, seed=0):
    """Random weights that keep every stage at a moderate scale.

    He-scaled convs (N(0, 2/fan_in)), the second conv of each residual unit damped (0.3x), and
    biases of 0.02 std. The filter head F.3 decides whether the N chained IAC iterations
    vanish or explode, so it is calibrated on a probe image: its weights are scaled so that
    every predicted tap and IAC bias varies with a std of about 0.03 around its bias, and the
    F1 (and F2, never read) taps get a bias of 1/3. Every pass is then a per-pixel filter whose
    3 taps sum to about 1 with a few percent of spatial variation, and the IAC output keeps
    the scale of its input (checked by the tests). out_res is damped (0.3x) so that the
    predicted residual is a fraction of the image.
    """
    torch.manual_seed(seed)
    net = Network(n_iter, dual)
    sd = OrderedDict()
    for name, tensor in net.state_dict().items():
        if name.endswith(".weight"):
            transposed = name.startswith("upconv") and name.endswith("_u.0.weight")
            fan_in = tensor.shape[0] * 4 if transposed else tensor[0].numel()
            std = (2.0 / fan_in) ** 0.5
            if ".stem." in name and name.split(".stem.")[1].split(".")[1] == "2":
                std *= 0.3
            if name == "out_res.0.weight":
                std *= 0.3
            sd[name] = torch.randn(tensor.shape) * std
        else:
            sd[name] = torch.randn(tensor.shape) * 0.02
    # Calibrate F.3 on the RMS of its input for a probe image.
    net.load_state_dict(sd)
    probe = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    seen = {}
    hook = net.F[2].register_forward_hook(lambda m, i, o: seen.setdefault("f", o))
    with torch.no_grad():
        net(probe, probe, probe)
    hook.remove()
    rms = float(seen["f"].pow(2).mean().sqrt())
    sd["F.3.weight"] = torch.randn(sd["F.3.weight"].shape) * (0.03 / (CH4**0.5 * rms))
    b = torch.randn(sd["F.3.bias"].shape) * 0.01
    b[: 2 * CH4 * FS * n_iter] += 1.0 / 3.0
    sd["F.3.bias"] = b
    return sd


def official_checkpoint(state_dict, n_iter=17, seed=0):
    """The released file's layout: a flat dict of 'module.Network.*' keys, plus some of the
    training-only re-blurring net's 'module.reblurNet.*' keys (real shapes, random values)."""
    g = torch.Generator().manual_seed(seed)
    ckpt = OrderedDict(("module.Network." + k, v) for k, v in state_dict.items())
    for name, shape in [
        ("RBF.1.stem.0.0.weight", (128, 128, 3, 3)),
        ("RBF.1.stem.0.0.bias", (128,)),
        ("RBF.3.weight", (n_iter * 21, 128, 3, 3)),
        ("RBF.3.bias", (n_iter * 21,)),
    ]:
        ckpt["module.reblurNet." + name] = torch.randn(shape, generator=g) * 0.01
    return ckpt
