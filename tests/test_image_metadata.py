"""Still-image I/O: 16-bit PNG/TIFF round trips, EXIF orientation, ICC profile, EXIF, DPI and
PNG text carried from input to output (media layer, and the command line end to end).

Every check is exact: pixels are integers and lossless formats must give them back bit for
bit; metadata bytes must come back unchanged (EXIF apart from the orientation tag, reset to 1
because the pixels are turned upright when read)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import deblurcore
from deblurcore.media import ImageMeta, encode_image, read_image, read_image_meta, write_image
from deblurcore.media.metadata import ORIENTATION_TAG, orient

RNG = np.random.default_rng(7)


def _icc() -> bytes:
    try:
        from PIL import ImageCms

        return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    except Exception:  # Pillow without littlecms: any bytes exercise the carrying
        return b"\x00\x00\x02\x0cnot a real profile" * 8


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "deblurcore test camera"  # Make
    exif[ORIENTATION_TAG] = orientation
    return exif


@pytest.mark.parametrize("ext", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("shape", [(17, 23, 3), (8, 8, 3)])
def test_16bit_round_trip_is_exact(tmp_path, ext, shape):
    img = RNG.integers(0, 65536, shape, dtype=np.uint16)
    write_image(tmp_path / f"a{ext}", img)
    back = read_image(tmp_path / f"a{ext}")
    assert back.dtype == np.uint16 and np.array_equal(back, img)


def test_16bit_gray_png_is_replicated(tmp_path):
    gray = RNG.integers(0, 65536, (9, 11), dtype=np.uint16)
    Image.fromarray(gray).save(tmp_path / "g.png")
    back = read_image(tmp_path / "g.png")
    assert back.dtype == np.uint16 and np.array_equal(back, np.stack([gray] * 3, -1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    raw = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    path = tmp_path / "o.png"
    Image.fromarray(raw).save(path, exif=_exif(orientation))
    with Image.open(path) as im:
        expected = np.array(ImageOps.exif_transpose(im).convert("RGB"))
    img, meta = read_image_meta(path)
    assert np.array_equal(img, expected) and meta.orientation == orientation
    # The carried EXIF says "upright" and keeps the other tags.
    exif = Image.Exif()
    exif.load(b"Exif\x00\x00" + meta.exif)
    assert exif[ORIENTATION_TAG] == 1 and exif[0x010F] == "deblurcore test camera"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_of_16bit_png(tmp_path, orientation):
    raw = RNG.integers(0, 65536, (6, 10, 3), dtype=np.uint16)
    exif = _exif(orientation).tobytes()[6:]
    data = encode_image(raw, ".png", ImageMeta(exif=exif))  # the chunks as our writer adds them
    (tmp_path / "w.png").write_bytes(data)
    img, meta = read_image_meta(tmp_path / "w.png")
    ref8 = Image.fromarray((raw >> 8).astype(np.uint8))
    ref8.save(tmp_path / "r.png", exif=_exif(orientation))
    with Image.open(tmp_path / "r.png") as im:
        turned = np.array(ImageOps.exif_transpose(im))
    assert img.dtype == np.uint16 and np.array_equal((img >> 8).astype(np.uint8), turned)
    assert np.array_equal(img, orient(raw, orientation))


def _meta_of(path: Path) -> dict:
    with Image.open(path) as im:
        exif = im.getexif()
        return {"icc": im.info.get("icc_profile"), "make": exif.get(0x010F),
                "orientation": exif.get(ORIENTATION_TAG), "dpi": im.info.get("dpi"),
                "text": dict(getattr(im, "text", {}) or {}), "size": im.size}


@pytest.mark.parametrize("ext,dtype", [(".png", np.uint8), (".png", np.uint16),
                                       (".jpg", np.uint8), (".tif", np.uint8)])
def test_metadata_is_carried_to_the_output(tmp_path, ext, dtype):
    icc = _icc()
    scale = 257 if dtype == np.uint16 else 1
    img = (RNG.integers(0, 256, (12, 20, 3)) * scale).astype(dtype)
    src = tmp_path / f"in{ext}"
    if dtype == np.uint16:
        meta = ImageMeta(icc_profile=icc, exif=_exif(6).tobytes()[6:], dpi=(300.0, 300.0),
                         text={"Title": "a test"})
        src.write_bytes(encode_image(img, ext, meta))
    else:
        options = {"icc_profile": icc, "exif": _exif(6), "dpi": (300, 300)}
        if ext == ".png":
            from PIL.PngImagePlugin import PngInfo

            options["pnginfo"] = PngInfo()
            options["pnginfo"].add_text("Title", "a test")
        Image.fromarray(img).save(src, **options)
    pixels, meta = read_image_meta(src)
    assert pixels.shape == (20, 12, 3) and pixels.dtype == dtype  # turned upright (6: 90° CW)
    out = tmp_path / f"out{ext}"
    write_image(out, pixels, meta)
    got = _meta_of(out)
    assert got["icc"] == icc and got["make"] == "deblurcore test camera"
    assert got["orientation"] == 1 and got["size"] == (12, 20)
    assert got["dpi"] is not None and round(got["dpi"][0]) == 300
    if ext == ".png":
        assert got["text"].get("Title") == "a test"
    if ext != ".jpg":
        assert np.array_equal(read_image(out), pixels)


def test_cli_keeps_16bit_icc_and_orientation(tmp_path):
    pytest.importorskip("torch")
    from deblurcore.convert import convert_checkpoint
    from tests.helpers.checkpoints import write_random_checkpoint

    ckpt = write_random_checkpoint(tmp_path / "IFAN.pytorch", "ifan", seed=0)
    weights = tmp_path / "w.safetensors"
    convert_checkpoint(ckpt, weights, arch="ifan", variant="16bit")
    img = RNG.integers(0, 65536, (16, 24, 3), dtype=np.uint16)
    icc = _icc()
    src = tmp_path / "in.png"
    src.write_bytes(encode_image(img, ".png", ImageMeta(icc_profile=icc,
                                                         exif=_exif(8).tobytes()[6:])))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(deblurcore.__file__).parent.parent), env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-m", "deblurcore", "deblur", str(src), "-o",
                        str(tmp_path / "out.png"), "-w", str(weights), "--threads", "1", "-q"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    out = read_image(tmp_path / "out.png")
    upright = orient(img, 8)
    expected = deblurcore.IFAN(weights, num_threads=1)(upright)
    assert out.dtype == np.uint16 and np.array_equal(out, expected)
    got = _meta_of(tmp_path / "out.png")
    assert got["icc"] == icc and got["orientation"] == 1 and got["make"] == "deblurcore test camera"
