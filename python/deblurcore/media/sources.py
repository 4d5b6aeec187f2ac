"""Inputs: a video file, a folder of images or a single image, as a stream of frames."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from ._common import MediaError, PathLike, av, av_errors, describe, require_av
from .colors import COLOR_TAGS, sws_colorspace
from .metadata import ImageMeta
from .paths import IMAGE_EXTENSIONS, is_image_path, list_images
from .stills import read_image_meta


@dataclass
class Frame:
    """One input picture with what the writers need to keep timing and names."""

    image: np.ndarray  #: H×W×3 RGB, uint8 or uint16
    index: int  #: position in the input, from 0
    name: str  #: file name for folder outputs (extension included)
    pts: int | None = None  #: presentation timestamp in ``time_base`` units (videos)
    time_base: Fraction | None = None
    #: colour tags of a decoded video frame (FFmpeg AVColorSpace/Range/Primaries/TRC codes)
    color: dict | None = None
    #: a still image's ICC profile, EXIF, DPI and text, carried to image outputs
    meta: ImageMeta | None = None


AudioCallback = Callable[["av.Packet"], None]


class Source:
    """Iterable input: a video file, a folder of images or a single image."""

    kind: str = ""
    path: Path
    #: number of frames, or an estimate for videos whose header lacks it (None: unknown)
    frame_count: int | None = None
    fps: Fraction | None = None
    time_base: Fraction | None = None
    audio_stream = None  #: the PyAV audio stream to carry over, if any

    def frames(self, on_audio: AudioCallback | None = None) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageSource(Source):
    kind = "image"

    def __init__(self, path: Path):
        self.path = path
        self.frame_count = 1
        # Read now: a bad file fails before the model loads.
        self._image, self._meta = read_image_meta(path)

    def frames(self, on_audio=None):
        yield Frame(self._image, 0, self.path.name, meta=self._meta)


class FolderSource(Source):
    kind = "folder"

    def __init__(self, path: Path):
        self.path = path
        self.files = list_images(path)
        if not self.files:
            raise MediaError(f"INPUT folder {path} has no images ({', '.join(IMAGE_EXTENSIONS)})")
        self.frame_count = len(self.files)

    def frames(self, on_audio=None):
        for i, f in enumerate(self.files):
            image, meta = read_image_meta(f)
            yield Frame(image, i, f.name, meta=meta)


class VideoSource(Source):
    kind = "video"

    def __init__(self, path: Path):
        require_av()
        self.path = path
        try:
            self._container = av.open(str(path))
        except av_errors() as exc:
            raise MediaError(
                f"cannot read INPUT {path} as a video or image: {describe(exc)}"
            ) from None
        try:
            if not self._container.streams.video:
                raise MediaError(f"INPUT {path} has no video stream")
            self.stream = self._container.streams.video[0]
            self.stream.thread_type = "AUTO"
            audio = self._container.streams.audio
            self.audio_stream = audio[0] if audio else None
            self.time_base = self.stream.time_base
            self.fps = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
            self.frame_count = self._count_frames()
        except BaseException:
            self._container.close()
            raise

    def _count_frames(self) -> int | None:
        if self.stream.frames:
            return int(self.stream.frames)
        duration = None
        if self.stream.duration is not None and self.stream.time_base:
            duration = float(self.stream.duration * self.stream.time_base)
        elif self._container.duration:
            duration = self._container.duration / 1_000_000  # AV_TIME_BASE
        if duration and self.fps:
            return max(1, round(duration * float(self.fps)))
        return None

    def frames(self, on_audio=None):
        streams = [self.stream]
        if on_audio is not None and self.audio_stream is not None:
            streams.append(self.audio_stream)
        index = 0
        try:
            for packet in self._container.demux(streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None:  # demux ends each stream with an empty packet
                        on_audio(packet)
                    continue
                for vf in packet.decode():
                    yield self._to_frame(vf, index)
                    index += 1
        except av_errors() as exc:
            raise MediaError(
                f"cannot decode INPUT {self.path} at frame {index}: {describe(exc)}"
            ) from None

    def _to_frame(self, vf, index: int) -> Frame:
        color = {k: int(getattr(vf, k) or 0) for k in COLOR_TAGS}
        # YUV -> RGB with the matrix and range the frame declares (BT.601, limited range
        # when it declares none, as FFmpeg does).
        rgb = vf.reformat(
            format="rgb24",
            src_colorspace=sws_colorspace(color["colorspace"]),
            src_color_range=color["color_range"] or None,
        )
        image = rgb.to_ndarray(format="rgb24")
        return Frame(
            image, index, f"{index:05d}.png", vf.pts, vf.time_base or self.time_base, color
        )

    def close(self) -> None:
        self._container.close()


def open_source(path: PathLike) -> Source:
    """Open INPUT: a folder of images, a still image (by extension) or anything FFmpeg reads
    as a video. Raises :class:`MediaError` with a one-line reason otherwise."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"INPUT {path}: no such file or folder")
    if path.is_dir():
        return FolderSource(path)
    if not path.is_file():
        raise MediaError(f"INPUT {path} is neither a regular file nor a folder")
    if not os.access(path, os.R_OK):
        raise MediaError(f"INPUT {path} is not readable")
    if is_image_path(path):
        return ImageSource(path)
    return VideoSource(path)
