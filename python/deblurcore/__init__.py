"""deblurcore: filter-adaptive deblurring networks (STFAN, IFAN, ASPDC) without a framework.

The numerical core is C++ (``deblurcore._core``); this package gives it a numpy API.
Ops live in :mod:`deblurcore.ops`.
"""

from ._version import __version__
from . import _core, ops


def cuda_available() -> bool:
    """True when this build has the CUDA backend and a CUDA device is present."""
    return bool(_core.cuda_available())


def cpu_isa() -> str:
    """The instruction set the CPU kernels use on this machine: 'avx512', 'avx2' or 'generic'."""
    return str(_core.cpu_isa())


__all__ = ["__version__", "ops", "cuda_available", "cpu_isa"]
