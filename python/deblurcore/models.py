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

from . import _core, tiling
from ._arrays import as_threads

PathLike = Union[str, "os.PathLike[str]"]

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
    def __init__(self, weights_path: PathLike, device: str = "cpu",
                 num_threads: Optional[int] = None, precision: str = "fp32") -> None:
        path = _existing_path(weights_path)
        core_model = _core.load_model(path, device, as_threads(num_threads), _precision(precision))
        self._attach(core_model, path, device)

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
        """'stfan', 'ifan', 'aspdc' or 'analysis_synthesis'."""
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

    @property
    def precision(self) -> str:
        """'fp32', or 'bf16' (the convolutions' GEMMs in bfloat16, see :func:`load_model`)."""
        return self._core.precision

    @property
    def min_size(self) -> int:
        """Smallest accepted image side."""
        return self._core.min_size

    # The Python API takes uint16 only for models trained on 16-bit images (the C++ API also
    # lets STFAN and ASPDC scale them by 1/65535; IFAN's 8-bit variants refuse them in C++).
    def __call__(self, image: np.ndarray, tile=None,
                 tile_overlap: int = tiling.DEFAULT_OVERLAP) -> np.ndarray:
        """Restore one image (for STFAN: one step of the video recurrence).

        ``tile=(th, tw)`` (or an int) restores a large image in overlapping tiles of about
        that size, blended across ``tile_overlap`` pixels, so memory stays bounded whatever
        the image size (see :mod:`deblurcore.tiling`; the result differs slightly from the
        untiled one near the seams). Not for STFAN (its recurrence is per frame).
        """
        self._refuse_uint16_for_8bit(image)
        if tile is not None:
            return self._tiled(self._core.process, [image], tile, tile_overlap)
        return self._core.process(image)

    def _tiled(self, restore, images, tile, tile_overlap):
        _check_tile_images(images)
        # Tiles reach the core as float32; refuse here what the core refuses for the whole
        # image (uint16 into an 8-bit network) rather than silently requantising.
        if images[0].dtype == np.uint16 and not self._takes_uint16():
            raise TypeError(f"image must have dtype uint8 or float32 for {self.variant}, got uint16")
        return tiling.run_tiled(restore, images, tile, tile_overlap,
                                multiple=int(self._core.size_multiple),
                                min_size=int(self._core.min_size))

    def _takes_uint16(self) -> bool:
        return self.architecture == "ifan" and int(_core.ifan_info(self._core)["bit_depth"]) == 16

    def _refuse_uint16_for_8bit(self, image) -> None:
        if getattr(image, "dtype", None) == np.uint16 and self.architecture != "ifan":
            raise TypeError(f"image must have dtype uint8 or float32 for {self.variant}, got uint16")

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

    def __call__(self, image: np.ndarray, tile=None, tile_overlap: int = tiling.DEFAULT_OVERLAP) -> np.ndarray:
        """One step of the recurrence (see :meth:`step`). ``tile`` is refused: each tile
        would need its own recurrent state and the filters cross the seams frame after frame."""
        if tile is not None:
            raise ValueError("tile: STFAN cannot be tiled (its recurrence carries whole-frame "
                             "features from frame to frame); run it untiled")
        return super().__call__(image)

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

    def __call__(self, image: np.ndarray, right: Optional[np.ndarray] = None,
                 left: Optional[np.ndarray] = None, tile=None,
                 tile_overlap: int = tiling.DEFAULT_OVERLAP) -> np.ndarray:
        """Restore one image (dual-pixel variant: with its ``right`` and ``left`` views);
        ``tile``/``tile_overlap`` as in :meth:`Model.__call__` (the views are tiled alike)."""
        if not self.dual_pixel:
            if right is not None or left is not None:
                raise ValueError(f"{self.variant} takes one image; right/left views are only for IFAN_dual")
            if tile is not None:
                return self._tiled(self._core.process, [image], tile, tile_overlap)
            return self._core.process(image)
        if right is None or left is None:
            raise ValueError("IFAN_dual needs the dual-pixel views: model(image, right=R, left=L)")
        if tile is not None:
            views = [image, right, left]
            for name, view in (("right", right), ("left", left)):
                if getattr(view, "shape", None) != getattr(image, "shape", None) or view.dtype != image.dtype:
                    raise ValueError(f"{name} must have the image's shape and dtype "
                                     f"{getattr(image, 'shape', None)} {getattr(image, 'dtype', None)}, "
                                     f"got {getattr(view, 'shape', None)} {getattr(view, 'dtype', None)}")
            return self._tiled(lambda im, rv, lv: _core.ifan_process_dual(self._core, im, rv, lv),
                               views, tile, tile_overlap)
        return _core.ifan_process_dual(self._core, image, right, left)


def _check_tile_images(images) -> None:
    for image in images:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be an H x W x 3 numpy array, got "
                             f"{getattr(image, 'shape', type(image).__name__)}")
        if image.dtype not in (np.uint8, np.uint16, np.float32):
            raise TypeError(f"image must have dtype uint8, uint16 or float32, got {image.dtype}")
        if image.dtype == np.float32 and not np.all(np.isfinite(image)):
            raise ValueError("image contains NaN or infinite values")


