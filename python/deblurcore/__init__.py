"""deblurcore: filter-adaptive deblurring networks (STFAN, IFAN, ASPDC) without a framework.

The numerical core is C++ (``deblurcore._core``); this package gives it a numpy API:

* :mod:`deblurcore.ops`: the ops (conv2d, fac, ...) on numpy arrays, named like
  ``torch.nn.functional``;
* the models :class:`STFAN`, :class:`IFAN`, :class:`ASPDC`, :class:`AnalysisSynthesis` (and :func:`load_model` for any converted weights file);
* ``deblurcore convert`` / ``deblurcore deblur`` on the command line.
"""

from . import _core, ops
from ._version import __version__
from .models import ASPDC, IFAN, STFAN, AnalysisSynthesis, Model, load_model


def cuda_available() -> bool:
    """True when this build has the CUDA backend and a CUDA device is present."""
    return bool(_core.cuda_available())


def cpu_isa() -> str:
    """The instruction set the CPU kernels use on this machine: 'avx512', 'avx2' or 'generic'."""
    return str(_core.cpu_isa())


def cpu_supports_bf16() -> bool:
    """True when this CPU (and build) runs ``precision='bf16'``: AVX-512 with AVX512_BF16."""
    return bool(_core.cpu_supports_bf16())


def get_cmake_dir() -> str:
    """The folder of deblurcore's CMake package, for C++ applications linking the library.

    Put it on ``CMAKE_PREFIX_PATH`` (or pass it as ``deblurcore_DIR``), then
    ``find_package(deblurcore CONFIG REQUIRED)`` and link ``deblurcore::deblurcore``. Also
    printed by ``python -m deblurcore --cmakedir``.
    """
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "share", "cmake", "deblurcore")
    if not os.path.isfile(os.path.join(path, "deblurcoreConfig.cmake")):
        raise FileNotFoundError(f"deblurcore's CMake package is missing ({path}); reinstall deblurcore")
    return path


__all__ = ["__version__", "ops", "Model", "STFAN", "IFAN", "ASPDC", "AnalysisSynthesis", "load_model", "cuda_available", "cpu_isa",
           "cpu_supports_bf16",
           "get_cmake_dir"]
