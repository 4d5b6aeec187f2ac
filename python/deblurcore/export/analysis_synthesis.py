"""Kaufman & Fattal's Analysis-Synthesis pair, the whole pipeline of the runtime (cpp/models/
analysis_synthesis.cpp, analysis_net.cpp, synthesis_net.cpp; spec analysis_synthesis.md) for
an image whose sides are multiples of 16 (so the official symmetric padding is none).

Input: ``image`` (1, 3, H, W) RGB in [0, 1], H and W multiples of 16 and at least 208.
Outputs: ``output`` (1, 3, H, W) RGB in [0, 1] (the synthesis output clipped to [0, 255] and
divided by 255, as the runtime returns a float image) and ``kernel`` (1, 85, 85), the
estimated blur kernel (sums to 1).

The analysis crop (the centre crop to the nearest "known valid shape", or the whole image when
none fits, the runtime's non-official fallback) is chosen inside the graph from the input size,
so a --dynamic graph makes the same choice as the runtime at every size. The max_input_size
option (the official -amis) is not part of the graph.
"""

from __future__ import annotations

import numpy as np

from .cross_correlation import cross_correlation
from .graph import GraphBuilder

KERNEL = 85
SHIFTS = (42, 21, 11, 6)
MIN_SIDE = 208  # the analysis network needs 193 px; the next multiple of 16
#: The official "known valid shapes" (h, w), in order, duplicate included.
KNOWN_SHAPES = (
    (256, 256), (240, 368), (354, 640), (368, 640), (240, 368), (384, 540), (408, 608),
    (408, 688), (480, 368), (480, 732), (492, 704), (512, 512), (512, 448), (512, 672),
    (512, 768), (528, 638), (528, 558), (528, 780), (540, 800), (558, 864), (576, 688),
    (576, 800), (592, 462), (592, 800), (608, 800), (608, 1012), (624, 414), (624, 448),
    (624, 576), (624, 800), (656, 1012), (672, 800), (672, 1012), (700, 1012), (704, 608),
    (720, 958), (720, 1072), (732, 1080), (750, 908), (800, 800), (800, 968), (810, 942),
)  # fmt: skip


def _conv(g: GraphBuilder, x: str, key: str, act: bool, same: bool = True, stride: int = 1) -> str:
    """Keras Conv2D: 'valid' (no padding) or TF 'same' (stride 2: the extra pixel at the end,
    which is ONNX's SAME_UPPER)."""
    k = int(g.stored(key + ".weight").shape[2])
    inputs = [x, g.weight(key + ".weight"), g.weight(key + ".bias")]
    if same and stride > 1:
        y = g.op("Conv", inputs, name=key, kernel_shape=[k, k], strides=[stride] * 2,
                 auto_pad="SAME_UPPER")  # fmt: skip
    else:
        pad = (k - 1) // 2 if same else 0
        y = g.op("Conv", inputs, name=key, kernel_shape=[k, k], strides=[stride] * 2,
                 pads=[pad] * 4)  # fmt: skip
    return g.op("Relu", [y]) if act else y


def _conv_transpose(g: GraphBuilder, x: str, key: str, same: bool) -> str:
    """Keras Conv2DTranspose k5 s2, relu: 'valid' is the full 2n+3, 'same' its [1, 2n+1)."""
    pads = [1, 1, 2, 2] if same else [0, 0, 0, 0]
    y = g.op("ConvTranspose", [x, g.weight(key + ".weight"), g.weight(key + ".bias")],
             name=key, kernel_shape=[5, 5], strides=[2, 2], pads=pads)  # fmt: skip
    return g.op("Relu", [y])


def _dense(g: GraphBuilder, v: str, key: str, act: bool = False) -> str:
    y = g.op("Gemm", [v, g.weight(key + ".weight"), g.weight(key + ".bias")], name=key, transB=1)
    return g.op("Relu", [y]) if act else y


def analysis_crop(g: GraphBuilder, image: str) -> str:
    """The centre crop of the (padded) image to the nearest known shape by relative L2
    distance, first minimum winning, originals before the transposed list; the whole image
    when none fits. Computed in float64 like the runtime."""
    shapes = np.array(list(KNOWN_SHAPES) + [(w, h) for h, w in KNOWN_SHAPES], np.int64)
    hw = g.shape(image, 2, 4)  # (2,) int64
    size = g.op("Cast", [hw], to=11)
    cand = g.const(shapes.astype(np.float64), "known_shapes", np.float64)  # (84, 2)
    rel = g.div(g.sub(size, cand), size)
    d2 = g.reduce("ReduceSum", g.mul(rel, rel), [1], keepdims=0)
    fits = g.reduce("ReduceMin", g.op("Cast", [g.op("LessOrEqual", [cand, size])], to=1), [1], 0)
    # A shape that does not fit never wins; the whole image (last) wins only if none fits.
    d2 = g.op("Where", [g.op("Cast", [fits], to=9), d2, g.const(1e30, "never", np.float64)])
    d2 = g.concat([d2, g.const([1e20], "fallback", np.float64)], axis=0)
    every = g.concat([g.const(shapes, "shapes", np.int64), g.op("Unsqueeze", [hw, g.ints([0])])],
                     axis=0)  # fmt: skip
    pick = g.op("ArgMin", [d2], axis=0, keepdims=1, select_last_index=0)  # (1,)
    crop = g.op("Reshape", [g.op("Gather", [every, pick], axis=0), g.ints([2])])  # (h, w)
    start = g.op("Div", [g.sub(hw, crop), g.ints([2, 2])])
    return g.op("Slice", [image, start, g.add(start, crop), g.ints([2, 3])])


