"""Reading and writing videos, image folders and single images for the command line.

Everything goes through PyAV (FFmpeg), including still images, so the package needs no
separate imaging library. Frames are handed around as ``H×W×3`` RGB numpy arrays:
``uint8`` for 8-bit sources, ``uint16`` for 16-bit still images (PNG, TIFF), so a 16-bit
PNG can go through a 16-bit model and come back out as a 16-bit PNG.

Outputs are never left half-written:

* a video or a single image is written to a hidden temporary file next to the final path
  and moved into place with :func:`os.replace` by :meth:`Sink.commit`;
* a folder is written into a hidden temporary folder next to the final path and renamed
  into place by :meth:`Sink.commit`;
* :meth:`Sink.abort` (an error, Ctrl-C) removes the temporary file or folder.

Video encoding (see :class:`VideoSink`):

* codec: ``libx264`` (H.264, CRF 18) when available and accepted by the container, else
  ``mpeg4``, else the container's default (e.g. VP9 for ``.webm``); ``codec=`` overrides.
* pixel format: ``yuv420p`` (the most widely playable) when width and height are even.
  With an odd width or height, 4:2:0 chroma cannot represent the picture exactly, so the
  encoder gets ``yuv444p`` instead (exact size, no padding or cropping; H.264 4:4:4 plays in
  FFmpeg-based players such as VLC/mpv but not in most browsers). Codecs that are lossless
  and accept RGB (``ffv1``, ``utvideo``, ``huffyuv``, ``png``, ...) get an RGB pixel format,
  so the decoded frames equal the written arrays exactly.
* timing: the source's time base and each frame's timestamp are kept, so the frame rate
  (constant or variable) and the duration are preserved. Image folders get ``fps``.
* audio: packets of the source's first audio stream are copied unchanged when the output
  container accepts the codec; otherwise the audio is re-encoded (AAC, or the container's
  default audio codec); when neither works the audio is dropped with a warning.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Union

import numpy as np

try:  # PyAV is a hard requirement of the command line, not of the numpy API.
    import av
except ImportError:  # pragma: no cover - exercised only without PyAV installed
    av = None

PathLike = Union[str, os.PathLike]

#: Still-image extensions read from folders and written as single images.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Extensions accepted for a video OUTPUT (containers whose codec support FFmpeg can
#: report, so the codec choice below is reliable). Any file that is not an image is tried
#: as a video on INPUT, so inputs are not limited to this list.
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm")

#: Codecs that are lossless and store RGB pixels exactly when given an RGB format.
_LOSSLESS_RGB_CODECS = ("ffv1", "ffvhuff", "huffyuv", "utvideo", "png", "qtrle",
                        "libx264rgb", "rawvideo")
_RGB_FORMATS = ("rgb24", "gbrp", "bgr0", "bgr24", "rgba", "bgra")
_DEFAULT_VIDEO_CODECS = ("libx264", "mpeg4")
_DEFAULT_CRF = 18
_TEMP_TAG = ".deblurcore-tmp-"


class MediaError(ValueError):
    """A file cannot be read or written as requested (missing, unreadable, bad kind)."""


class _AudioRefused(Exception):
    """The output container cannot take the audio in the way being tried."""


def _require_av() -> None:
    if av is None:
        raise MediaError("reading and writing media needs PyAV: pip install av")


def _av_errors() -> tuple:
    return (av.error.FFmpegError, OSError) if av is not None else (OSError,)


def warn(message: str) -> None:
    """Report a non-fatal problem; the command line turns these into one-line messages."""
    warnings.warn(message, UserWarning, stacklevel=2)


# --------------------------------------------------------------------------------------
# Names and kinds


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``frame2`` before ``frame10``.

    ``re.split`` with a capturing group alternates text and digit runs, so the key lists
    of two names compare text with text and numbers with numbers at every position. The
    name itself breaks ties (``f01`` vs ``f1``).
    """
    parts = re.split(r"(\d+)", name)
    key = tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
    return key, name


def is_image_path(path: PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def list_images(folder: PathLike) -> List[Path]:
    """The image files of ``folder`` (not recursive, hidden files skipped), naturally sorted."""
    folder = Path(folder)
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and is_image_path(p)]
    files.sort(key=lambda p: natural_key(p.name))
    return files


# --------------------------------------------------------------------------------------
# Still images


def _frame_bits(frame) -> int:
    return max(c.bits for c in frame.format.components)


