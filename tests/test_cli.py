"""Command line and media I/O (deblurcore.cli, deblurcore.media) with a fake model.

The models themselves are tested elsewhere; here ``deblurcore.load_model`` is replaced by a
fake that inverts the picture (``max - x``), so every output pixel has a known value. Clips
are generated with PyAV in a temporary folder. Exact pixel comparisons use lossless paths
(PNG files, FFV1 video); lossy H.264 outputs are compared with a stated tolerance.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import deblurcore
from deblurcore import cli, media

av = pytest.importorskip("av")

FPS = 24
N_FRAMES = 16
W, H = 64, 48


# --------------------------------------------------------------------------------------
# Fixtures: fake weights and models, a small clip


def write_fake_weights(path: Path, architecture: str = "ifan", variant: str = "IFAN") -> Path:
    """A valid safetensors file (one 2-element float32 tensor) with the given metadata."""
    header = {
        "__metadata__": {"architecture": architecture, "variant": variant, "format_version": "1"},
        "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + np.zeros(2, np.float32).tobytes())
    return path


class FakeModel:
    """Inverts the image. ``fail_at`` raises ``fail_with`` on that call (0-based).

    ``dtypes`` restricts the accepted dtypes (TypeError otherwise), like the real models.
    """

    instances: list = []

    def __init__(
        self,
        weights_path,
        device="cpu",
        num_threads=None,
        architecture="ifan",
        fail_at=None,
        fail_with=RuntimeError,
        dtypes=(np.uint8, np.uint16, np.float32),
    ):
        self.weights_path, self.device, self.num_threads = weights_path, device, num_threads
        self.architecture = architecture
        self.fail_at, self.fail_with, self.dtypes = fail_at, fail_with, dtypes
        self.calls = 0
        self.seen = []  # first pixel of each image, in call order
        FakeModel.instances.append(self)

    @property
    def is_video(self):
        return False

    def __call__(self, image):
        if image.dtype not in self.dtypes:
            raise TypeError(f"image must have dtype {self.dtypes}, got {image.dtype}")
        if self.fail_at is not None and self.calls == self.fail_at:
            raise self.fail_with("simulated failure in the model")
        self.calls += 1
        self.seen.append(int(image[0, 0, 0]))
        if image.dtype == np.float32:
            return (1.0 - image).astype(np.float32)
        return (np.iinfo(image.dtype).max - image).astype(image.dtype)


class FakeRecurrentModel(FakeModel):
    """STFAN-like: records resets; refuses a new frame size without reset()."""

    def __init__(self, *a, **k):
        k.setdefault("architecture", "stfan")
        super().__init__(*a, **k)
        self.resets = []  # call index at each reset
        self.size = None

    @property
    def is_video(self):
        return True

    def reset(self):
        self.resets.append(self.calls)
        self.size = None

    def step(self, frame):
        if self.size is not None and frame.shape != self.size:
            raise ValueError("frame size changed without reset()")
        self.size = frame.shape
        return self(frame)


@pytest.fixture
def fake(monkeypatch):
    """Install a fake ``deblurcore.load_model``; returns a dict to configure it."""
    FakeModel.instances.clear()
    config = {"cls": FakeModel, "kwargs": {}}

    def load_model(weights_path, device="cpu", num_threads=None):
        info = cli.read_weights_info(Path(weights_path))
        arch = info["metadata"]["architecture"]
        cls = FakeRecurrentModel if arch == "stfan" else config["cls"]
        return cls(weights_path, device, num_threads, architecture=arch, **config["kwargs"])

    monkeypatch.setattr(deblurcore, "load_model", load_model, raising=False)
    return config


@pytest.fixture
def weights(tmp_path):
    return str(write_fake_weights(tmp_path / "ifan.safetensors", "ifan"))


@pytest.fixture
def stfan_weights(tmp_path):
    return str(write_fake_weights(tmp_path / "stfan.safetensors", "stfan", "STFAN"))


def frame_image(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Frame ``i`` of the test clip: a bright rectangle moving right on a smooth background."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = 40 + 2 * xx
    img[..., 1] = 60 + 2 * yy
    img[..., 2] = 90
    img[(abs(xx - (10 + 3 * i)) < 7) & (abs(yy - h // 2) < 9)] = (230, 200, 40)
    return img


def make_clip(path: Path, n: int = N_FRAMES, fps: int = FPS, audio: bool = True) -> Path:
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
    rate = 44100
    if audio:  # streams must all exist before the first packet is written
        aus = out.add_stream("aac", rate=rate)
        aus.layout = "mono"
    for i in range(n):
        f = av.VideoFrame.from_ndarray(frame_image(i), format="rgb24")
        f.pts = i
        out.mux(vs.encode(f))
    out.mux(vs.encode(None))
    if audio:  # a 440 Hz sine in AAC covering the clip's duration
        t = np.arange(int(rate * n / fps)) / rate
        signal = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for s0 in range(0, len(signal), 1024):
            af = av.AudioFrame.from_ndarray(
                signal[None, s0 : s0 + 1024], format="fltp", layout="mono"
            )
            af.sample_rate, af.pts = rate, s0
            out.mux(aus.encode(af))
        out.mux(aus.encode(None))
    out.close()
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


def decode(path: Path):
    """(frames as rgb24 arrays, pts list, video stream info, audio codec names)."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        info = {
            "rate": vs.average_rate,
            "time_base": vs.time_base,
            "codec": vs.codec_context.name,
            "width": vs.width,
            "height": vs.height,
        }
        audio = [s.codec_context.name for s in c.streams.audio]
        frames, pts = [], []
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            pts.append(f.pts)
    return frames, pts, info, audio


