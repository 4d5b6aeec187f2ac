"""A small corpus for ``deblurcore batch`` tests: clips and image folders of 64×64 frames,
a weights file with random STFAN weights, and the outputs ``deblurcore deblur`` gives for
each input, to compare a batch's outputs with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from deblurcore import cli

SIZE = 64
FRAMES = 5
THREADS = 1  # per worker in the tests: 2 workers on the 2 cores CI machines have
#: Lossless video outputs, so outputs can be compared exactly: libx264 does not give the
#: same bytes on every run (two encodes of the same frames in one process can differ).
CODEC = ("--codec", "ffv1")


def frame(seed: int, i: int) -> np.ndarray:
    """Frame ``i`` of clip ``seed``: a smooth gradient with a square moving right."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    img = np.empty((SIZE, SIZE, 3), np.uint8)
    img[..., 0] = (20 * seed + 3 * xx) % 256
    img[..., 1] = 50 + 2 * yy
    img[..., 2] = 120
    img[(abs(xx - (8 + 4 * i + seed)) < 6) & (abs(yy - 30) < 8)] = (230, 210, 30)
    return img


def write_clip(path: Path, seed: int, n: int = FRAMES) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
        for i in range(n):
            f = av.VideoFrame.from_ndarray(frame(seed, i), format="rgb24")
            f.pts = i
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return path


def write_folder(path: Path, seed: int, n: int = FRAMES) -> Path:
    from deblurcore import media

    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        media.write_image(path / f"f{i + 1}.png", frame(seed, i))
    return path


def make_corpus(root: Path) -> list[Path]:
    """``root/a.mkv``, ``root/sub/b.mkv`` (H.264), ``root/frames1/``, ``root/sub/frames2/``."""
    return [
        write_clip(root / "a.mkv", 1),
        write_clip(root / "sub" / "b.mkv", 2),
        write_folder(root / "frames1", 3),
        write_folder(root / "sub" / "frames2", 4),
    ]


def write_weights(path: Path) -> Path:
    from deblurcore.convert import write_random_weights

    return write_random_weights(path, arch="stfan", seed=0)


def deblur_reference(inp: Path, out: Path, weights: Path) -> Path:
    """What ``deblurcore deblur INPUT -o OUT -w WEIGHTS`` writes (THREADS threads, CODEC)."""
    argv = ["deblur", str(inp), "-o", str(out), "-w", str(weights), "-q", *CODEC]
    assert cli.main(argv + ["--threads", str(THREADS)]) == 0
    return out


def decoded(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def assert_same_output(got: Path, want: Path) -> None:
    """A video decodes to the same frames; a folder has the same files, byte for byte."""
    assert got.exists(), got
    if want.is_dir():
        names = sorted(p.name for p in want.iterdir())
        assert sorted(p.name for p in got.iterdir()) == names
        for name in names:
            assert (got / name).read_bytes() == (want / name).read_bytes(), name
    else:
        frames, expected = decoded(got), decoded(want)
        assert len(frames) == len(expected)
        for a, b in zip(frames, expected):
            np.testing.assert_array_equal(a, b)


def manifest_lines(out_dir: Path) -> list[dict]:
    text = (out_dir / "batch-manifest.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def leftovers(root: Path) -> list[str]:
    """Temporary files or folders left anywhere below ``root``."""
    return sorted(str(p) for p in root.rglob("*") if "deblurcore-tmp" in p.name)