def read_image(path: PathLike) -> np.ndarray:
    """Read a still image as ``H×W×3`` RGB: ``uint16`` when the file has more than 8 bits
    per channel (16-bit PNG/TIFF), else ``uint8``. Alpha is dropped, gray is replicated."""
    _require_av()
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: not an image")
            frame = next(container.decode(video=0), None)
    except MediaError:
        raise
    except _av_errors() as exc:
        raise MediaError(f"cannot read image {path}: {_describe(exc)}") from None
    if frame is None:
        raise MediaError(f"cannot read image {path}: no picture in the file")
    if _frame_bits(frame) > 8:
        return frame.to_ndarray(format="rgb48le")
    return frame.to_ndarray(format="rgb24")


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    # uint16 → uint8 with rounding: 65535 / 255 = 257 exactly.
    return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)


def encode_image(image: np.ndarray, ext: str) -> bytes:
    """Encode an ``H×W×3`` uint8/uint16 RGB array in the still-image format of ``ext``.

    PNG and TIFF keep 16 bits; JPEG and BMP are 8-bit only, so uint16 is rounded to uint8.
    JPEG uses 4:4:4 chroma and a high quality (qscale 2) to limit the loss.
    """
    _require_av()
    _check_image_array(image)
    ext = ext.lower()
    height, width = image.shape[:2]
    wide = image.dtype == np.uint16
    if ext == ".png":
        codec, src_fmt, pix_fmt = "png", ("rgb48le" if wide else "rgb24"), ("rgb48be" if wide else "rgb24")
    elif ext in (".tif", ".tiff"):
        codec, src_fmt, pix_fmt = "tiff", ("rgb48le" if wide else "rgb24"), ("rgb48le" if wide else "rgb24")
    elif ext in (".jpg", ".jpeg"):
        image, codec, src_fmt, pix_fmt = _to_uint8(image), "mjpeg", "rgb24", "yuvj444p"
    elif ext == ".bmp":
        image, codec, src_fmt, pix_fmt = _to_uint8(image), "bmp", "rgb24", "bgr24"
    else:
        raise MediaError(f"unsupported image extension {ext!r}; use one of {', '.join(IMAGE_EXTENSIONS)}")
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=src_fmt)
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = Fraction(1, 25)
    if codec == "mjpeg":
        # Quantiser pinned to 2 (of 1..31; ffmpeg's "-q:v 2"): visually lossless.
        ctx.qmin = ctx.qmax = 2
        ctx.color_range = int(av.video.reformatter.ColorRange.JPEG)
    if codec == "mjpeg":  # JPEG stores full-range YCbCr
        frame = frame.reformat(format=pix_fmt, dst_color_range=av.video.reformatter.ColorRange.JPEG)
    else:
        frame = frame.reformat(format=pix_fmt)
    frame.pts = 0
    packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    return b"".join(bytes(p) for p in packets)


