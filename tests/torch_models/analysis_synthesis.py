"""Float64 PyTorch re-implementation of the Analysis-Synthesis pair (Kaufman & Fattal, CVPR
2020), written from the reference spec (analysis_synthesis.md), and a writer of random-weight
Keras ``.h5`` files in the official layout.

The networks take the weights as the Keras files hold them (role -> [kernel, bias] in the
Keras layouts HWIO / HWOI / [in, out]; BiasLayer -> [vector]) and transpose them here, so a
layout mistake of the converter is not shared with this reference. Tensors are NCHW.

Perturbation switches (negative controls): ``torch_same_padding`` replaces TF's asymmetric
'same' padding of stride-2 convs by PyTorch's symmetric k//2 (a one-pixel shift on even sizes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from deblurcore.convert.analysis_synthesis import (
    ANALYSIS,
    ANALYSIS_FILE_ORDER,
    BIAS_LAYER,
    CONV2D,
    CONV2D_T,
    DENSE,
    GUIDE_IN,
    NETWORKS,
    SYNTHESIS,
    SYNTHESIS_BLOCKS,
    SYNTHESIS_FILE_ORDER,
)

Weights = Mapping[str, Sequence[np.ndarray]]
#: Compute dtype: float64 for the tests; the benchmark sets float32 for timing.
DTYPE = torch.float64
KERNEL = 85
SHIFTS = (42, 21, 11, 6)

# --------------------------------------------------------------------------- layers


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a)).to(DTYPE)


def tf_same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """TF 'same' padding (before, after) along a side of n (spec §1)."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv(x, w: Weights, role: str, stride: int = 1, same: bool = True, act: bool = False,
         torch_same_padding: bool = False):
    """Keras Conv2D (HWIO kernel) with TF padding; optional relu."""
    kernel, bias = w[role]
    k = kernel.shape[0]
    wt = _t(kernel).permute(3, 2, 0, 1)
    if same:
        if torch_same_padding:
            pt = pb = pl = pr = k // 2
        else:
            pt, pb = tf_same_pads(x.shape[2], k, stride)
            pl, pr = tf_same_pads(x.shape[3], k, stride)
        x = F.pad(x, (pl, pr, pt, pb))
    y = F.conv2d(x, wt, _t(bias), stride=stride)
    return F.relu(y) if act else y


def conv_transpose(x, w: Weights, role: str, same: bool):
    """Keras Conv2DTranspose (HWOI kernel), k5 s2: 'valid' = full 2n+3; 'same' = [1, 2n+1)."""
    kernel, bias = w[role]
    y = F.conv_transpose2d(x, _t(kernel).permute(3, 2, 0, 1), _t(bias), stride=2)
    if same:
        y = y[:, :, 1:1 + 2 * x.shape[2], 1:1 + 2 * x.shape[3]]
    return F.relu(y)


def dense(v, w: Weights, role: str, act: bool = False):
    kernel, bias = w[role]
    y = v @ _t(kernel) + _t(bias)
    return F.relu(y) if act else y


def grayscale(img):
    return 0.2989 * img[:, 0:1] + 0.5870 * img[:, 1:2] + 0.1140 * img[:, 2:3]


def standardize(x, eps: float = 1e-7):
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def cross_correlation(x, m: int, add_flips: bool = True):
    """CrossCorrelationFFT (spec §2): (N, C, h, w) -> (N, C(C+1)/2 * (1 + flips), 2m+1, 2m+1)."""
    n, c, h, w = x.shape
    x = x - x.mean(dim=(2, 3), keepdim=True)
    sigma = torch.sqrt((x * x).mean(dim=(2, 3), keepdim=True))
    sigma = torch.where(sigma < 1e-9, torch.full_like(sigma, math.inf), sigma)
    a = x / (sigma * math.sqrt(h * w))
    spec = torch.fft.rfft2(a)
    ii, jj = np.triu_indices(c)  # i-major, j >= i
    rows = torch.from_numpy((np.arange(2 * m + 1) - m) % h)
    cols = torch.from_numpy((np.arange(2 * m + 1) - m) % w)
    out = []
    for i0 in range(0, len(ii), 64):  # chunks keep the full-size maps small
        i, j = ii[i0:i0 + 64], jj[i0:i0 + 64]
        cc = torch.fft.irfft2(spec[:, i] * spec[:, j].conj(), s=(h, w))
        out.append(cc[:, :, rows][:, :, :, cols])
    out = torch.cat(out, 1)
    if add_flips:
        out = torch.cat([out, out.flip(2, 3)], 1)
    return out