def leftovers(folder: Path) -> list:
    """Temporary files or folders the writers might have left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if "deblurcore-" in p.name)


def run(argv) -> int:
    return cli.main([str(a) for a in argv])


# --------------------------------------------------------------------------------------
# Video in, video out


def test_video_to_video_keeps_timing_audio_and_size(clip, tmp_path, fake, weights, capsys):
    out = tmp_path / "out.mp4"
    assert run(["deblur", clip, "-o", out, "-w", weights]) == 0
    assert out.is_file() and leftovers(tmp_path) == []
    assert "wrote" in capsys.readouterr().err  # plain summary when stderr is not a TTY
    src, src_pts, src_info, _ = decode(clip)
    got, pts, info, audio = decode(out)
    assert len(got) == N_FRAMES
    assert info["rate"] == FPS and info["time_base"] == src_info["time_base"]
    assert pts == src_pts
    assert (info["width"], info["height"]) == (W, H) and info["codec"] == "h264"
    assert audio == ["aac"]
    # H.264 at CRF 18 plus the RGB -> 4:2:0 YUV -> RGB round trip: the mean error per
    # frame measures 1.6-1.9 levels on this content, so < 4 catches any real mistake (a
    # wrong frame or colour conversion gives tens of levels). Chroma subsampling of the
    # rectangle's sharp coloured edges makes single pixels differ by up to ~30, so the
    # maximum is not checked.
    for a, b in zip(src, got):
        assert np.abs((255 - a).astype(int) - b).mean() < 4.0
    assert oct(out.stat().st_mode & 0o077) != "0o0"  # not the private mode of a temp file


def test_lossless_video_values_exact(clip, tmp_path, fake, weights):
    out = tmp_path / "out.mkv"
    assert run(["deblur", clip, "-o", out, "-w", weights, "--codec", "ffv1", "-q"]) == 0
    src, _, _, _ = decode(clip)
    got, _, info, audio = decode(out)
    assert info["codec"] == "ffv1" and audio == ["aac"]
    assert len(got) == N_FRAMES
    for a, b in zip(src, got):  # FFV1 in an RGB pixel format is exact
        np.testing.assert_array_equal(b, 255 - a)


def test_side_by_side_doubles_width(clip, tmp_path, fake, weights):
    out = tmp_path / "sbs.mkv"
    assert run(["deblur", clip, "-o", out, "-w", weights, "--side-by-side", "--codec", "ffv1"]) == 0
    src, _, _, _ = decode(clip)
    got, _, info, _ = decode(out)
    assert (info["width"], info["height"]) == (2 * W, H)
    np.testing.assert_array_equal(got[3][:, :W], src[3])
    np.testing.assert_array_equal(got[3][:, W:], 255 - src[3])


def test_no_audio_option_and_webm_reencodes_audio(clip, tmp_path, fake, weights):
    out = tmp_path / "silent.mp4"
    assert run(["deblur", clip, "-o", out, "-w", weights, "--no-audio"]) == 0
    assert decode(out)[3] == []
    webm = tmp_path / "out.webm"  # AAC cannot go into WebM: re-encoded (Opus)
    assert run(["deblur", clip, "-o", webm, "-w", weights]) == 0
    got, _, info, audio = decode(webm)
    assert len(got) == N_FRAMES and info["codec"] == "vp9" and audio == ["opus"]


def test_video_to_folder(clip, tmp_path, fake, weights):
    out = tmp_path / "frames"
    assert run(["deblur", clip, "-o", out, "-w", weights]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{i:05d}.png" for i in range(N_FRAMES)]
    src, _, _, _ = decode(clip)
    np.testing.assert_array_equal(media.read_image(out / "00007.png"), 255 - src[7])
    assert leftovers(tmp_path) == []


def test_stfan_recurrence_resets(clip, tmp_path, fake, stfan_weights):
    out = tmp_path / "out.mp4"
    assert run(["deblur", clip, "-o", out, "-w", stfan_weights, "--reset-every", "5"]) == 0
    model = FakeModel.instances[-1]
    assert model.architecture == "stfan" and model.calls == N_FRAMES
    assert model.resets == [0, 5, 10, 15]
    assert run(["deblur", clip, "-o", tmp_path / "b.mp4", "-w", stfan_weights]) == 0
    assert FakeModel.instances[-1].resets == [0]  # reset once at the start by default


def test_model_mismatch_is_usage_error(clip, tmp_path, fake, stfan_weights, capsys):
    out = tmp_path / "out.mp4"
    assert run(["deblur", clip, "-o", out, "-w", stfan_weights, "--model", "ifan"]) == 2
    err = capsys.readouterr().err
    assert "--model ifan does not match" in err and "stfan" in err
    assert not out.exists() and leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------
# Folders and single images


def test_folder_natural_sort_and_names(tmp_path, fake, weights):
    src = tmp_path / "in"
    src.mkdir()
    order = [1, 2, 10, 3, 20, 9]
    for value in order:  # pixel value = number in the name, written in shuffled order
        media.write_image(src / f"frame{value}.png", np.full((8, 12, 3), value, np.uint8))
    (src / "notes.txt").write_text("not an image")
    (src / ".hidden.png").write_bytes(b"")
    out = tmp_path / "out"
    assert run(["deblur", src, "-o", out, "-w", weights]) == 0
    assert FakeModel.instances[-1].seen == sorted(order)  # frame2 before frame10
    assert sorted(p.name for p in out.iterdir()) == sorted(f"frame{v}.png" for v in order)
    np.testing.assert_array_equal(
        media.read_image(out / "frame10.png"), np.full((8, 12, 3), 245, np.uint8)
    )
    assert media.natural_key("a2b") < media.natural_key("a10b") < media.natural_key("b1")


def test_folder_to_video_fps_and_odd_size(tmp_path, fake, weights):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        media.write_image(src / f"{i}.png", frame_image(i, 47, 33))
    out = tmp_path / "odd.mp4"
    assert run(["deblur", src, "-o", out, "-w", weights, "--fps", "12"]) == 0
    got, _, info, audio = decode(out)
    # Odd sizes are kept exactly (4:4:4 instead of 4:2:0): no padding, no cropping.
    assert len(got) == 5 and (info["width"], info["height"]) == (47, 33)
    assert info["rate"] == 12 and audio == []


def test_single_image_and_16bit(tmp_path, fake, weights):
    img8 = frame_image(2)
    media.write_image(tmp_path / "a.png", img8)
    assert run(["deblur", tmp_path / "a.png", "-o", tmp_path / "b.png", "-w", weights]) == 0
    np.testing.assert_array_equal(media.read_image(tmp_path / "b.png"), 255 - img8)

    rng = np.random.default_rng(0)
    img16 = rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    media.write_image(tmp_path / "w.png", img16)
    assert run(["deblur", tmp_path / "w.png", "-o", tmp_path / "w_out.png", "-w", weights]) == 0
    out16 = media.read_image(tmp_path / "w_out.png")
    assert out16.dtype == np.uint16
    np.testing.assert_array_equal(out16, 65535 - img16)


def test_16bit_image_into_8bit_model_goes_through_float(tmp_path, fake, weights):
    fake["kwargs"] = {"dtypes": (np.uint8, np.float32)}  # like an 8-bit model
    img16 = np.random.default_rng(1).integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    media.write_image(tmp_path / "w.png", img16)
    assert run(["deblur", tmp_path / "w.png", "-o", tmp_path / "o.tif", "-w", weights]) == 0
    out = media.read_image(tmp_path / "o.tif")
    # float32 has a 24-bit mantissa: v/65535 and back is exact to within rounding (≤ 1).
    assert (
        out.dtype == np.uint16 and np.abs(out.astype(int) - (65535 - img16.astype(int))).max() <= 1
    )


def test_image_formats_roundtrip(tmp_path):
    img = frame_image(4, 21, 13)
    for ext in (".png", ".bmp", ".tif"):
        media.write_image(tmp_path / f"x{ext}", img)
        np.testing.assert_array_equal(media.read_image(tmp_path / f"x{ext}"), img)
    media.write_image(tmp_path / "x.jpg", img)
    # JPEG at quality 2 (4:4:4) on smooth content: mean error about 1 level; the sharp
    # rectangle edges ring, so only the mean is bounded.
    assert np.abs(media.read_image(tmp_path / "x.jpg").astype(int) - img).mean() < 3


# --------------------------------------------------------------------------------------
# Existing outputs, failures, interruption


def test_existing_output_refused_then_forced(clip, tmp_path, fake, weights, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous")
    assert run(["deblur", clip, "-o", out, "-w", weights]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == b"previous"
    assert run(["deblur", clip, "-o", out, "-w", weights, "--force"]) == 0
    assert len(decode(out)[0]) == N_FRAMES

    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "old.txt").write_text("old")
    assert run(["deblur", clip, "-o", folder, "-w", weights]) == 2
    assert run(["deblur", clip, "-o", folder, "-w", weights, "--force"]) == 0
    # --force replaces the files the run writes and keeps every other file of the folder.
    assert (folder / "old.txt").read_text() == "old"
    assert len(list(folder.iterdir())) == N_FRAMES + 1
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("output", ["out.mp4", "frames", "one.png"])
def test_failure_midway_leaves_nothing(clip, tmp_path, fake, weights, capsys, output):
    fake["kwargs"] = {"fail_at": 5}
    src = clip
    if output == "one.png":
        src = tmp_path / "in.png"
        media.write_image(src, frame_image(0))
        fake["kwargs"] = {"fail_at": 0}
    out = tmp_path / output
    assert run(["deblur", src, "-o", out, "-w", weights]) == 1
    err = capsys.readouterr().err
    assert "simulated failure" in err and "Traceback" not in err
    assert not out.exists() and leftovers(tmp_path) == []


def test_ctrl_c_exits_130_and_cleans_up(clip, tmp_path, fake, weights, capsys):
    fake["kwargs"] = {"fail_at": 3, "fail_with": KeyboardInterrupt}
    out = tmp_path / "out.mp4"
    assert run(["deblur", clip, "-o", out, "-w", weights]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []


def test_debug_shows_traceback(clip, tmp_path, fake, weights, capsys):
    fake["kwargs"] = {"fail_at": 1}
    assert run(["--debug", "deblur", clip, "-o", tmp_path / "o.mp4", "-w", weights]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["deblur", "{tmp}/missing.mp4", "-o", "{tmp}/o.mp4", "-w", "{w}"], "no such file"),
        (["deblur", "{tmp}/garbage.mp4", "-o", "{tmp}/o.mp4", "-w", "{w}"], "cannot read INPUT"),
        (["deblur", "{clip}", "-o", "{tmp}/o.xyz", "-w", "{w}"], "unknown extension"),
        (["deblur", "{clip}", "-o", "{tmp}/o.png", "-w", "{w}"], "is an image file"),
        (["deblur", "{clip}", "-o", "{tmp}/no/such/dir/o.mp4", "-w", "{w}"], "does not exist"),
        (
            ["deblur", "{clip}", "-o", "{tmp}/o.mp4", "-w", "{tmp}/garbage.mp4"],
            "not a safetensors file",
        ),
        (
            ["deblur", "{clip}", "-o", "{tmp}/o.mp4", "-w", "{w}", "--reset-every", "0"],
            "positive integer",
        ),
        (["deblur", "{clip}", "-o", "{clip}", "-w", "{w}", "--force"], "same as INPUT"),
        (["info", "{tmp}/missing.safetensors"], "no such file"),
    ],
)
def test_bad_input_exit_2(clip, tmp_path, fake, weights, capsys, argv, message):
    (tmp_path / "garbage.mp4").write_bytes(b"this is not a video at all" * 10)
    argv = [a.format(tmp=tmp_path, w=weights, clip=clip) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists() and leftovers(tmp_path) == []


def test_progress_bar_on_a_tty(clip, tmp_path, fake, weights, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    fake_err = Tty()
    monkeypatch.setattr(sys, "stderr", fake_err)
    assert run(["deblur", clip, "-o", tmp_path / "o.mp4", "-w", weights]) == 0
    text = fake_err.getvalue()
    assert f"{N_FRAMES}/{N_FRAMES}" in text and "frame/s" in text


# --------------------------------------------------------------------------------------
# info, convert, python -m deblurcore


def test_info(tmp_path, capsys):
    w = write_fake_weights(tmp_path / "w.safetensors", "ifan", "IFAN_16bit")
    assert cli.main(["info", str(w)]) == 0
    out = capsys.readouterr().out
    assert "ifan" in out and "IFAN_16bit" in out and "format_version" in out
    assert cli.main(["info", str(w), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metadata"]["variant"] == "IFAN_16bit" and data["num_params"] == 2


def test_convert_subcommand_delegates(tmp_path, monkeypatch):
    convert = pytest.importorskip("deblurcore.convert")
    seen = {}

    def run_convert(args):
        seen.update(vars(args))
        return 0

    monkeypatch.setattr(convert, "run_convert", run_convert)
    argv = ["convert", "ck.pth", "-o", "w.safetensors", "--arch", "ifan", "--force"]
    assert cli.main(argv) == 0
    assert seen["checkpoint"] == "ck.pth" and seen["output"] == "w.safetensors"
    assert seen["arch"] == "ifan" and seen["force"] is True


def test_convert_missing_checkpoint(tmp_path, capsys):
    pytest.importorskip("deblurcore.convert")
    rc = cli.main(["convert", str(tmp_path / "missing.pth"), "-o", str(tmp_path / "w.safetensors")])
    assert rc == 2 and not (tmp_path / "w.safetensors").exists()


def _subprocess_env(tmp_path: Path) -> dict:
    """Environment whose interpreter starts with the fake model installed (sitecustomize)."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(
        textwrap.dedent("""
        import numpy as np
        import deblurcore

        class _Invert:
            architecture = "ifan"
            is_video = False
            def __init__(self, path, device="cpu", num_threads=None):
                pass
            def __call__(self, image):
                return (np.iinfo(image.dtype).max - image).astype(image.dtype)

        deblurcore.load_model = _Invert
    """)
    )
    env = dict(os.environ)
    paths = [str(site)] + [
        p for p in sys.path if p and os.path.isdir(os.path.join(p, "deblurcore"))
    ]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    return env


def test_python_m_deblurcore_subprocess(clip, tmp_path, weights):
    env = _subprocess_env(tmp_path)
    out = tmp_path / "out.mp4"
    # stdout/stderr are pipes, not a TTY: no progress bar, a plain summary line.
    proc = subprocess.run(
        [sys.executable, "-m", "deblurcore", "deblur", str(clip), "-o", str(out), "-w", weights],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stderr and "\r" not in proc.stderr
    assert len(decode(out)[0]) == N_FRAMES

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deblurcore",
            "deblur",
            str(tmp_path / "nope.mp4"),
            "-o",
            str(tmp_path / "x.mp4"),
            "-w",
            weights,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no such file" in proc.stderr and "Traceback" not in proc.stderr