def _check_image_array(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an H×W×3 array, got {getattr(image, 'shape', type(image))}")
    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"image must be uint8 or uint16, got {image.dtype}")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + _TEMP_TAG)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def write_image(path: PathLike, image: np.ndarray) -> None:
    """Write one image atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    _atomic_write_bytes(path, encode_image(image, path.suffix))


# --------------------------------------------------------------------------------------
# Sources


@dataclass
class Frame:
    """One input picture with what the writers need to keep timing and names."""

    image: np.ndarray          #: H×W×3 RGB, uint8 or uint16
    index: int                 #: position in the input, from 0
    name: str                  #: file name for folder outputs (extension included)
    pts: Optional[int] = None  #: presentation timestamp in ``time_base`` units (videos)
    time_base: Optional[Fraction] = None
    #: colour tags of a decoded video frame (FFmpeg AVColorSpace/Range/Primaries/TRC codes)
    color: Optional[dict] = None


AudioCallback = Callable[["av.Packet"], None]


_COLOR_TAGS = ("colorspace", "color_range", "color_primaries", "color_trc")
_UNSPECIFIED = {"colorspace": 2, "color_range": 0, "color_primaries": 2, "color_trc": 2}


def _sws_colorspace(avcol_spc: int):
    """The swscale matrix for an FFmpeg AVColorSpace code (the two use different numbers)."""
    cs = av.video.reformatter.Colorspace
    table = {1: cs.ITU709, 4: cs.FCC, 5: cs.ITU601, 6: cs.ITU601, 7: cs.SMPTE240M,
             9: cs.BT2020, 10: cs.BT2020}
    return table.get(avcol_spc, cs.ITU601)


class Source:
    """Iterable input: a video file, a folder of images or a single image."""

    kind: str = ""
    path: Path
    #: number of frames, or an estimate for videos whose header lacks it (None: unknown)
    frame_count: Optional[int] = None
    fps: Optional[Fraction] = None
    time_base: Optional[Fraction] = None
    audio_stream = None  #: the PyAV audio stream to carry over, if any

    def frames(self, on_audio: Optional[AudioCallback] = None) -> Iterator[Frame]:
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
        self._image = read_image(path)  # read now: a bad file fails before the model loads

    def frames(self, on_audio=None):
        yield Frame(self._image, 0, self.path.name)


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
            yield Frame(read_image(f), i, f.name)


class VideoSource(Source):
    kind = "video"

    def __init__(self, path: Path):
        _require_av()
        self.path = path
        try:
            self._container = av.open(str(path))
        except _av_errors() as exc:
            raise MediaError(f"cannot read INPUT {path} as a video or image: {_describe(exc)}") from None
        try:
            if not self._container.streams.video:
                raise MediaError(f"INPUT {path} has no video stream")
            self.stream = self._container.streams.video[0]
            self.stream.thread_type = "AUTO"
            self.audio_stream = self._container.streams.audio[0] if self._container.streams.audio else None
            self.time_base = self.stream.time_base
            self.fps = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
            self.frame_count = self._count_frames()
        except BaseException:
            self._container.close()
            raise

    def _count_frames(self) -> Optional[int]:
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
        except _av_errors() as exc:
            raise MediaError(f"cannot decode INPUT {self.path} at frame {index}: {_describe(exc)}") from None

    def _to_frame(self, vf, index: int) -> Frame:
        color = {k: int(getattr(vf, k) or 0) for k in _COLOR_TAGS}
        # YUV -> RGB with the matrix and range the frame declares (BT.601, limited range
        # when it declares none, as FFmpeg does).
        rgb = vf.reformat(format="rgb24", src_colorspace=_sws_colorspace(color["colorspace"]),
                          src_color_range=color["color_range"] or None)
        image = rgb.to_ndarray(format="rgb24")
        return Frame(image, index, f"{index:05d}.png", vf.pts, vf.time_base or self.time_base, color)

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


# --------------------------------------------------------------------------------------
# Sinks


class Sink:
    """Output written through a temporary file/folder; see the module docstring."""

    path: Path

    def write(self, image: np.ndarray, frame: Frame) -> None:
        raise NotImplementedError

    def on_audio(self, packet) -> None:
        """Receive an audio packet of the source (ignored by image outputs)."""

    def commit(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Committing is explicit: leaving the block without commit() (error, Ctrl-C)
        # discards the temporary output.
        self.abort()


def _remove_quietly(path: PathLike) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace_into(tmp: Path, final: Path, overwrite: bool) -> None:
    """Move ``tmp`` (file or folder) to ``final``. An existing ``final`` is replaced only
    with ``overwrite``; a folder is first moved aside so the swap is two renames."""
    # mkstemp/mkdtemp create private (0600/0700) entries; give the result the usual
    # permissions of a new file or folder.
    try:
        os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~_umask())
    except OSError:
        pass
    if final.exists() or final.is_symlink():
        if not overwrite:
            raise MediaError(f"OUTPUT {final} exists (use --force to overwrite)")
        if final.is_dir() and not final.is_symlink():
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix="." + final.name + ".deblurcore-old-"))
            os.replace(final, old / "old")
            try:
                os.replace(tmp, final)
            except BaseException:
                os.replace(old / "old", final)  # put the previous output back
                _remove_quietly(old)
                raise
            _remove_quietly(old)
            return
        if tmp.is_dir():
            os.unlink(final)
    os.replace(tmp, final)


class ImageSink(Sink):
    """A single image file."""

    def __init__(self, path: Path, overwrite: bool = False):
        self.path, self.overwrite = path, overwrite
        self._data: Optional[bytes] = None
        self._tmp: Optional[str] = None

    def write(self, image, frame):
        if self._data is not None:
            raise MediaError(f"OUTPUT {self.path} is a single image but INPUT has several frames; "
                             "give a folder or a video as OUTPUT")
        self._data = encode_image(image, self.path.suffix)

    def commit(self):
        if self._data is None:
            raise MediaError("no frame was written")
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix="." + self.path.name + _TEMP_TAG)
        with os.fdopen(fd, "wb") as f:
            f.write(self._data)
        _replace_into(Path(self._tmp), self.path, self.overwrite)
        self._tmp = None

    def abort(self):
        if self._tmp is not None:
            _remove_quietly(self._tmp)
            self._tmp = None


class FolderSink(Sink):
    """A folder of images, built in a hidden temporary folder and renamed at the end.

    ``ext`` forces the extension of every file (e.g. ``.png``); ``None`` keeps each input
    name (so a folder of JPEGs stays JPEGs and 16-bit PNGs stay 16-bit PNGs).
    """

    def __init__(self, path: Path, ext: Optional[str] = None, overwrite: bool = False):
        self.path, self.ext, self.overwrite = path, ext, overwrite
        self.tmp: Optional[Path] = Path(tempfile.mkdtemp(dir=path.parent, prefix="." + path.name + _TEMP_TAG))
        self.count = 0

    def write(self, image, frame):
        name = frame.name
        if self.ext is not None:
            name = Path(name).stem + self.ext
        (self.tmp / name).write_bytes(encode_image(image, Path(name).suffix))
        self.count += 1

    def commit(self):
        _replace_into(self.tmp, self.path, self.overwrite)
        self.tmp = None

    def abort(self):
        if self.tmp is not None:
            _remove_quietly(self.tmp)
            self.tmp = None


class VideoSink(Sink):
    """A video file. The container opens on the first frame (its size is known then);
    audio packets that arrive earlier are held until then."""

    def __init__(self, path: Path, *, fps: Optional[Fraction], time_base: Optional[Fraction] = None,
                 codec: Optional[str] = None, crf: Optional[int] = None,
                 audio_stream=None, overwrite: bool = False):
        _require_av()
        self.path, self.overwrite = path, overwrite
        self.fps = Fraction(fps) if fps else Fraction(30)
        self.time_base = Fraction(time_base) if time_base else 1 / self.fps
        self.codec_name = codec
        self.crf = crf
        self.audio_in = audio_stream
        self.color: dict = {}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.stem + _TEMP_TAG, suffix=path.suffix)
        os.close(fd)
        self.tmp: Optional[Path] = Path(tmp)
        self.out = None
        self.vstream = None
        self.astream = None
        self.audio_mode = "none"     # 'copy', 'encode' or 'none' once opened
        self._pending_audio: list = []
        self._size = None
        self._pad = (0, 0)
        self._last_pts: Optional[int] = None
        self.count = 0

    # -- setup ---------------------------------------------------------------------
    def _choose_codec(self, container) -> str:
        supported = _supported_codecs(container)
        if self.codec_name:
            try:
                av.Codec(self.codec_name, "w")
            except _av_errors() + (ValueError,):
                raise MediaError(f"--codec {self.codec_name}: no such video encoder in this FFmpeg") from None
            if self.codec_name not in supported:
                raise MediaError(f"--codec {self.codec_name} cannot be stored in a {self.path.suffix} file")
            return self.codec_name
        for name in _DEFAULT_VIDEO_CODECS:
            if name in supported:
                try:
                    av.Codec(name, "w")
                    return name
                except _av_errors() + (ValueError,):
                    continue
        return container.default_video_codec

    def _choose_pix_fmt(self, codec: str, width: int, height: int) -> str:
        formats = [f.name for f in (av.Codec(codec, "w").video_formats or ())]
        if not formats:
            return "yuv420p"
        rgb = [f for f in _RGB_FORMATS if f in formats]
        if rgb and (codec in _LOSSLESS_RGB_CODECS or "yuv420p" not in formats):
            return rgb[0]
        if "yuv420p" in formats:
            if width % 2 == 0 and height % 2 == 0:
                return "yuv420p"
            if "yuv444p" in formats:  # odd size: 4:4:4 keeps it exactly
                return "yuv444p"
            return "yuv420p"  # some encoders (mpeg4) accept odd sizes in 4:2:0
        return formats[0]

    def _open(self, width: int, height: int) -> None:
        plans = ["copy", "encode", "none"] if self.audio_in is not None else ["none"]
        last_error = None
        for plan in plans:
            try:
                self._open_with(width, height, plan)
                return
            except MediaError:
                raise
            except _av_errors() + (_AudioRefused,) as exc:
                last_error = exc
                self._close_container()
                if plan == "none":
                    break
        raise MediaError(f"cannot write video {self.path}: {_describe(last_error)}")

    def _open_with(self, width: int, height: int, audio_plan: str) -> None:
        out = av.open(str(self.tmp), "w")
        self.out = out
        codec = self._choose_codec(out)
        pix_fmt = self._choose_pix_fmt(codec, width, height)
        vs = out.add_stream(codec, rate=self.fps)
        vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
        tb = self.time_base
        if out.format.name == "avi" or (codec == "mpeg4" and tb.denominator > 65535):
            # AVI stores one tick per frame (its time base is the frame period), and the
            # MPEG-4 standard limits the time base denominator to 16 bits.
            tb = 1 / self.fps
        vs.codec_context.time_base = tb
        vs.time_base = tb  # a hint: muxers with a fixed clock (MPEG-TS: 1/90000) pick their own
        vs.codec_context.framerate = self.fps
        if not pix_fmt.startswith(("rgb", "bgr", "gbr")):
            for key, value in self.color.items():  # tag the stream like the source
                try:
                    setattr(vs.codec_context, key, value)
                except (AttributeError, ValueError, TypeError):
                    pass
        if codec in ("libx264", "libx265"):
            vs.codec_context.options = {"crf": str(self.crf if self.crf is not None else _DEFAULT_CRF),
                                        "preset": "medium"}
        elif self.crf is not None:
            vs.codec_context.options = {"crf": str(self.crf)}
        elif codec == "mpeg4":
            # The fallback encoder's default 200 kb/s is far too low; pinning the quantiser
            # range to 2..4 (of 1..31) gives near-transparent quality.
            vs.codec_context.qmin, vs.codec_context.qmax = 2, 4
        self.vstream = vs
        self.astream = None
        if audio_plan == "copy":
            name = self.audio_in.codec_context.name
            if name not in _supported_codecs(out):
                raise _AudioRefused(f"{name} audio cannot be stored in {self.path.suffix}")
            self.astream = out.add_stream_from_template(self.audio_in)
        elif audio_plan == "encode":
            name = "aac" if "aac" in _supported_codecs(out) else out.default_audio_codec
            if not name or name == "none":
                raise _AudioRefused("no audio encoder for this container")
            rate = self.audio_in.codec_context.sample_rate or 48000
            rates = av.Codec(name, "w").audio_rates
            if rates and rate not in rates:  # e.g. Opus only takes 8/12/16/24/48 kHz
                rate = min(rates, key=lambda r: (abs(r - rate), -r))
            self.astream = out.add_stream(name, rate=rate)
            layout = self.audio_in.codec_context.layout
            if layout is not None and layout.nb_channels:
                try:
                    self.astream.codec_context.layout = layout
                except (AttributeError, ValueError, TypeError):
                    pass
        out.start_encoding()  # writes the header now, so a refused stream fails here
        if self.audio_in is not None and audio_plan != "copy":
            if audio_plan == "encode":
                warn(f"the {self.audio_in.codec_context.name} audio cannot be copied into "
                     f"{self.path.suffix}; re-encoded with {self.astream.codec_context.name}")
            else:
                warn(f"the audio cannot be written to {self.path.suffix}; the output has no sound")
        self.audio_mode = audio_plan

    def _close_container(self) -> None:
        if self.out is not None:
            try:
                self.out.close()
            except _av_errors():
                pass
            self.out = None

    # -- data ----------------------------------------------------------------------
    def on_audio(self, packet) -> None:
        if self.out is None:
            self._pending_audio.append(packet)
            return
        self._mux_audio(packet)

    def _mux_audio(self, packet) -> None:
        if self.audio_mode == "copy":
            packet.stream = self.astream
            self.out.mux(packet)
        elif self.audio_mode == "encode":
            for af in packet.decode():
                af.pts = None  # the encoder numbers its own (resized) frames
                self.out.mux(self.astream.encode(af))

    def write(self, image, frame):
        _check_image_array(image)
        image = _to_uint8(image)
        height, width = image.shape[:2]
        if self._size is None:
            # RGB -> YUV with the source's matrix and range, so that a player decoding with
            # the copied tags sees the source's colours; untagged: BT.601 limited range.
            self.color = {k: v for k, v in (frame.color or {}).items() if v and v != _UNSPECIFIED[k]}
            self._size = (width, height)
            self._open(width, height)
            pending, self._pending_audio = self._pending_audio, []
            for packet in pending:
                self._mux_audio(packet)
        elif self._size != (width, height):
            raise MediaError(f"frame {frame.name} is {width}×{height} but the video is "
                             f"{self._size[0]}×{self._size[1]}; a video needs frames of one size")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        vf = vf.reformat(format=self.vstream.pix_fmt,
                         dst_colorspace=_sws_colorspace(self.color.get("colorspace", 2)),
                         dst_color_range=self.color.get("color_range") or None)
        vf.pts = self._next_pts(frame)
        vf.time_base = self.vstream.codec_context.time_base
        self.out.mux(self.vstream.encode(vf))
        self.count += 1

    def _next_pts(self, frame: Frame) -> int:
        tb = self.vstream.codec_context.time_base
        pts = None
        if frame.pts is not None and frame.time_base:
            pts = frame.pts if Fraction(frame.time_base) == tb else round(frame.pts * Fraction(frame.time_base) / tb)
        elif frame.pts is None:
            pts = round(frame.index / (self.fps * tb))
        if self._last_pts is not None and (pts is None or pts <= self._last_pts):
            pts = self._last_pts + max(1, round(1 / (self.fps * tb)))
        self._last_pts = pts
        return pts

    def commit(self):
        if self.out is None:
            raise MediaError("no frame was written")
        self.out.mux(self.vstream.encode(None))
        if self.audio_mode == "encode":
            self.out.mux(self.astream.encode(None))
        self.out.close()
        self.out = None
        _replace_into(self.tmp, self.path, self.overwrite)
        self.tmp = None

    def abort(self):
        self._close_container()
        if self.tmp is not None:
            _remove_quietly(self.tmp)
            self.tmp = None


class _Everything:
    def __contains__(self, item) -> bool:
        return True


def _supported_codecs(container):
    """Codec names the container format accepts. PyAV releases without
    ``supported_codecs`` accept every name here; a refused codec then fails when the
    header is written, and :meth:`VideoSink._open` falls back (audio) or reports it."""
    return getattr(container, "supported_codecs", None) or _Everything()


def output_kind(path: PathLike) -> str:
    """'video', 'image' or 'folder' for an OUTPUT path, from its extension (an existing
    folder, or a name without extension, is a folder)."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if is_video_path(path):
        return "video"
    if is_image_path(path):
        return "image"
    if path.suffix == "":
        return "folder"
    raise MediaError(f"OUTPUT {path}: unknown extension {path.suffix!r}; use a video "
                     f"({', '.join(VIDEO_EXTENSIONS)}), an image ({', '.join(IMAGE_EXTENSIONS)}) "
                     "or a folder name")


