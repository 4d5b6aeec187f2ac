"""deblurcore's FAC, IAC and DCNv2 kernels inside PyTorch: autograd functions and layers.

Import it explicitly (``import deblurcore.torch``); ``import deblurcore`` never imports torch,
which stays an optional dependency (``pip install "deblurcore[torch]"``). Nothing is compiled
against torch: tensors cross through DLPack without copies (rules in ``_bridge.py``)::

    from deblurcore.torch import KernelConv2D, fac, iac, deform_conv2d
    out = fac(x, kernel, 5)                 # x (N, C, H, W), kernel (N, C*25, H, W)
    out.sum().backward()                    # gradients for x and kernel from our kernels
"""

from .functional import deform_conv2d, fac, iac
from .modules import IAC, KernelConv2D, ModulatedDeformConv2d, ModulatedDeformConv2dPack

__all__ = [
    "fac",
    "iac",
    "deform_conv2d",
    "KernelConv2D",
    "IAC",
    "ModulatedDeformConv2d",
    "ModulatedDeformConv2dPack",
]
