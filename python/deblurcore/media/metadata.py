"""What a still image carries besides its pixels, and how it travels to the output.

* **Orientation** (EXIF tag 274): cameras store the sensor's pixels and say how to turn them.
  Inputs are turned upright when read (the network must see the scene as it is), so outputs
  are written upright with the tag reset to 1 (top-left).
* **ICC profile**: the colours' meaning; the network maps pixel values to pixel values, so the
  input's profile still describes the output.
* **EXIF** (camera, exposure, date, GPS...), **PNG text chunks** and **DPI**: copied as they are.

Pillow writes all of these for 8-bit PNG, JPEG and TIFF. 16-bit PNGs are encoded by PyAV,
which writes none: the chunks (iCCP, eXIf, tEXt) are inserted after the PNG's IHDR chunk
here, as the PNG specification places them (before the image data). 16-bit TIFF output keeps
its pixels but not this metadata (PyAV's TIFF encoder has no way to add tags).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

ORIENTATION_TAG = 0x0112
_EXIF_HEADER = b"Exif\x00\x00"
#: Tags that describe how a file stores its pixels (size, samples, compression, strips,
#: tiles, colour map, ICC): Pillow's getexif() of a TIFF includes them, and written back
#: they would contradict the output's own layout.
_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281,
                          284, 317, 320, 322, 323, 324, 325, 338, 339, 340, 341, 530, 531, 532,
                          34675})


@dataclass
class ImageMeta:
    """Metadata of one still image, as read from the input file."""

    icc_profile: bytes | None = None
    #: EXIF as a TIFF structure (no 'Exif\\0\\0' header), orientation already reset to 1
    exif: bytes | None = None
    #: the orientation the input declared (1..8; 1 = upright, nothing turned)
    orientation: int = 1
    dpi: tuple | None = None
    text: dict = field(default_factory=dict)  #: PNG tEXt/iTXt chunks (keyword -> text)

    def __bool__(self) -> bool:
        return bool(self.icc_profile or self.exif or self.dpi or self.text)


def from_pillow(im) -> ImageMeta:
    """The metadata of an opened Pillow image (before any conversion)."""
    meta = ImageMeta()
    icc = im.info.get("icc_profile")
    meta.icc_profile = bytes(icc) if icc else None
    try:
        exif = im.getexif()
    except Exception:  # a damaged EXIF block must not stop the pixels being read
        exif = None
    if exif is not None and len(exif):
        orientation = exif.get(ORIENTATION_TAG, 1)
        meta.orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
        if ORIENTATION_TAG in exif:
            exif[ORIENTATION_TAG] = 1
        for tag in _LAYOUT_TAGS.intersection(exif):  # a TIFF's own IFD: describe the input file
            del exif[tag]
        raw = exif.tobytes()
        meta.exif = raw[len(_EXIF_HEADER):] if raw.startswith(_EXIF_HEADER) else raw
    dpi = im.info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2:
        meta.dpi = tuple(float(v) for v in dpi)
    text = getattr(im, "text", None) if im.format == "PNG" else None
    if text:
        meta.text = {str(k): str(v) for k, v in text.items()}
    return meta


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an H x W x C array upright for an EXIF orientation (what Pillow's
    ``ImageOps.exif_transpose`` does to an image)."""
    if orientation == 2:
        array = array[:, ::-1]
    elif orientation == 3:
        array = array[::-1, ::-1]
    elif orientation == 4:
        array = array[::-1]
    elif orientation == 5:
        array = array.transpose(1, 0, 2)
    elif orientation == 6:
        array = np.rot90(array, -1)
    elif orientation == 7:
        array = array.transpose(1, 0, 2)[::-1, ::-1]
    elif orientation == 8:
        array = np.rot90(array, 1)
    return np.ascontiguousarray(array)


def pillow_options(meta: ImageMeta | None, pillow_format: str) -> dict:
    """Save options that carry ``meta`` into a file Pillow writes (BMP takes none)."""
    if not meta or pillow_format == "BMP":
        return {}
    options = {}
    if meta.icc_profile:
        options["icc_profile"] = meta.icc_profile
    if meta.exif:
        options["exif"] = _EXIF_HEADER + meta.exif
    if meta.dpi:
        options["dpi"] = meta.dpi
    if meta.text and pillow_format == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in meta.text.items():
            info.add_itxt(key, value)
        options["pnginfo"] = info
    return options


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def add_png_chunks(png: bytes, meta: ImageMeta | None) -> bytes:
    """Insert ``meta`` as iCCP, eXIf, pHYs and iTXt chunks right after the IHDR chunk of an
    encoded PNG (the signature is 8 bytes, IHDR 25)."""
    if not meta:
        return png
    chunks = b""
    if meta.icc_profile:
        chunks += _chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(meta.icc_profile))
    if meta.exif:
        chunks += _chunk(b"eXIf", meta.exif)
    if meta.dpi:
        per_metre = [int(round(v / 0.0254)) for v in meta.dpi]
        chunks += _chunk(b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1))
    for key, value in meta.text.items():
        keyword = key.encode("latin-1", "replace")[:79]
        chunks += _chunk(b"iTXt", keyword + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))
    return png[:33] + chunks + png[33:]