def open_sink(path: PathLike, source: Source, *, overwrite: bool = False, fps: Optional[Fraction] = None,
              codec: Optional[str] = None, crf: Optional[int] = None, audio: bool = True) -> Sink:
    """Create the writer for OUTPUT ``path`` matching ``source`` (see :func:`output_kind`)."""
    path = Path(path)
    kind = output_kind(path)
    if not path.parent.is_dir():
        raise MediaError(f"OUTPUT folder {path.parent} does not exist")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise MediaError(f"OUTPUT {path} exists (use --force to overwrite)")
    if kind == "image":
        if source.kind != "image":
            raise MediaError(f"OUTPUT {path} is an image file but INPUT is a {source.kind}; "
                             "give a folder or a video as OUTPUT")
        return ImageSink(path, overwrite)
    if kind == "folder":
        if source.kind == "video" and source.audio_stream is not None and audio:
            warn("an image folder has no sound: the audio of INPUT is not written")
        return FolderSink(path, ".png" if source.kind == "video" else None, overwrite)
    if source.kind == "video":  # keeps the source's timing; ``fps`` is for image inputs
        return VideoSink(path, fps=source.fps, time_base=source.time_base,
                         codec=codec, crf=crf, audio_stream=source.audio_stream if audio else None,
                         overwrite=overwrite)
    return VideoSink(path, fps=fps or Fraction(30), codec=codec, crf=crf, overwrite=overwrite)


def _describe(exc: Optional[BaseException]) -> str:
    if exc is None:
        return "unknown error"
    if av is not None and isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or str(exc)
        return text.rstrip(".")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__

