"""IFAN's deblurring Network, every released variant (N = 8/17/26/35/44 IAC iterations,
16-bit, dual-pixel), written beside the runtime's model (cpp/models/ifan.cpp, itself beside
the official models/archs/IFAN.py).

Inputs: ``image`` (1, 3, H, W) RGB in [0, 1], H and W multiples of 8 (the 16-bit variant
takes the same [0, 1] values: its 1/65535 scaling is what makes a 16-bit image [0, 1]);
IFAN_dual also ``right`` and ``left``, the dual-pixel views in the same form.
Output: ``output`` (1, 3, H, W) RGB in [0, 1], clamped as the official eval code does.
"""

from __future__ import annotations

from .graph import TO_END, GraphBuilder
from .image_format import ImageFormat

CH4 = 128
FS = 3  # IAC filter length
ROWS_PER_ITERATION = CH4 * FS * 2 + CH4  # F1, F2 and the bias of one iteration: 896


def _conv(g: GraphBuilder, x: str, name: str, stride: int = 1, act: bool = True) -> str:
    """conv(): Sequential(Conv2d, LeakyReLU) (keys ``<name>.0.*``), or a bare Conv2d."""
    return g.conv(x, name + ".0", stride=stride, act=True) if act else g.conv(x, name)


def _resnet_block(g: GraphBuilder, x: str, name: str, units: int) -> str:
    """ResnetBlock: x = lrelu(x + stem_i(x)) per unit; plus the block input if units > 1."""
    t = x
    for i in range(units):
        y = g.conv(x, f"{name}.stem.{i}.0", act=True)
        x = g.lrelu(g.add(x, g.conv(y, f"{name}.stem.{i}.2")))
    return g.add(x, t) if units > 1 else x


def _chain(g: GraphBuilder, x: str, names: tuple[str, str, str], stride: int) -> str:
    x = _conv(g, x, names[0], stride)
    return _conv(g, _conv(g, x, names[1]), names[2])


def _sac(g: GraphBuilder, f: str, kernel1: str, k: int = FS) -> str:
    """One IAC pass as the checkpoints were trained: vertical then horizontal, both with the
    vertical filter F1 (tap j of channel c is kernel1 channel c*k + j), each pass padding its
    own direction by replication; k shifted slices times strided filter slices, summed."""
    r = (k - 1) // 2
    taps = [g.slice(kernel1, 1, j, TO_END, k) for j in range(k)]

    def one_direction(x: str, axis: int) -> str:
        pads = [0, 0, 0, 0, 0, 0, 0, 0]
        pads[axis], pads[4 + axis] = r, r
        padded = g.pad(x, pads, mode="edge")
        out = None
        for j in range(k):
            window = g.slice(padded, axis, j, j - 2 * r if j < 2 * r else TO_END)
            term = g.mul(window, taps[j])
            out = term if out is None else g.add(out, term)
        return out

    return one_direction(one_direction(f, 2), 3)


def _iac(g: GraphBuilder, feat: str, filters: str, n_iter: int, c: int = CH4, k: int = FS) -> str:
    """N iterations; filters = N blocks (F1_i, F2_i) of c*k channels, then N biases of c.
    F2_i is never read (the official code's horizontal pass reuses F1_i)."""
    ck = c * k
    f = feat
    for i in range(n_iter):
        f1 = g.slice(filters, 1, 2 * ck * i, 2 * ck * i + ck)
        b = g.slice(filters, 1, 2 * ck * n_iter + c * i, 2 * ck * n_iter + c * (i + 1))
        f = g.lrelu(g.add(_sac(g, f, f1, k), b))
    return f


def build(g: GraphBuilder, fmt: ImageFormat, height, width, iterations: int, dual: bool) -> None:
    shape = [1, 3, height, width]
    C = fmt.to_network(g, g.input("image", shape))
    if dual:
        right = fmt.to_network(g, g.input("right", shape))
        k_in = g.concat([right, fmt.to_network(g, g.input("left", shape))])
    else:
        k_in = C

    # feature encoder
    f1 = _chain(g, C, ("conv1_1", "conv1_2", "conv1_3"), 1)
    f2 = _chain(g, f1, ("conv2_1", "conv2_2", "conv2_3"), 2)
    f3 = _chain(g, f2, ("conv3_1", "conv3_2", "conv3_3"), 2)
    f_C = _chain(g, f3, ("conv4_1", "conv4_2", "conv4_3"), 2)

    # filter encoder, defocus map, filter predictor
    f = _chain(g, k_in, ("kconv1_1", "kconv1_2", "kconv1_3"), 1)
    f = _chain(g, f, ("kconv2_1", "kconv2_2", "kconv2_3"), 2)
    f = _chain(g, f, ("kconv3_1", "kconv3_2", "kconv3_3"), 2)
    f = _chain(g, f, ("kconv4_1", "kconv4_2", "kconv4_3"), 2)
    dm = _conv(g, f, "DME.0")
    dm = _resnet_block(g, _resnet_block(g, dm, "DME.1", 2), "DME.2", 2)
    dm = _conv(g, dm, "DME.3", act=False)
    x = _conv(g, g.concat([f, _conv(g, dm, "conv_DME")]), "conv4_4.0")
    x = _resnet_block(g, _resnet_block(g, x, "conv4_4.1", 2), "conv4_4.2", 2)
    f = _conv(g, x, "conv4_4.3")
    x = _conv(g, f, "F.0")
    x = _resnet_block(g, _resnet_block(g, x, "F.1", 2), "F.2", 2)
    filters = _conv(g, x, "F.3", act=False)

    x = _iac(g, f_C, filters, iterations)

    # decoder
    x = _conv(g, _resnet_block(g, _conv(g, x, "conv_res.0"), "conv_res.1", 3), "conv_res.2")
    for level, skip in (("3", f3), ("2", f2), ("1", f1)):
        x = g.add(g.conv_transpose(x, f"upconv{level}_u.0", 2, 1, act=True), skip)
        x = _resnet_block(g, x, f"upconv{level}_1", 1)
        x = _resnet_block(g, x, f"upconv{level}_2", 1)
    out = g.add(_conv(g, x, "out_res"), C)
    g.output(fmt.to_image(g, out), "output", shape)
