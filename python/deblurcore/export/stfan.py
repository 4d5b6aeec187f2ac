"""STFAN's DeblurNet as one step of its recurrence, with the state as graph inputs/outputs.

Written beside the runtime's model (cpp/models/stfan.cpp, itself beside the official
models/DeblurNet.py). The graph works in the weights' own form (BGR in [0, 1] for the official
weights, from the metadata); the image, the state images and the clamped output are converted
at its edges.

Inputs: ``image`` (1, 3, H, W) RGB in [0, 1]; ``last_image`` and ``last_output`` (1, 3, H, W),
the previous step's ``image`` and ``output``; ``last_feature`` (1, 256, H/4, W/4), the previous
step's ``feature``; ``first_frame`` (bool, shape (1,)): true on the first frame of a clip, where
the three state inputs are ignored (any values of the right shape, e.g. zeros) and the frame
stands for its predecessors, as in the official test loop and the runtime.
Outputs: ``output`` (1, 3, H, W) RGB in [0, 1] (clamped) and ``feature`` (1, 256, H/4, W/4).
"""

from __future__ import annotations

from onnx import TensorProto

from .graph import TO_END, GraphBuilder
from .image_format import ImageFormat

FAC_SIZE = 5  # ks_2d
FEATURE_CHANNELS = 256


def _conv(g: GraphBuilder, x: str, name: str, stride: int = 1) -> str:
    """submodules.conv: Conv2d(padding (k-1)/2) + LeakyReLU; keys ``<name>.0.*``."""
    return g.conv(x, name + ".0", stride=stride, act=True)


def _resnet_block(g: GraphBuilder, x: str, name: str) -> str:
    """submodules.ResnetBlock: stem(x) + x, stem = Conv2d, LeakyReLU, Conv2d."""
    y = g.conv(x, name + ".stem.0", act=True)
    return g.add(g.conv(y, name + ".stem.2"), x)


def _stage(g: GraphBuilder, x: str, first: str, blocks: tuple[str, str], stride: int) -> str:
    x = _conv(g, x, first, stride)
    for b in blocks:
        x = _resnet_block(g, x, b)
    return x


def _filter_head(g: GraphBuilder, x: str, name: str) -> str:
    """fac_warp / fac_deblur: conv, resnet_block, resnet_block, conv 1x1 (+ LeakyReLU)."""
    x = _conv(g, x, name + ".0")
    x = _resnet_block(g, x, name + ".1")
    x = _resnet_block(g, x, name + ".2")
    return _conv(g, x, name + ".3")


def fac(g: GraphBuilder, x: str, kernel: str, k: int = FAC_SIZE) -> str:
    """KernelConv2D: replicate padding, then per pixel and channel a k x k filter whose tap
    (ky, kx) of channel c is kernel channel c*k*k + ky*k + kx: k*k shifted slices of the
    padded input times the matching strided slice of the filters, summed."""
    r = (k - 1) // 2
    padded = g.pad(x, [0, 0, r, r, 0, 0, r, r], mode="edge")
    out = None
    for t in range(k * k):
        ky, kx = divmod(t, k)
        rows = g.slice(padded, 2, ky, ky - 2 * r if ky < 2 * r else TO_END)
        window = g.slice(rows, 3, kx, kx - 2 * r if kx < 2 * r else TO_END)
        term = g.mul(window, g.slice(kernel, 1, t, TO_END, k * k))
        out = term if out is None else g.add(out, term)
    return out


def build(g: GraphBuilder, fmt: ImageFormat, height, width) -> None:
    """Add STFAN's step to ``g``; ``height``/``width`` are ints or symbolic dim names."""
    quarter_h = height // 4 if isinstance(height, int) else f"{height}/4"
    quarter_w = width // 4 if isinstance(width, int) else f"{width}/4"
    image = g.input("image", [1, 3, height, width])
    last_image = g.input("last_image", [1, 3, height, width])
    last_output = g.input("last_output", [1, 3, height, width])
    last_feature = g.input("last_feature", [1, FEATURE_CHANNELS, quarter_h, quarter_w])
    first = g.input("first_frame", [1], TensorProto.BOOL)

    img_blur = fmt.to_network(g, image)
    # First frame of a clip: the previous blurry and restored frames are the frame itself.
    last_img_blur = g.op("Where", [first, img_blur, fmt.to_network(g, last_image)])
    output_last_img = g.op("Where", [first, img_blur, fmt.to_network(g, last_output)])
    merge = g.concat([img_blur, last_img_blur, output_last_img])

    # Kernel Prediction Branch
    kconv1 = _stage(g, merge, "kconv1_1", ("kconv1_2", "kconv1_3"), 1)
    kconv2 = _stage(g, kconv1, "kconv2_1", ("kconv2_2", "kconv2_3"), 2)
    kconv3 = _stage(g, kconv2, "kconv3_1", ("kconv3_2", "kconv3_3"), 2)
    kernel_warp = _filter_head(g, kconv3, "fac_warp")
    kconv4 = _conv(g, kernel_warp, "kconv4")
    kernel_deblur = _filter_head(g, g.concat([kconv3, kconv4]), "fac_deblur")

    # Deblurring Branch: encoder
    conv1_d = _stage(g, img_blur, "conv1_1", ("conv1_2", "conv1_3"), 1)
    conv2_d = _stage(g, conv1_d, "conv2_1", ("conv2_2", "conv2_3"), 2)
    conv3_d = _stage(g, conv2_d, "conv3_1", ("conv3_2", "conv3_3"), 2)
    conv3_d_k = fac(g, conv3_d, kernel_deblur)

    # encoder last_clear: on the first frame the carried feature is cat(conv3_d, conv3_d)
    output_last_fea = g.op("Where", [first, g.concat([conv3_d, conv3_d]), last_feature])
    conv_a_k = fac(g, _conv(g, output_last_fea, "fea"), kernel_warp)
    conv3 = g.concat([conv3_d_k, conv_a_k])

    # decoder
    up2 = g.conv_transpose(conv3, "upconv2_u.0", stride=2, padding=1, act=True)
    up2 = _resnet_block(g, _resnet_block(g, up2, "upconv2_2"), "upconv2_1")
    up1 = g.conv_transpose(up2, "upconv1_u.0", stride=2, padding=1, act=True)
    up1 = _resnet_block(g, _resnet_block(g, up1, "upconv1_2"), "upconv1_1")
    output_img = g.add(_conv(g, up1, "img_prd"), img_blur)

    # The API's float output, which is also the state carried to the next frame (clamped).
    g.output(fmt.to_image(g, output_img), "output", [1, 3, height, width])
    g.output(conv3, "feature", [1, FEATURE_CHANNELS, quarter_h, quarter_w])
