"""ASPDC's DeblurringNet, written beside the runtime's model (cpp/models/aspdc.cpp, itself
beside the official networks/sub_networks.py and modules.py).

Input: ``image`` (1, 3, H, W) RGB in [0, 1], H and W multiples of 4 and at least 12. The
network's [-1, 1] scaling (from the metadata) is inside the graph, and so are the official
test code's clamp to [-1, 1] and its (y + 1) / 2. Output: ``output`` (1, 3, H, W) RGB in [0, 1].

The dilation-0 branch reproduces the official model's quirk as the runtime does (spec §4.3):
its (H/4-2) x (W/4-2) mask is read by mmcv as an H/4 x W/4 buffer, i.e. the same elements in
flat order followed by zeros; its offsets are all zero.
"""

from __future__ import annotations

import numpy as np

from .deform import deform_conv
from .graph import GraphBuilder
from .image_format import ImageFormat

STAGES = (
    "en_res_group1",
    "en_res_group2",
    "en_res_group3",
    "de_res_group3",
    "de_res_group2",
    "de_res_group1",
)


def _res_block(g: GraphBuilder, x: str, name: str) -> str:
    """modules.ResBlock: x + conv(lrelu(conv(x))), no activation after the sum."""
    y = g.conv(x, name + ".model.0", act=True)
    return g.add(x, g.conv(y, name + ".model.2"))


def _zero_offsets(g: GraphBuilder, x: str) -> str:
    """(1, 18, h, w) zeros for a feature map x of (1, C, h, w)."""
    shape = g.concat([g.ints([1, 18]), g.shape(x, 2, 4)], axis=0)
    return g.op("ConstantOfShape", [shape], value=_float_tensor(0.0))


def _float_tensor(value: float):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array([value], np.float32))


def _mmcv_flat_mask(g: GraphBuilder, small: str, x: str) -> str:
    """The (1, 9, h-2, w-2) mask as mmcv reads it for an (h, w) output: its elements in flat
    order, then zeros up to 9*h*w, viewed as (1, 9, h, w)."""
    hw = g.shape(x, 2, 4)
    full = g.concat([g.ints([1, 9]), hw], axis=0)
    total = g.op("ReduceProd", [full], keepdims=1)
    flat = g.op("Reshape", [small, g.ints([1, -1])])
    missing = g.sub(total, g.shape(flat, 1, 2))
    pads = g.concat([g.ints([0, 0, 0]), missing], axis=0)
    return g.op("Reshape", [g.op("Pad", [flat, pads], mode="constant"), full])


def _hallucination(
    g: GraphBuilder, r: str, name: str, dilation: int, d0_mode: str, method: str
) -> str:
    if dilation != 0:
        p = f"{name}.hallucination_conv"
        offset = g.conv(r, p + ".p_conv", dilation=dilation)
        mask = g.sigmoid(g.conv(r, p + ".m_conv", dilation=dilation))
        return deform_conv(g, r, offset, mask, p + ".dconv", method)
    if d0_mode == "intended":
        mask = g.sigmoid(g.conv(r, name + ".m_conv", padding=1))
    else:
        mask = _mmcv_flat_mask(g, g.sigmoid(g.conv(r, name + ".m_conv", padding=0)), r)
    return deform_conv(g, r, _zero_offsets(g, r), mask, name + ".dconv", method)


def _hallucination_res_block(g: GraphBuilder, x: str, name: str, d0_mode: str, method: str) -> str:
    r = g.conv(x, name + ".res_conv.0", act=True)
    branches = [
        _hallucination(g, r, f"{name}.hallucination_d{i}", d, d0_mode, method)
        for i, d in enumerate((0, 1, 2, 4))
    ]
    m = g.conv(x, name + ".mask_conv.0", act=True)
    m = _res_block(g, _res_block(g, m, name + ".mask_conv.2"), name + ".mask_conv.3")
    a = g.op("Softmax", [g.conv(m, name + ".mask_conv.4")], axis=1)
    s = None
    for i, d in enumerate(branches):
        term = g.mul(d, g.slice(a, 1, i, i + 1))
        s = term if s is None else g.add(s, term)
    return g.add(g.conv(s, name + ".fusion_conv"), x)


def build(
    g: GraphBuilder,
    fmt: ImageFormat,
    height,
    width,
    d0_mode: str = "mmcv_flat",
    method: str = "deformconv",
) -> None:
    shape = [1, 3, height, width]
    rgb = fmt.to_network(g, g.input("image", shape))  # x * 2 - 1 for the official weights

    x = g.conv(rgb, "head.0", act=True)
    x = _res_block(g, _res_block(g, x, "head.2"), "head.3")
    x = g.conv(x, "head.4", stride=2, act=True)
    x = g.conv(x, "head.6", stride=2, act=True)
    feats = []
    for s in STAGES:
        x = _res_block(g, _res_block(g, x, s + "_1.0"), s + "_1.1")
        x = _hallucination_res_block(g, x, s + "_2", d0_mode, method)
        feats.append(x)
    x = g.conv(g.concat(feats), "dense_conv.0", act=True)
    x = g.conv_transpose(x, "tail.0", stride=2, padding=1, output_padding=1, act=True)
    x = g.conv_transpose(x, "tail.2", stride=2, padding=1, output_padding=1, act=True)
    out = g.add(g.conv(x, "tail.4"), rgb)
    # The official test code: clamp to [-1, 1], then (y + 1) / 2.
    g.output(fmt.to_image(g, out), "output", shape)
