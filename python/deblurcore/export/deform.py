"""DCNv2 (modulated deformable convolution, 3x3, stride 1, padding 1, dilation 1, one group
and one offset group: ASPDC's DCN) in ONNX, two ways:

- ``deformconv``: the standard ``DeformConv`` op (opset 19), whose offsets hold (dy, dx) per
  tap k = ky*3 + kx, as torchvision's and the runtime's;
- ``gridsample``: for runtimes without DeformConv. The 9 taps are bilinearly sampled by one
  ``GridSample`` (opset 16; zeros padding, align_corners) on a grid that stacks the taps along
  the height, multiplied by their masks, and contracted with the weights by a 1x1 Conv. Zero
  padding of GridSample makes every bilinear corner outside the image count as 0, and a sample
  at or beyond one pixel outside gets no weight at all, which is DCNv2's rule.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder

METHODS = ("deformconv", "gridsample")
#: Lowest opset of each method.
MIN_OPSET = {"deformconv": 19, "gridsample": 16}


def deform_conv(g: GraphBuilder, x: str, offset: str, mask: str, prefix: str, method: str) -> str:
    """x (1, C, H, W), offset (1, 18, H, W), mask (1, 9, H, W); weights ``prefix.weight``
    [Cout, C, 3, 3] and ``prefix.bias``."""
    if method == "deformconv":
        return g.op(
            "DeformConv",
            [x, g.weight(prefix + ".weight"), offset, g.weight(prefix + ".bias"), mask],
            name=prefix,
            kernel_shape=[3, 3],
            strides=[1, 1],
            pads=[1, 1, 1, 1],
            dilations=[1, 1],
            group=1,
            offset_group=1,
        )
    if method != "gridsample":
        raise ValueError(f"deform conv method must be one of {', '.join(METHODS)}, got {method!r}")
    return _deform_conv_gridsample(g, x, offset, mask, prefix)


def _deform_conv_gridsample(g: GraphBuilder, x: str, offset: str, mask: str, prefix: str) -> str:
    w = g.stored(prefix + ".weight")
    cout, cin = int(w.shape[0]), int(w.shape[1])
    taps = 9
    h = g.shape(x, 2, 3)  # int64 (1,)
    wd = g.shape(x, 3, 4)

    def coords(n: str, axis_shape: list[int]) -> str:
        """0, 1, ..., n-1 as float, shaped (1, 1, n, 1) or (1, 1, 1, n)."""
        n0 = g.op("Squeeze", [n, g.ints([0])])
        r = g.op("Range", [g.const(0, "zero", np.int64), n0, g.const(1, "step", np.int64)])
        return g.op("Reshape", [g.op("Cast", [r], to=1), g.ints(axis_shape)])

    def to_normalized(p: str, n: str) -> str:
        """align_corners: pixel 0 -> -1, pixel n-1 -> 1."""
        nf = g.op("Cast", [n], to=1)
        scale = g.div(g.const(2.0, "two"), g.sub(nf, g.const(1.0, "one")))
        return g.sub(g.mul(p, scale), g.const(1.0, "one"))

    ys = coords(h, [1, 1, -1, 1])
    xs = coords(wd, [1, 1, 1, -1])
    ky = np.array([k // 3 - 1 for k in range(taps)], np.float32).reshape(1, taps, 1, 1)
    kx = np.array([k % 3 - 1 for k in range(taps)], np.float32).reshape(1, taps, 1, 1)
    # offset channel 2k is dy of tap k, 2k+1 its dx
    dy = g.slice(offset, 1, 0, 2 * taps, 2)
    dx = g.slice(offset, 1, 1, 2 * taps, 2)
    gy = to_normalized(g.add(g.add(ys, g.const(ky, "tap_y")), dy), h)  # (1, 9, H, W)
    gx = to_normalized(g.add(g.add(xs, g.const(kx, "tap_x")), dx), wd)
    axis = g.ints([4])
    grid = g.concat([g.op("Unsqueeze", [gx, axis]), g.op("Unsqueeze", [gy, axis])], axis=4)
    tall = g.concat([g.ints([1, -1]), wd, g.ints([2])], axis=0)
    grid = g.op("Reshape", [grid, tall])  # (1, 9H, W, 2): the taps stacked along the height
    # opset 20 renamed the mode "bilinear" to "linear"
    mode = "linear" if g.opset >= 20 else "bilinear"
    sampled = g.op(
        "GridSample", [x, grid], align_corners=1, mode=mode, padding_mode="zeros"
    )  # (1, C, 9H, W)
    flat_mask = g.op("Reshape", [mask, g.concat([g.ints([1, 1, -1]), wd], axis=0)])
    cols = g.mul(sampled, flat_mask)
    # (1, C, 9H, W) is laid out as (1, C*9, H, W) with channel c*9 + k: the weight's own order
    cols = g.op("Reshape", [cols, g.concat([g.ints([1, cin * taps]), h, wd], axis=0)])
    weight = g.const(w.reshape(cout, cin * taps, 1, 1).astype(np.float32), prefix + ".weight_1x1")
    return g.op(
        "Conv", [cols, weight, g.weight(prefix + ".bias")], name=prefix, kernel_shape=[1, 1]
    )
