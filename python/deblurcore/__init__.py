"""deblurcore: filter-adaptive deblurring networks (STFAN, IFAN, ASPDC) without a framework.

The numerical core is C++ (``deblurcore._core``); this package gives it a numpy API:

* :mod:`deblurcore.ops`: the ops (conv2d, fac, ...) on numpy arrays, named like
  ``torch.nn.functional``;
* the models :class:`STFAN`, :class:`ASPDC` (and :func:`load_model` for any converted weights file);
* ``deblurcore convert`` / ``deblurcore deblur`` on the command line.
"""

from ._version import __version__
from . import _core, ops
from .models import ASPDC, STFAN, Model, load_model


def cuda_available() -> bool:
    """True when this build has the CUDA backend and a CUDA device is present."""
    return bool(_core.cuda_available())


def cpu_isa() -> str:
    """The instruction set the CPU kernels use on this machine: 'avx512', 'avx2' or 'generic'."""
    return str(_core.cpu_isa())


__all__ = ["__version__", "ops", "Model", "STFAN", "ASPDC", "load_model", "cuda_available", "cpu_isa"]