def analysis(g: GraphBuilder, rgb: str) -> str:
    """rgb (1, 3, h, w) in 0..255 -> kernel (1, 85, 85)."""
    r, gr, b = (g.slice(rgb, 1, c, c + 1) for c in range(3))
    gray = g.add(g.add(g.mul(r, g.const(0.2989, "gray_r")), g.mul(gr, g.const(0.5870, "gray_g"))),
                 g.mul(b, g.const(0.1140, "gray_b")))  # fmt: skip
    centred = g.sub(gray, g.mean(gray, [2, 3]))
    var = g.mean(g.mul(centred, centred), [2, 3])
    level_in = g.div(centred, g.op("Sqrt", [g.add(var, g.const(1e-7, "eps"))]))
    feats = []
    for lv in range(4):
        p = f"analysis.L{lv}"
        h = _conv(g, level_in, p + ".c7a", act=True, same=False)
        h = _conv(g, h, p + ".c7b", act=True, same=False)
        h = _conv(g, h, p + ".c7c", act=True, same=False)
        h = _conv(g, h, p + ".cc_in", act=True, same=False)
        h = cross_correlation(g, h, 32, SHIFTS[lv])
        feats.append(_conv(g, h, p + ".cc_out", act=True))
        if lv < 3:
            level_in = _conv(g, level_in, p + ".down", act=False, stride=2)
    x = feats[3]
    for lv in (2, 1, 0):
        x = _conv_transpose(g, x, f"analysis.U{lv}.up", same=False)
        size = 2 * SHIFTS[lv] + 1
        full = 2 * (2 * SHIFTS[lv + 1] + 1) + 3
        y0 = full // 2 - size // 2
        x = g.op("Slice", [x, g.ints([y0, y0]), g.ints([y0 + size, y0 + size]), g.ints([2, 3])])
        x = _conv(g, g.concat([feats[lv], x]), f"analysis.U{lv}.fuse", act=True)
    for role in ("c24", "c16", "c8", "out"):
        x = _conv(g, x, f"analysis.P.{role}", act=True)
    x = g.op("Reshape", [x, g.ints([1, KERNEL, KERNEL])])
    total = g.op("ReduceSum", [g.op("Abs", [x])], keepdims=1)  # every axis
    return g.div(x, g.add(total, g.const(1e-7, "eps")))


def _guided_block(g: GraphBuilder, x: str, v: str, name: str) -> str:
    gd = _dense(g, _dense(g, v, f"{name}.g0", act=True), f"{name}.g1", act=True)
    for j in range(3):
        c = f"{name}.c{j}"
        y = _conv(g, x, c, act=False)
        mul = g.add(_dense(g, gd, c + ".mul"), g.weight(c + ".beta"))
        add = _dense(g, gd, c + ".add")
        as_map = g.ints([1, -1, 1, 1])
        y = g.mul(y, g.op("Reshape", [mul, as_map]))
        x = g.op("Relu", [g.add(y, g.op("Reshape", [add, as_map]))])
    return x


def synthesis(g: GraphBuilder, rgb: str, kernel: str) -> str:
    """rgb (1, 3, H, W) in 0..255, H and W multiples of 16; kernel (1, 85, 85) -> raw output."""
    v = g.op("Reshape", [kernel, g.ints([1, KERNEL * KERNEL])])
    x = rgb
    skips = []
    for i in range(4):
        s = _guided_block(g, x, v, f"synthesis.E{i}")
        skips.append(s)
        # 3x3 stride 2 'same' on an even size: TF pads (0, 1)
        x = g.op("Conv", [s, g.weight(f"synthesis.E{i}.down.weight"),
                          g.weight(f"synthesis.E{i}.down.bias")],
                 name=f"synthesis.E{i}.down", kernel_shape=[3, 3], strides=[2, 2],
                 pads=[0, 0, 1, 1])  # fmt: skip
    x = _guided_block(g, x, v, "synthesis.B")
    for i in (3, 2, 1, 0):
        p = f"synthesis.D{i}"
        x = _conv_transpose(g, x, p + ".up", same=True)
        x = g.concat([x, _conv(g, skips[i], p + ".skip", act=False)])
        x = _conv(g, x, p + ".merge", act=True)
        x = _guided_block(g, x, v, p)
    return _conv(g, x, "synthesis.OUT", act=False)


def build(g: GraphBuilder, height, width) -> None:
    shape = [1, 3, height, width]
    image = g.input("image", shape)
    rgb = g.mul(image, g.const(255.0, "scale"))  # the network's 0..255
    kernel = analysis(g, analysis_crop(g, rgb))
    raw = synthesis(g, rgb, kernel)
    out = g.div(g.clip(raw, 0.0, 255.0), g.const(255.0, "scale"))
    g.output(out, "output", shape)
    g.output(kernel, "kernel", [1, KERNEL, KERNEL])
