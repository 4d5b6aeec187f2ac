"""The networks, loaded from converted weights (``deblurcore convert``) and run on images.

Every model takes an H x W x 3 **RGB** numpy image, uint8 (0-255) or float32 (0-1; IFAN's
16-bit variant also uint16), and returns the restored image with the same shape and dtype:
float32 clamped to [0, 1], integers rounded to nearest. Channel order (STFAN's weights are
BGR), value scaling and the size multiple a network needs are handled inside, from the weights'
metadata: images of any size are padded (replicating the last row and column) to that multiple
and the result is cropped back. Computation releases the GIL. One instance must not be used by
two threads at once; create one per thread.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator, Optional, Union

import numpy as np

from . import _core
from ._arrays import as_device, as_threads

PathLike = Union[str, "os.PathLike[str]"]

_PIXEL_DTYPES = (np.uint8, np.float32)


def _existing_path(weights_path: PathLike) -> str:
    path = os.fspath(weights_path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"weights path {path} is a directory, not a safetensors file")
    if not os.path.isfile(path):
        raise ValueError(f"weights path {path} is not a regular file (a FIFO, socket or device?)")
    return path


class Model:
    """Common behaviour of the models; use :func:`load_model` or a concrete class."""

    #: Architecture name in the weights' metadata; None accepts any (``load_model``).
    architecture_name: Optional[str] = None
    #: Smallest accepted image side.
    min_size: int = 1

    def __init__(self, weights_path: PathLike, device: str = "cpu",
                 num_threads: Optional[int] = None) -> None:
        path = _existing_path(weights_path)
        device = as_device(device)
        self._attach(_core.load_model(path, device, as_threads(num_threads)), path, device)

    def _attach(self, core_model, path: str, device: str) -> None:
        if self.architecture_name is not None and core_model.architecture != self.architecture_name:
            raise ValueError(
                f"{path} holds {core_model.architecture!r} weights, not {self.architecture_name!r}; "
                f"use deblurcore.load_model() or deblurcore.{core_model.architecture.upper()}"
            )
        self._core = core_model
        self._device = device
        self.weights_path = path

    @property
    def architecture(self) -> str:
        """'stfan', 'ifan' or 'aspdc'."""
        return self._core.architecture

    @property
    def variant(self) -> str:
        """The variant recorded at conversion (e.g. 'IFAN_16bit'), else the architecture."""
        return self._core.variant

    @property
    def is_video(self) -> bool:
        """True for recurrent models (STFAN), whose output depends on the previous frames."""
        return self._core.is_recurrent

    @property
    def device(self) -> str:
        return self._device

    def _pixel_dtypes(self):
        return _PIXEL_DTYPES

    def _check_image(self, image, name: str = "image") -> np.ndarray:
        if not isinstance(image, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray (H, W, 3), got {type(image).__name__}")
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{name} must have shape (H, W, 3) with RGB channels, got {image.shape}")
        allowed = self._pixel_dtypes()
        if image.dtype not in allowed:
            names = ", ".join(np.dtype(d).name for d in allowed)
            raise TypeError(f"{name} must have dtype {names} for this model, got {image.dtype}")
        h, w = image.shape[:2]
        if h < self.min_size or w < self.min_size:
            raise ValueError(
                f"{name} is {h}x{w}; this model needs at least {self.min_size}x{self.min_size} pixels"
            )
        return np.ascontiguousarray(image)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Restore one image (for STFAN: one step of the video recurrence)."""
        return self._core.process(self._check_image(image))

    def __repr__(self) -> str:
        return f"deblurcore.{type(self).__name__}({self.weights_path!r}, device={self._device!r})"


class STFAN(Model):
    """STFAN video deblurring (Zhou et al., ICCV 2019): a recurrent network.

    Feed the frames of a clip in order with :meth:`step` (or :meth:`run`); call :meth:`reset`
    before a new clip. The first frame of a clip uses itself as the previous frame, as the
    official test code does. All frames of a clip must have the same size (minimum 4x4); a
    frame of another size without :meth:`reset` raises ValueError.
    """

    architecture_name = "stfan"
    min_size = 4

    def step(self, frame: np.ndarray) -> np.ndarray:
        """Restore the next frame of the clip; returns the same shape and dtype."""
        return self(frame)

    def reset(self) -> None:
        """Forget the previous frames: the next frame starts a new clip."""
        self._core.reset()

    def run(self, frames: Iterable[np.ndarray], reset: bool = True) -> Iterator[np.ndarray]:
        """Yield the restored frames of a clip (resetting first unless ``reset=False``)."""
        if reset:
            self.reset()
        for frame in frames:
            yield self.step(frame)