def crop_center(x, size: int):
    h, w = x.shape[2], x.shape[3]
    y0, x0 = h // 2 - size // 2, w // 2 - size // 2
    return x[:, :, y0:y0 + size, x0:x0 + size]


# --------------------------------------------------------------------------- networks


def analysis(img, w: Weights, torch_same_padding: bool = False, return_levels: bool = False):
    """img (1, 3, H, W) float64 RGB 0..255 -> kernel (1, 85, 85) summing to 1."""
    level_in = standardize(grayscale(img))
    feats = []
    for lv in range(4):
        h = conv(level_in, w, f"L{lv}.c7a", same=False, act=True)
        h = conv(h, w, f"L{lv}.c7b", same=False, act=True)
        h = conv(h, w, f"L{lv}.c7c", same=False, act=True)
        h = conv(h, w, f"L{lv}.cc_in", same=False, act=True)
        h = cross_correlation(h, SHIFTS[lv])
        feats.append(conv(h, w, f"L{lv}.cc_out", act=True))
        if lv < 3:
            level_in = conv(level_in, w, f"L{lv}.down", stride=2, torch_same_padding=torch_same_padding)
    x = feats[3]
    for lv in (2, 1, 0):
        x = conv_transpose(x, w, f"U{lv}.up", same=False)
        x = crop_center(x, feats[lv].shape[2])
        x = conv(torch.cat([feats[lv], x], 1), w, f"U{lv}.fuse", act=True)
    for role in ("P.c24", "P.c16", "P.c8", "P.out"):
        x = conv(x, w, role, act=True)
    x = x.reshape(x.shape[0], KERNEL, KERNEL)
    kernel = x / (x.abs().sum(dim=(1, 2), keepdim=True) + 1e-7)
    return (kernel, feats) if return_levels else kernel


def _guided_block(x, g_in, w: Weights, name: str):
    g = dense(dense(g_in, w, f"{name}.g0", act=True), w, f"{name}.g1", act=True)
    for j in range(3):
        y = conv(x, w, f"{name}.c{j}")
        mul = dense(g, w, f"{name}.c{j}.mul") + _t(w[f"{name}.c{j}.beta"][0])
        add = dense(g, w, f"{name}.c{j}.add")
        x = F.relu(y * mul[:, :, None, None] + add[:, :, None, None])
    return x


def synthesis(img, kernel, w: Weights, torch_same_padding: bool = False):
    """img (1, 3, H, W) float64 0..255 (H, W multiples of 16), kernel (1, 85, 85) -> raw output."""
    v = kernel.reshape(kernel.shape[0], -1)
    x = img
    skips = []
    for i in range(4):
        s = _guided_block(x, v, w, f"E{i}")
        skips.append(s)
        x = conv(s, w, f"E{i}.down", stride=2, torch_same_padding=torch_same_padding)
    x = _guided_block(x, v, w, "B")
    for i in (3, 2, 1, 0):
        x = conv_transpose(x, w, f"D{i}.up", same=True)
        x = torch.cat([x, conv(skips[i], w, f"D{i}.skip")], 1)
        x = conv(x, w, f"D{i}.merge", act=True)
        x = _guided_block(x, v, w, f"D{i}")
    return conv(x, w, "OUT")


# --------------------------------------------------------------------------- pipeline

KNOWN_SHAPES = [
    (256, 256), (240, 368), (354, 640), (368, 640), (240, 368), (384, 540), (408, 608), (408, 688),
    (480, 368), (480, 732), (492, 704), (512, 512), (512, 448), (512, 672), (512, 768), (528, 638),
    (528, 558), (528, 780), (540, 800), (558, 864), (576, 688), (576, 800), (592, 462), (592, 800),
    (608, 800), (608, 1012), (624, 414), (624, 448), (624, 576), (624, 800), (656, 1012), (672, 800),
    (672, 1012), (700, 1012), (704, 608), (720, 958), (720, 1072), (732, 1080), (750, 908),
    (800, 800), (800, 968), (810, 942),
]


def analysis_crop(H: int, W: int, max_input_size=None):
    """Spec §6.2: (top, left, h, w) of the analysis crop of a padded H x W image, or None."""
    shapes = list(KNOWN_SHAPES)
    if max_input_size is not None:
        mh, mw = (max_input_size, max_input_size) if np.isscalar(max_input_size) else max_input_size
        shapes = [s for s in shapes if s[0] * s[1] <= mh * mw]
    shapes = shapes + [(b, a) for a, b in shapes]
    cands = [s for s in shapes if s[0] <= H and s[1] <= W]
    if not cands:
        return None
    d = [np.linalg.norm(((H - h) / H, (W - w) / W)) for h, w in cands]
    h, w = cands[int(np.argmin(d))]
    return (H - h) // 2, (W - w) // 2, h, w


