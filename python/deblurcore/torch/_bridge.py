"""How torch tensors cross into deblurcore's C++ core and back, without copies where possible.

The input rule (every op of :mod:`deblurcore.torch`):

* A float32, contiguous tensor is handed to the core as it is, through DLPack: its memory is
  read in place (CPU or CUDA), never copied.
* Anything else of a floating dtype (float64, float16, bfloat16, or a non-contiguous view) is
  first made a contiguous float32 copy. The core computes in float32; results are returned in
  the dtype of the op's first tensor argument ``x`` (a float64 ``x`` gives a float64 result,
  holding float32-precise values), and each gradient in the dtype of its input.
* Integer, bool and complex tensors raise ``TypeError``; tensors of one call on different
  devices raise ``ValueError``.
* CPU tensors run on the CPU kernels with ``torch.get_num_threads()`` threads; CUDA tensors
  run on deblurcore's CUDA backend on PyTorch's current stream of their device, when this build
  has it, else ``RuntimeError`` says so (move the tensors to the CPU or rebuild with CUDA).
* Results are new tensors whose memory deblurcore allocated (no copy on the way out).
"""

from __future__ import annotations

import torch
from torch.utils.dlpack import from_dlpack, to_dlpack

from .. import _core

_FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def as_core_input(t: torch.Tensor, name: str) -> torch.Tensor:
    """``t`` detached, float32 and contiguous: itself when it already is (no copy)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{name} must have a floating dtype (float32, float64, float16 or bfloat16), "
            f"got {t.dtype}"
        )
    if t.device.type not in ("cpu", "cuda"):
        raise ValueError(f"{name} must be on the CPU or a CUDA device, got {t.device}")
    return t.detach().to(torch.float32).contiguous()


def check_cuda(t: torch.Tensor) -> None:
    """A clear error for CUDA tensors when this build of deblurcore has no CUDA backend."""
    if t.device.type == "cuda" and not _core.cuda_available():
        raise RuntimeError(
            "deblurcore was built without CUDA (or sees no CUDA device), so it cannot run on "
            f"the CUDA tensor {tuple(t.shape)} on {t.device}; move the tensors to the CPU or "
            "rebuild deblurcore with -DDEBLURCORE_CUDA=ON"
        )


class CoreCall:
    """The capsules and run settings of one call into the core: hand inputs over with
    :meth:`arg`, run the ``_core.dl_*`` function with ``*call.settings``, read results back
    with :meth:`result`."""

    def __init__(self, x: torch.Tensor):
        check_cuda(x)
        self.device = x.device
        self._keep = []  # the float32 inputs stay alive until the call returns

    def arg(self, t, name: str):
        if t is None:
            return None
        c = as_core_input(t, name)
        if c.device != self.device:
            raise ValueError(f"{name} is on {c.device} but x is on {self.device}")
        self._keep.append(c)
        return to_dlpack(c)

    @property
    def settings(self):
        if self.device.type == "cuda":
            stream = torch.cuda.current_stream(self.device).cuda_stream
            return torch.get_num_threads(), int(stream)
        return torch.get_num_threads(), 0

    def run(self, fn, *args):
        """``fn(*args, threads, stream)`` with the tensors' CUDA device made current."""
        if self.device.type == "cuda":
            with torch.cuda.device(self.device):
                return fn(*args, *self.settings)
        return fn(*args, *self.settings)


def result(capsule, dtype: torch.dtype):
    """The core's result as a tensor of ``dtype`` (no copy when it is float32)."""
    if capsule is None:
        return None
    t = from_dlpack(capsule)
    return t if dtype == torch.float32 else t.to(dtype)
