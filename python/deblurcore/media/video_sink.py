"""Video files: frames encoded with PyAV, timing kept, the source's audio carried over.

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
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from ._common import MediaError, av, av_errors, describe, require_av, warn
from .atomic import remove_quietly, replace_into, temp_prefix
from .colors import UNSPECIFIED, sws_colorspace
from .sink import Sink
from .sources import Frame
from .stills import check_image_array, to_uint8

#: Codecs that are lossless and store RGB pixels exactly when given an RGB format.
_LOSSLESS_RGB_CODECS = (
    "ffv1",
    "ffvhuff",
    "huffyuv",
    "utvideo",
    "png",
    "qtrle",
    "libx264rgb",
    "rawvideo",
)
_RGB_FORMATS = ("rgb24", "gbrp", "bgr0", "bgr24", "rgba", "bgra")
_DEFAULT_VIDEO_CODECS = ("libx264", "mpeg4")
_DEFAULT_CRF = 18


class _AudioRefused(Exception):
    """The output container cannot take the audio in the way being tried."""


class VideoSink(Sink):
    """A video file. The container opens on the first frame (its size is known then);
    audio packets that arrive earlier are held until then."""

    def __init__(
        self,
        path: Path,
        *,
        fps: Fraction | None,
        time_base: Fraction | None = None,
        codec: str | None = None,
        crf: int | None = None,
        audio_stream=None,
        overwrite: bool = False,
    ):
        require_av()
        self.path, self.overwrite = path, overwrite
        self.fps = Fraction(fps) if fps else Fraction(30)
        self.time_base = Fraction(time_base) if time_base else 1 / self.fps
        self.codec_name = codec
        self.crf = crf
        self.audio_in = audio_stream
        self.color: dict = {}
        # The suffix tells FFmpeg the container.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=path.suffix)
        os.close(fd)
        self.tmp: Path | None = Path(tmp)
        self.out = None
        self.vstream = None
        self.astream = None
        self.audio_mode = "none"  # 'copy', 'encode' or 'none' once opened
        self._pending_audio: list = []
        self._size = None
        self._pad = (0, 0)
        self._last_pts: int | None = None
        self.count = 0

    # -- setup ---------------------------------------------------------------------
    def _choose_codec(self, container) -> str:
        supported = _supported_codecs(container)
        if self.codec_name:
            try:
                av.Codec(self.codec_name, "w")
            except av_errors() + (ValueError,):
                raise MediaError(
                    f"--codec {self.codec_name}: no such video encoder in this FFmpeg"
                ) from None
            if self.codec_name not in supported:
                raise MediaError(
                    f"--codec {self.codec_name} cannot be stored in a {self.path.suffix} file"
                )
            return self.codec_name
        for name in _DEFAULT_VIDEO_CODECS:
            if name in supported:
                try:
                    av.Codec(name, "w")
                    return name
                except av_errors() + (ValueError,):
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
            except av_errors() + (_AudioRefused,) as exc:
                last_error = exc
                self._close_container()
                if plan == "none":
                    break
        raise MediaError(f"cannot write video {self.path}: {describe(last_error)}")

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
            vs.codec_context.options = {
                "crf": str(self.crf if self.crf is not None else _DEFAULT_CRF),
                "preset": "medium",
            }
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
                warn(
                    f"the {self.audio_in.codec_context.name} audio cannot be copied into "
                    f"{self.path.suffix}; re-encoded with {self.astream.codec_context.name}"
                )
            else:
                warn(f"the audio cannot be written to {self.path.suffix}; the output has no sound")
        self.audio_mode = audio_plan

    def _close_container(self) -> None:
        if self.out is not None:
            try:
                self.out.close()
            except av_errors():
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
        check_image_array(image)
        image = to_uint8(image)
        height, width = image.shape[:2]
        if self._size is None:
            # RGB -> YUV with the source's matrix and range, so that a player decoding with
            # the copied tags sees the source's colours; untagged: BT.601 limited range.
            self.color = {k: v for k, v in (frame.color or {}).items() if v and v != UNSPECIFIED[k]}
            self._size = (width, height)
            self._open(width, height)
            pending, self._pending_audio = self._pending_audio, []
            for packet in pending:
                self._mux_audio(packet)
        elif self._size != (width, height):
            raise MediaError(
                f"frame {frame.name} is {width}×{height} but the video is "
                f"{self._size[0]}×{self._size[1]}; a video needs frames of one size"
            )
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        vf = vf.reformat(
            format=self.vstream.pix_fmt,
            dst_colorspace=sws_colorspace(self.color.get("colorspace", 2)),
            dst_color_range=self.color.get("color_range") or None,
        )
        vf.pts = self._next_pts(frame)
        vf.time_base = self.vstream.codec_context.time_base
        self.out.mux(self.vstream.encode(vf))
        self.count += 1

    def _next_pts(self, frame: Frame) -> int:
        tb = self.vstream.codec_context.time_base
        pts = None
        if frame.pts is not None and frame.time_base:
            pts = (
                frame.pts
                if Fraction(frame.time_base) == tb
                else round(frame.pts * Fraction(frame.time_base) / tb)
            )
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
        replace_into(self.tmp, self.path, self.overwrite)
        self.tmp = None

    def abort(self):
        self._close_container()
        if self.tmp is not None:
            remove_quietly(self.tmp)
            self.tmp = None


class _Everything:
    def __contains__(self, item) -> bool:
        return True


def _supported_codecs(container):
    """Codec names the container format accepts. PyAV releases without
    ``supported_codecs`` accept every name here; a refused codec then fails when the
    header is written, and :meth:`VideoSink._open` falls back (audio) or reports it."""
    return getattr(container, "supported_codecs", None) or _Everything()
