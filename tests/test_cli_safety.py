"""The command line never loses a file and always fails cleanly.

* ``--force`` replaces only the files the run writes: INPUT and unrelated files next to it
  survive, whether OUTPUT is INPUT's folder, an ancestor of it, ``.`` or ``$PWD``;
* a run killed by SIGINT, SIGTERM, SIGHUP or SIGQUIT mid-video leaves no output and no
  temporary entry; a temporary left by a SIGKILLed run is removed by the next run;
* ``info`` on a malformed weights file is a one-line error with status 2, and on a closed
  pipe (``| head``) exits 0 without a traceback; a weights path that is a folder or a FIFO
  says so (CLI and Python API).

Models are replaced by a fake that inverts the picture (as in test_cli.py): these tests are
about files and processes, not numerics.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import deblurcore
from deblurcore import cli, media

av = pytest.importorskip("av")

W, H = 32, 24


def write_weights(path: Path, header: dict | bytes | None = None, data: bytes = bytes(8)) -> Path:
    if header is None:
        header = {
            "__metadata__": {"architecture": "ifan", "variant": "IFAN", "format_version": "1"},
            "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        }
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def make_clip(path: Path, frames: int) -> Path:
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        for i in range(frames):
            img = np.full((H, W, 3), (i * 7) % 256, np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))
    return path


class Invert:
    architecture = "ifan"
    is_video = False

    def __init__(self, path, device="cpu", num_threads=None):
        pass

    def __call__(self, image):
        return (np.iinfo(image.dtype).max - image).astype(image.dtype)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(deblurcore, "load_model", Invert, raising=False)


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def temporaries(folder: Path) -> list:
    return sorted(str(p) for p in folder.rglob("*") if "deblurcore-" in p.name)


# ---- --force next to INPUT ---------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path):
    """A folder with a clip, an unrelated file and a subfolder: what a user keeps there."""
    d = tmp_path / "work"
    d.mkdir()
    make_clip(d / "in.mp4", 4)
    (d / "notes.txt").write_text("keep me")
    (d / "sub").mkdir()
    (d / "sub" / "a.png").write_bytes(b"not touched")
    return d


def _run(argv) -> int:
    return cli.main([str(a) for a in argv])


@pytest.mark.parametrize("how", ["folder", "dot", "pwd", "ancestor"])
def test_force_into_a_folder_holding_input_loses_nothing(
    workdir, tmp_path, fake, monkeypatch, how, capsys
):
    weights = write_weights(tmp_path / "w.safetensors")
    before = snapshot(tmp_path)
    inp = workdir / "in.mp4"
    if how == "folder":
        out = workdir
    elif how == "dot":
        monkeypatch.chdir(workdir)
        inp, out = Path("in.mp4"), Path(".")
    elif how == "pwd":
        monkeypatch.chdir(workdir)
        out = Path(os.getcwd())
    else:
        out = tmp_path
    assert _run(["deblur", inp, "-o", out, "-w", weights]) == 2  # exists: needs --force
    assert "exists" in capsys.readouterr().err
    assert _run(["deblur", inp, "-o", out, "-w", weights, "--force"]) == 0
    after = snapshot(tmp_path)
    for name, data in before.items():
        assert after[name] == data, f"{name} changed or was lost"
    written = sorted(set(after) - set(before))
    folder = "" if how == "ancestor" else "work/"
    assert written == [f"{folder}{i:05d}.png" for i in range(4)]
    assert temporaries(tmp_path) == []


def test_force_replaces_only_the_files_it_writes(workdir, tmp_path, fake):
    weights = write_weights(tmp_path / "w.safetensors")
    out = tmp_path / "frames"
    out.mkdir()
    (out / "00001.png").write_bytes(b"old frame")
    (out / "other.txt").write_text("keep")
    assert _run(["deblur", workdir / "in.mp4", "-o", out, "-w", weights, "--force"]) == 0
    assert (out / "other.txt").read_text() == "keep"
    assert (out / "00001.png").read_bytes() != b"old frame"
    assert sorted(p.name for p in out.iterdir()) == [f"{i:05d}.png" for i in range(4)] + [
        "other.txt"
    ]
    assert temporaries(tmp_path) == []


def test_single_image_into_its_own_folder_is_refused(tmp_path, fake, capsys):
    weights = write_weights(tmp_path / "w.safetensors")
    img = tmp_path / "photo.png"
    media.write_image(img, np.zeros((H, W, 3), np.uint8))
    before = snapshot(tmp_path)
    assert _run(["deblur", img, "-o", tmp_path, "-w", weights, "--force"]) == 2
    err = capsys.readouterr().err
    assert "would replace" in err and len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before and temporaries(tmp_path) == []


def test_force_over_a_file_named_like_a_subfolder_output_keeps_the_folder(tmp_path, fake):
    # OUTPUT a folder holding a folder of a written name: refused before anything moves.
    weights = write_weights(tmp_path / "w.safetensors")
    src = tmp_path / "frames_in"
    src.mkdir()
    media.write_image(src / "x.png", np.zeros((H, W, 3), np.uint8))
    out = tmp_path / "out"
    (out / "x.png").mkdir(parents=True)
    (out / "x.png" / "inner.txt").write_text("keep")
    assert _run(["deblur", src, "-o", out, "-w", weights, "--force"]) == 2
    assert (out / "x.png" / "inner.txt").read_text() == "keep"
    assert temporaries(tmp_path) == []


def test_stale_temporary_of_a_killed_run_is_removed(workdir, tmp_path, fake):
    weights = write_weights(tmp_path / "w.safetensors")
    # A process id that is not running: the largest possible one is never in use here.
    dead = int(Path("/proc/sys/kernel/pid_max").read_text()) if Path("/proc").is_dir() else 2**22
    stale_file = tmp_path / f".out.mp4.deblurcore-tmp-{dead}-abc.mp4"
    stale_file.write_bytes(b"partial")
    live_file = tmp_path / f".out.mp4.deblurcore-tmp-{os.getppid()}-abc.mp4"
    live_file.write_bytes(b"another run still writing")
    assert _run(["deblur", workdir / "in.mp4", "-o", tmp_path / "out.mp4", "-w", weights]) == 0
    assert not stale_file.exists() and live_file.exists()


# ---- interrupts in a real process --------------------------------------------------------


def _subprocess_env(tmp_path: Path, started: Path) -> dict:
    """An interpreter whose model is slow (0.2 s a frame) and touches ``started`` once it
    has restored two frames, so the test signals the process mid-video."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        textwrap.dedent(f"""
        import time
        import numpy as np
        import deblurcore

        class _Slow:
            architecture = "ifan"
            is_video = False
            def __init__(self, path, device="cpu", num_threads=None):
                self.calls = 0
            def __call__(self, image):
                self.calls += 1
                if self.calls == 2:
                    open({str(started)!r}, "w").close()
                time.sleep(0.2)
                return 255 - image

        deblurcore.load_model = _Slow
        """)
    )
    env = dict(os.environ)
    paths = [str(site)] + [
        p for p in sys.path if p and os.path.isdir(os.path.join(p, "deblurcore"))
    ]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    return env


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"])
@pytest.mark.parametrize("output", ["out.mp4", "frames", "existing"])
def test_signal_mid_video_leaves_nothing(tmp_path, sig, output):
    signum = getattr(signal, sig)
    clip = make_clip(tmp_path / "in.mp4", 60)
    weights = write_weights(tmp_path / "w.safetensors")
    out = tmp_path / output
    force = []
    if output == "existing":  # --force into a folder with a file: it stays as it was
        out.mkdir()
        (out / "00000.png").write_bytes(b"previous")
        force = ["--force"]
    before = snapshot(tmp_path)
    started = tmp_path / "started"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deblurcore",
            "deblur",
            str(clip),
            "-o",
            str(out),
            "-w",
            str(weights),
        ]
        + force,
        env=_subprocess_env(tmp_path, started),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert started.exists(), proc.communicate()[1]
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == "SIGINT" else 128 + signum), err
    assert "no output was written" in err and "Traceback" not in err
    after = snapshot(tmp_path)
    after.pop("started")
    assert {k: v for k, v in after.items() if not k.startswith("site")} == before
    assert temporaries(tmp_path) == []


# ---- info and weights paths --------------------------------------------------------------


def _nested(depth: int) -> bytes:
    shape = "[" * depth + "1" + "]" * depth  # json.dumps itself cannot nest this deep
    return ('{"w":{"dtype":"F32","shape":' + shape + ',"data_offsets":[0,4]}}').encode()


@pytest.mark.parametrize(
    "case, header, data",
    [
        ("deeply nested", _nested(100_000), bytes(4)),
        (
            "huge shape",
            {"w": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 4]}},
            bytes(4),
        ),
        ("truncated", {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)),
        (
            "overlapping",
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            bytes(12),
        ),
    ],
)
def test_info_on_malformed_headers_is_one_line_status_2(tmp_path, capsys, case, header, data):
    path = write_weights(tmp_path / "w.safetensors", header, data)
    assert cli.main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a safetensors file" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and len(err) < 1000


def test_info_into_a_closed_pipe_exits_0(tmp_path):
    header = {
        "__metadata__": {f"key{i}": "v" * 100 for i in range(2000)},  # ~200 KB: fills the pipe
        "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    }
    path = write_weights(tmp_path / "w.safetensors", header)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [p for p in sys.path if p and os.path.isdir(os.path.join(p, "deblurcore"))]
        + [env.get("PYTHONPATH", "")]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "deblurcore", "info", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception" not in err


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_weights_path_folder_or_fifo(tmp_path, capsys, kind):
    path = tmp_path / "w.safetensors"
    if kind == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)
    assert cli.main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and "no such" not in err
    expected = IsADirectoryError if kind == "folder" else ValueError
    with pytest.raises(expected, match="directory" if kind == "folder" else "not a regular file"):
        deblurcore.load_model(str(path))