def pad16(img: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """HxWx3 -> symmetric pad to multiples of 16; returns (padded, (top, left))."""
    h, w = img.shape[:2]
    rh, rw = (16 - h % 16) % 16, (16 - w % 16) % 16
    pads = ((rh // 2, rh - rh // 2), (rw // 2, rw - rw // 2), (0, 0))
    return np.pad(img, pads, mode="symmetric"), (rh // 2, rw // 2)


def to_nchw(img: np.ndarray):
    return _t(img).permute(2, 0, 1)[None].contiguous()


def deblur(img_255: np.ndarray, wa: Weights, ws: Weights, max_input_size=None, kernel=None):
    """The official pipeline (§6) on an HxWx3 float image in 0..255. Returns (clipped output
    HxWx3 float64, kernel 85x85, raw synthesis output NCHW of the padded image)."""
    padded, (top, left) = pad16(img_255)
    x = to_nchw(padded)
    if kernel is None:
        crop = analysis_crop(x.shape[2], x.shape[3], max_input_size)
        if crop is None:
            crop = (0, 0, x.shape[2], x.shape[3])  # the runtime's non-official fallback
        top, left, h, w = crop
        kernel = analysis(x[:, :, top:top + h, left:left + w], wa)
    else:
        kernel = _t(kernel).reshape(1, KERNEL, KERNEL)
    raw = synthesis(x, kernel, ws)
    out = raw[0].permute(1, 2, 0)[top:top + img_255.shape[0], left:left + img_255.shape[1]]
    return out.clamp(0, 255).numpy(), kernel[0].numpy(), raw


# --------------------------------------------------------------------------- random weights


def random_weights(seed: int = 0) -> dict[str, dict[str, list[np.ndarray]]]:
    """Random official-layout weights: {'analysis': {role: arrays}, 'synthesis': {...}}.

    He-scaled conv kernels keep activations O(1) in the analysis (standardized input) and
    O(100) in the synthesis (input 0..255, as the official network sees it). The guidance MLP
    input (the kernel, L2 norm ~0.05-0.3) gets a large g0 scale so that the guidance is O(1)
    and really modulates the convs: mul = 1 +- ~0.3, add ~ +-10.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for net in NETWORKS.values():
        ws: dict[str, list[np.ndarray]] = {}
        for role, lay in net.layers.items():
            shapes = lay.keras_shapes
            if lay.cls == BIAS_LAYER:
                ws[role] = [(1.0 + 0.1 * rng.standard_normal(shapes[0])).astype(np.float32)]
                continue
            if lay.cls in (CONV2D, CONV2D_T):
                kh, kw, a, b = lay.kernel
                fan_in = kh * kw * (a if lay.cls == CONV2D else b)
                # Conv2DTranspose s2: each output sees about a quarter of the taps.
                if lay.cls == CONV2D_T:
                    fan_in //= 4
                std = math.sqrt(2.0 / fan_in)
                if role.endswith(".down") and net.name == "analysis":
                    std = 0.25  # linear 5x5 blur-like pyramid step keeps the image O(1)
                bias_std = 0.1 if net.name == "analysis" else 2.0
            else:  # Dense
                fan_in = lay.kernel[0]
                if role.endswith(".g0"):
                    std = 30.0 / math.sqrt(fan_in)
                elif role.endswith(".mul"):
                    std = 0.3 / math.sqrt(fan_in)
                elif role.endswith(".add"):
                    std = 10.0 / math.sqrt(fan_in)
                else:
                    std = math.sqrt(2.0 / fan_in)
                bias_std = 0.1
            kernel = (std * rng.standard_normal(shapes[0])).astype(np.float32)
            bias = (bias_std * rng.standard_normal(shapes[1])).astype(np.float32)
            if role == "P.out":
                # A positive mean tap keeps most of the relu'd kernel alive (not all zero).
                kernel += np.float32(0.3 * std)
                bias[:] = 0.0
            ws[role] = [kernel, bias]
        out[net.name] = ws
    return out


# --------------------------------------------------------------------------- .h5 writer


def creation_names(net: str) -> dict[str, str]:
    """Role -> Keras auto-name as a fresh TF process gives them (analysis built first; the dead
    4th downsample conv of the analysis takes conv2d_23)."""
    spec = NETWORKS[net]
    start = {"analysis": {CONV2D: 0, CONV2D_T: 0}, "synthesis": {CONV2D: 31, CONV2D_T: 3, DENSE: 0, BIAS_LAYER: 0}}
    names = {}
    for cls, roles in spec.creation_order.items():
        n = start[net][cls]
        for role in roles:
            names[role] = cls if n == 0 else f"{cls}_{n}"
            n += 1
            if net == "analysis" and cls == CONV2D and n == 23:
                n += 1  # the dead conv2d_23
    return names


# Weightless layers interleaved into layer_names (the converter must skip them).
_WEIGHTLESS = {
    "analysis": {0: ["input_1", "lambda", "standardize"], 11: ["cross_correlation_fft_3"],
                 13: ["crop_center"], 18: ["concatenate"], 32: ["reshape_3", "normalization"]},
    "synthesis": {0: ["input_2", "input_3", "flatten"], 18: ["concatenate_3"], 142: []},
}


def write_keras_h5(path, net: str, weights: Mapping[str, Sequence[np.ndarray]], style: str = "bytes",
                   order: Sequence[str] | None = None, names: Mapping[str, str] | None = None) -> None:
    """Write ``weights`` (role -> Keras arrays) as a Keras ``.h5`` file of network ``net``.

    style: 'bytes' (TF 1.x / h5py 2.10 attributes), 'str' (current Keras 2, with the extra
    top_level_model_weights group) or 'full_model' (model.save: groups under model_weights/).
    order: the roles in file order (default: the official topological order); names: role ->
    layer name (default: the creation-order auto-names).
    """
    import h5py

    spec = NETWORKS[net]
    order = list(order or spec.file_order)
    names = dict(names or creation_names(net))
    layer_names: list[str] = []
    extra = _WEIGHTLESS[net]
    for k, role in enumerate(order):
        layer_names += [n for n in extra.get(k, []) if n not in names.values()]
        layer_names.append(names[role])
    role_of = {names[r]: r for r in order}

    def names_attr(group, key, values):
        if style == "bytes":
            group.attrs[key] = np.array([v.encode("utf-8") for v in values], dtype=f"S{max([len(v) for v in values] + [1])}")
        else:
            group.attrs.create(key, list(values), dtype=h5py.string_dtype())

    with h5py.File(path, "w") as f:
        root = f
        if style == "full_model":
            f.attrs["model_config"] = '{"class_name": "Functional", "config": {}}'
            f.attrs["keras_version"] = "2.3.0-tf"
            root = f.create_group("model_weights")
        names_attr(root, "layer_names", layer_names)
        root.attrs["backend"] = b"tensorflow" if style == "bytes" else "tensorflow"
        root.attrs["keras_version"] = b"2.2.4-tf" if style == "bytes" else "2.15.0"
        for ln in layer_names:
            g = root.create_group(ln)
            role = role_of.get(ln)
            if role is None:
                names_attr(g, "weight_names", [])
                continue
            arrays = weights[role]
            cls = spec.layers[role].cls
            wn = [f"{ln}/Variable:0"] if cls == BIAS_LAYER else [f"{ln}/kernel:0", f"{ln}/bias:0"]
            names_attr(g, "weight_names", wn)
            for n, a in zip(wn, arrays):
                g.create_dataset(n, data=np.asarray(a, dtype=np.float32))
        if style == "str":
            g = root.create_group("top_level_model_weights")
            g.attrs.create("weight_names", [], dtype=h5py.string_dtype())


def write_pair(directory, seed: int = 0, style: str = "bytes"):
    """Random weights written as analysis_weights.h5 and synthesis_weights.h5 in ``directory``.
    Returns (weights, analysis_path, synthesis_path)."""
    from pathlib import Path

    d = Path(directory)
    w = random_weights(seed)
    pa, ps = d / "analysis_weights.h5", d / "synthesis_weights.h5"
    write_keras_h5(pa, "analysis", w["analysis"], style)
    write_keras_h5(ps, "synthesis", w["synthesis"], style)
    return w, pa, ps


__all__ = [
    "ANALYSIS", "ANALYSIS_FILE_ORDER", "GUIDE_IN", "KNOWN_SHAPES", "SYNTHESIS", "SYNTHESIS_BLOCKS",
    "SYNTHESIS_FILE_ORDER", "analysis", "analysis_crop", "creation_names", "cross_correlation", "deblur",
    "pad16", "random_weights", "synthesis", "tf_same_pads", "to_nchw", "write_keras_h5", "write_pair",
]
