"""``deblurcore deblur`` options checked before the model loads, and the model call they shape:
``--tile``/``--tile-overlap`` (tiled inference), ``--right``/``--left`` (IFAN_dual's dual-pixel
views), ``--progress-interval``, and the encoder options ``--codec``/``--crf`` (see
:mod:`deblurcore.cli`). Loading a model and decoding the first frame take seconds to minutes on
large inputs, so every mistake that can be found from the arguments, the weights' metadata and
the OUTPUT path is reported first.
"""

from __future__ import annotations

import argparse

import numpy as np

from ._cli_common import UsageError

#: CRF encoders and their largest CRF (x264/x265 0..51; VP8/VP9/AV1 0..63).
CRF_RANGES = {"libx264": 51, "libx265": 51, "libvpx": 63, "libvpx-vp9": 63, "libaom-av1": 63,
              "libsvtav1": 63}
DEFAULT_CODEC = "libx264"


def add_deblur_options(d: argparse.ArgumentParser, positive_int) -> None:
    """Register the options of this module on the ``deblur`` parser."""
    from ._cli_progress import DEFAULT_INTERVAL
    from .tiling import DEFAULT_OVERLAP

    d.add_argument(
        "--tile", type=positive_int, nargs="+", metavar="PX",
        help="IFAN, ASPDC, Analysis-Synthesis: restore in overlapping tiles of PX (or H W) "
        "pixels to bound memory on large frames (e.g. --tile 512); default: whole frames",
    )
    d.add_argument(
        "--tile-overlap", type=int, default=DEFAULT_OVERLAP, metavar="PX",
        help=f"overlap of neighbouring tiles, feathered linearly (default {DEFAULT_OVERLAP})",
    )
    d.add_argument("--right", metavar="INPUT_R",
                   help="IFAN_dual: the right dual-pixel views (a file, folder or video with "
                   "INPUT's frames in the same order)")
    d.add_argument("--left", metavar="INPUT_L",
                   help="IFAN_dual: the left dual-pixel views (like --right)")
    d.add_argument(
        "--progress-interval", type=float, default=DEFAULT_INTERVAL, metavar="S",
        help="when stderr is not a terminal: seconds between progress lines (default "
        f"{DEFAULT_INTERVAL:g})",
    )


def check_deblur_options(args, meta: dict, out_kind: str) -> None:
    """Refuse inconsistent options from the arguments and the weights' metadata alone."""
    arch = meta.get("architecture", "")
    variant = meta.get("variant", "")
    tile = getattr(args, "tile", None)
    if tile is not None:
        if len(tile) > 2:
            raise UsageError("--tile takes PX or H W")
        if arch == "stfan":
            raise UsageError("--tile: STFAN cannot be tiled (its recurrence carries whole-frame "
                             "features from frame to frame); run it without --tile")
        if args.tile_overlap < 0:
            raise UsageError(f"--tile-overlap must be >= 0, got {args.tile_overlap}")
        if args.tile_overlap >= min(tile):
            raise UsageError(f"--tile-overlap {args.tile_overlap} must be smaller than the tile "
                             f"({' '.join(map(str, tile))})")
    if getattr(args, "progress_interval", 0) < 0:
        raise UsageError(f"--progress-interval must be >= 0, got {args.progress_interval}")
    views = (getattr(args, "right", None), getattr(args, "left", None))
    if any(v is not None for v in views) and not all(v is not None for v in views):
        raise UsageError("--right and --left go together (the two dual-pixel views)")
    dual = variant == "IFAN_dual"
    if views[0] is not None and arch and not dual:
        raise UsageError(f"--right/--left are for IFAN_dual weights; these are "
                         f"{variant or arch}")
    if dual and views[0] is None:
        raise UsageError("IFAN_dual weights need the dual-pixel views: --right INPUT_R --left INPUT_L")
    _check_encoder(args, out_kind)


def _check_encoder(args, out_kind: str) -> None:
    from . import media

    codec, crf = getattr(args, "codec", None), getattr(args, "crf", None)
    if out_kind != "video":
        for name, value in (("--codec", codec), ("--crf", crf)):
            if value is not None:
                media.warn(f"{name} is ignored: OUTPUT is not a video")
        return
    if codec is not None:
        from .media._common import av

        if av is not None:
            try:
                av.Codec(codec, "w")
            except Exception:  # PyAV raises various types for unknown names
                raise UsageError(f"--codec {codec}: no such video encoder in this FFmpeg") from None
    if crf is not None:
        name = codec or DEFAULT_CODEC
        if name not in CRF_RANGES:
            raise UsageError(f"--crf applies to {', '.join(CRF_RANGES)}; not to --codec {name}")
        if crf > CRF_RANGES[name]:
            raise UsageError(f"--crf {crf}: {name} takes 0 to {CRF_RANGES[name]}")


def _as_dtype(view: np.ndarray, dtype) -> np.ndarray:
    """A view in the dtype the image reaches the model in (float32 when the model refused the
    integer frame: the same v / max scaling as the image)."""
    if view.dtype == dtype:
        return view
    if dtype == np.float32:
        return view.astype(np.float32) / np.float32(np.iinfo(view.dtype).max)
    raise UsageError(f"the dual-pixel views are {view.dtype} but INPUT is {np.dtype(dtype)}")


class ModelCall:
    """The model as the runner calls it: with the tile options and the current frame's
    dual-pixel views (``views``, set before each frame)."""

    def __init__(self, model, tile=None, tile_overlap: int = 0) -> None:
        self.model = model
        self.kwargs = {}
        if tile is not None:
            self.kwargs = {"tile": tuple(tile) if len(tile) == 2 else tile[0],
                           "tile_overlap": tile_overlap}
        self.views: tuple | None = None

    def __getattr__(self, name):  # estimate_kernel, architecture, ...
        if name == "step":  # recurrent models are never wrapped
            raise AttributeError(name)
        return getattr(self.model, name)

    def __call__(self, image: np.ndarray, **extra) -> np.ndarray:
        kwargs = dict(self.kwargs, **extra)
        if self.views is not None:
            right, left = self.views
            kwargs["right"] = _as_dtype(right, image.dtype)
            kwargs["left"] = _as_dtype(left, image.dtype)
        return self.model(image, **kwargs)
