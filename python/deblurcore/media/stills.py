"""Still images: ``H×W×3`` RGB numpy arrays in and out of PNG, JPEG, BMP and TIFF files.

Pillow reads and writes 8-bit pictures. Pillow has no image mode for RGB with 16 bits per
channel (it would reduce a 48-bit PNG to 8 bits), so files with more than 8 bits per channel
(16-bit PNG and TIFF, gray or colour) are decoded, and uint16 arrays encoded, with PyAV's
PNG/TIFF codecs; that keeps 16-bit pictures exact through a 16-bit model.

Reading gives ``uint16`` for files with more than 8 bits per channel, else ``uint8``; alpha
is dropped and gray is replicated to three channels. Writing takes ``uint8`` or ``uint16``:
PNG and TIFF keep 16 bits, JPEG and BMP are 8-bit only (uint16 is rounded to uint8).
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._common import MediaError, PathLike, av, av_errors, describe, require_av
from .atomic import write_bytes_atomically
from .metadata import ImageMeta, add_png_chunks, from_pillow, orient, pillow_options
from .paths import IMAGE_EXTENSIONS

_PILLOW_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_WIDE_EXTENSIONS = (".png", ".tif", ".tiff")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_image_array(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must be an H×W×3 array, got {getattr(image, 'shape', type(image))}"
        )
    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"image must be uint8 or uint16, got {image.dtype}")


def to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    # uint16 → uint8 with rounding: 65535 / 255 = 257 exactly.
    return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)


# --------------------------------------------------------------------------------------
# Reading


def _png_bit_depth(path: Path) -> int:
    """The bit depth of a PNG from its IHDR chunk, which the format fixes at byte 24
    (signature, chunk length, 'IHDR', width, height, then the depth)."""
    with open(path, "rb") as f:
        head = f.read(25)
    if len(head) < 25 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return 8
    return head[24]


def _more_than_8_bits(path: Path, im: Image.Image) -> bool:
    if im.mode.startswith("I") or im.mode == "F":  # 16/32-bit gray, float
        return True
    if im.format == "PNG":
        return _png_bit_depth(path) > 8
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))  # BitsPerSample, one value per channel
        return max(bits if isinstance(bits, tuple) else (bits,)) > 8
    return False


def _read_wide(path: Path) -> np.ndarray:
    """Decode a PNG/TIFF with more than 8 bits per channel as uint16 RGB (PyAV)."""
    require_av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: not an image")
            frame = next(container.decode(video=0), None)
    except MediaError:
        raise
    except av_errors() as exc:
        raise MediaError(f"cannot read image {path}: {describe(exc)}") from None
    if frame is None:
        raise MediaError(f"cannot read image {path}: no picture in the file")
    return frame.to_ndarray(format="rgb48le")


def read_image(path: PathLike) -> np.ndarray:
    """Read a still image as ``H×W×3`` RGB: ``uint16`` when the file has more than 8 bits
    per channel (16-bit PNG/TIFF), else ``uint8``. Alpha is dropped, gray is replicated; an
    EXIF orientation is applied (the array is upright)."""
    return read_image_meta(path)[0]


def read_image_meta(path: PathLike) -> tuple[np.ndarray, ImageMeta]:
    """:func:`read_image` and the file's metadata (ICC profile, EXIF with the orientation
    reset to 1 since the pixels are turned upright, DPI, PNG text; see :mod:`.metadata`)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            meta = from_pillow(im)
            if _more_than_8_bits(path, im):
                return orient(_read_wide(path), meta.orientation), meta
            return orient(np.array(im.convert("RGB"), dtype=np.uint8), meta.orientation), meta
    except MediaError:
        raise
    except UnidentifiedImageError:
        raise MediaError(f"cannot read image {path}: unknown or damaged picture format") from None
    except Image.DecompressionBombError as exc:
        raise MediaError(f"cannot read image {path}: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's errors for damaged files
        raise MediaError(f"cannot read image {path}: {describe(exc)}") from None


# --------------------------------------------------------------------------------------
# Writing


def _encode_wide(image: np.ndarray, ext: str) -> bytes:
    """A uint16 RGB array as a 16-bit PNG or TIFF (PyAV)."""
    require_av()
    codec = "png" if ext == ".png" else "tiff"
    pix_fmt = "rgb48be" if codec == "png" else "rgb48le"  # the layouts the encoders take
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb48le")
    ctx = av.CodecContext.create(codec, "w")
    height, width = image.shape[:2]
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = Fraction(1, 25)
    frame = frame.reformat(format=pix_fmt)
    frame.pts = 0
    packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    return b"".join(bytes(p) for p in packets)


def encode_image(image: np.ndarray, ext: str, meta: ImageMeta | None = None) -> bytes:
    """Encode an ``H×W×3`` uint8/uint16 RGB array in the still-image format of ``ext``.

    PNG and TIFF keep 16 bits; JPEG and BMP are 8-bit only, so uint16 is rounded to uint8.
    JPEG uses 4:4:4 chroma and quality 95 to limit the loss. ``meta`` (from
    :func:`read_image_meta`) is written where the format allows (see :mod:`.metadata`).
    """
    check_image_array(image)
    ext = ext.lower()
    if ext not in _PILLOW_FORMATS:
        raise MediaError(
            f"unsupported image extension {ext!r}; use one of {', '.join(IMAGE_EXTENSIONS)}"
        )
    if image.dtype == np.uint16 and ext in _WIDE_EXTENSIONS:
        data = _encode_wide(image, ext)
        return add_png_chunks(data, meta) if ext == ".png" else data
    picture = Image.fromarray(np.ascontiguousarray(to_uint8(image)))
    options = {"quality": 95, "subsampling": 0} if _PILLOW_FORMATS[ext] == "JPEG" else {}
    options.update(pillow_options(meta, _PILLOW_FORMATS[ext]))
    buffer = io.BytesIO()
    picture.save(buffer, format=_PILLOW_FORMATS[ext], **options)
    return buffer.getvalue()


def write_image(path: PathLike, image: np.ndarray, meta: ImageMeta | None = None) -> None:
    """Write one image atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    write_bytes_atomically(path, encode_image(image, path.suffix, meta))