def _max_input_size(value) -> tuple[int, int]:
    """The official ``-amis``: None (no limit), an int s (s x s) or (height, width)."""
    if value is None:
        return 0, 0
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        h = w = int(value)
    else:
        try:
            h, w = (int(v) for v in value)
        except (TypeError, ValueError):
            raise TypeError(f"max_input_size must be None, an int or (height, width), got {value!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"max_input_size must be positive, got {value!r}")
    return h, w


class AnalysisSynthesis(Model):
    """Kaufman & Fattal's Analysis-Synthesis pair (CVPR 2020): blind single-image deblurring.

    ``model(image)`` restores an RGB image (uint8 0..255 or float32 0..1; same shape and dtype
    back). As the official code does, the image (in 0..255) is padded to multiples of 16 by
    mirroring (numpy 'symmetric'); the analysis network estimates an 85x85 blur kernel on the
    centre crop of the padded image to the nearest "known valid shape"; the synthesis network
    restores the whole padded image guided by that kernel; the padding is removed and the
    result clipped to [0, 255] (integers rounded half to even).

    ``max_input_size`` is the official ``-amis`` option (an int or (height, width)): only known
    shapes with h * w within it are used for the analysis crop. Images whose padded size fits
    no known shape (under about 240 px) are analysed whole: this fallback is not official (the
    official code fails) and needs at least 193 px per side. With ``kernel=`` the analysis is
    skipped, so any image of at least 8x8 works.
    """

    architecture_name = "analysis_synthesis"
    min_size = 8
    kernel_size = 85

    def estimate_kernel(self, image: np.ndarray, max_input_size=None) -> np.ndarray:
        """The estimated blur kernel: (85, 85) float32, non-negative, summing to 1."""
        self._refuse_uint16_for_8bit(image)
        mh, mw = _max_input_size(max_input_size)
        return np.ascontiguousarray(_core.as_estimate_kernel(self._core, image, mh, mw))

    def __call__(self, image: np.ndarray, kernel: Optional[np.ndarray] = None,
                 max_input_size=None, tile=None,
                 tile_overlap: int = tiling.DEFAULT_OVERLAP) -> np.ndarray:
        """Restore one image; with ``kernel`` ((85, 85)) the synthesis uses it as the blur.

        With ``tile``, the kernel is estimated once on the whole image as usual (the official
        analysis crop, at most 810x942 whatever the image size; or ``kernel`` is used), and
        only the synthesis runs tile by tile with that one kernel: the blur kernel is a
        property of the whole frame, so it is never estimated per tile.
        """
        self._refuse_uint16_for_8bit(image)
        if tile is not None:
            if kernel is None:
                kernel = self.estimate_kernel(image, max_input_size=max_input_size)
            elif max_input_size is not None:
                raise ValueError("max_input_size concerns the kernel estimation; it has no effect with kernel=")
            return self._tiled(lambda t: self(t, kernel=kernel), [image], tile, tile_overlap)
        mh, mw = _max_input_size(max_input_size)
        if kernel is not None:
            if kernel is not None and not isinstance(kernel, np.ndarray):
                raise TypeError(f"kernel must be a numpy.ndarray (85, 85), got {type(kernel).__name__}")
            if kernel.shape not in ((85, 85), (1, 85, 85)):
                raise ValueError(f"kernel must have shape (85, 85), got {kernel.shape}")
            if not np.all(np.isfinite(kernel)):
                raise ValueError("kernel contains NaN or Inf values")
            kernel = np.ascontiguousarray(kernel, dtype=np.float32)
            if mh:
                raise ValueError("max_input_size concerns the kernel estimation; it has no effect with kernel=")
        return _core.as_deblur(self._core, image, kernel, mh, mw)

    @staticmethod
    def analysis_crop(padded_height: int, padded_width: int, max_input_size=None) -> tuple:
        """(top, left, height, width, official) of the analysis crop of a padded image."""
        mh, mw = _max_input_size(max_input_size)
        return tuple(_core.as_analysis_crop(int(padded_height), int(padded_width), mh, mw))

    def analysis(self, rgb: np.ndarray) -> np.ndarray:
        """The analysis network on a (1, 3, H, W) float32 RGB tensor in 0..255 -> (1, 85, 85)."""
        return _core.as_analysis(self._core, np.ascontiguousarray(rgb, dtype=np.float32))

    def synthesis(self, rgb: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """The synthesis network: (1, 3, H, W) in 0..255 (multiples of 16), kernel (1, 85, 85)
        -> its raw (unclipped) output (1, 3, H, W)."""
        return _core.as_synthesis(self._core, np.ascontiguousarray(rgb, dtype=np.float32),
                                  np.ascontiguousarray(kernel, dtype=np.float32))


#: Architecture name -> class, used by load_model.
MODEL_CLASSES = {"stfan": STFAN, "ifan": IFAN, "aspdc": ASPDC, "analysis_synthesis": AnalysisSynthesis}


def _precision(precision) -> str:
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    return precision


def load_model(weights_path: PathLike, device: str = "cpu",
               num_threads: Optional[int] = None, precision: str = "fp32") -> Model:
    """Load the model named by the weights' ``architecture`` metadata.

    Returns an instance of the matching class (:class:`STFAN`, :class:`IFAN`, :class:`ASPDC` or
    :class:`AnalysisSynthesis`).

    ``precision='bf16'`` runs convolutions with bfloat16 operands and float accumulation
    (AVX512_BF16's ``vdpbf16ps``; CPU only): faster, within 2/255 of the 'fp32' output on
    natural images. Layers that need float accuracy stay in float (all of IFAN, most of
    STFAN; the README's bf16 section says which). A CPU without
    AVX512_BF16 raises ``ValueError`` (see :func:`deblurcore.cpu_supports_bf16`).
    """
    path = _existing_path(weights_path)
    core_model = _core.load_model(path, device, as_threads(num_threads), _precision(precision))
    cls = MODEL_CLASSES.get(core_model.architecture, Model)
    model = cls.__new__(cls)
    model._attach(core_model, path, device)
    return model