class ASPDC(Model):
    """ASPDC single-image motion deblurring (Huo et al., CVPR 2022 NTIRE workshop).

    ``model(image)`` restores one RGB image. The network works on [-1, 1] values and needs
    sides that are multiples of 4: other sizes are padded by replicating the last row and
    column, and the result is cropped back (the official code refuses them). Because of a
    quirk of the official model (its dilation-0 branch reads its mask with the strides of a
    differently sized map, which the trained weights rely on, reproduced here), padding is not
    neutral: the result depends on the padded width. Images must be at least 9x9 (padded to
    12x12: the network's quarter-resolution maps need 3x3 for its unpadded mask conv).
    """

    architecture_name = "aspdc"
    min_size = 9


class IFAN(Model):
    """IFAN single-image defocus deblurring (Lee et al., CVPR 2021), every released variant.

    ``model(image)`` restores one RGB image: uint8, or float32 in [0, 1]; the 16-bit variant
    (``IFAN_16bit``) also takes uint16 (scaled by 1/65535 as it was trained), while the 8-bit
    variants refuse uint16 with TypeError rather than silently requantising (convert to
    float32 in [0, 1] to use them on 16-bit data). The output has the input's shape and dtype.

    The network needs sides that are multiples of 8. The official code crops the image to
    the largest such size (dropping up to 7 bottom rows and right columns, which are then
    missing from its output); here the image is instead padded to the next multiple of 8 by
    replicating its last row and column, and the result is cropped back, so every pixel is
    restored and the output has the input's size. Where the official code does not crop
    (sizes that are multiples of 8) both agree.

    The dual-pixel variant (``IFAN_dual``) also needs the right and left views:
    ``model(image, right=R, left=L)``, three images of the same shape and dtype; the image
    feeds the feature path and the residual, the views the filter encoder.
    """

    architecture_name = "ifan"

    def _info(self) -> dict:
        return _core.ifan_info(self._core)

    @property
    def iterations(self) -> int:
        """N, the number of IAC iterations (17, or 8, 26, 35, 44)."""
        return int(self._info()["iterations"])

    @property
    def dual_pixel(self) -> bool:
        """True for IFAN_dual (needs ``right=`` and ``left=`` views)."""
        return bool(self._info()["dual_pixel"])

    @property
    def bit_depth(self) -> int:
        """16 for IFAN_16bit, else 8."""
        return int(self._info()["bit_depth"])

    def _pixel_dtypes(self):
        if self.bit_depth == 16:
            return (np.uint8, np.uint16, np.float32)
        return _PIXEL_DTYPES

    def __call__(self, image: np.ndarray, right: Optional[np.ndarray] = None,
                 left: Optional[np.ndarray] = None) -> np.ndarray:
        """Restore one image (dual-pixel variant: with its ``right`` and ``left`` views)."""
        image = self._check_image(image)
        if not self.dual_pixel:
            if right is not None or left is not None:
                raise ValueError(f"{self.variant} takes one image; right/left views are only for IFAN_dual")
            return self._core.process(image)
        if right is None or left is None:
            raise ValueError("IFAN_dual needs the dual-pixel views: model(image, right=R, left=L)")
        views = []
        for name, view in (("right", right), ("left", left)):
            view = self._check_image(view, name)
            if view.shape != image.shape:
                raise ValueError(f"{name} must have the image's shape {image.shape}, got {view.shape}")
            if view.dtype != image.dtype:
                raise TypeError(f"{name} must have the image's dtype {image.dtype}, got {view.dtype}")
            views.append(view)
        return _core.ifan_process_dual(self._core, image, views[0], views[1])


#: Architecture name -> class, used by load_model.
MODEL_CLASSES = {"stfan": STFAN, "ifan": IFAN, "aspdc": ASPDC}


def load_model(weights_path: PathLike, device: str = "cpu",
               num_threads: Optional[int] = None) -> Model:
    """Load the model named by the weights' ``architecture`` metadata.

    Returns an instance of the matching class (:class:`STFAN`, :class:`IFAN` or :class:`ASPDC`).
    """
    path = _existing_path(weights_path)
    device = as_device(device)
    core_model = _core.load_model(path, device, as_threads(num_threads))
    cls = MODEL_CLASSES.get(core_model.architecture, Model)
    model = cls.__new__(cls)
    model._attach(core_model, path, device)
    return model
