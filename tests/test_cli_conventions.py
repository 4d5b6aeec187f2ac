"""Command-line conventions, each in a subprocess as a user or a CI job runs it: --version,
plain progress lines when stderr is not a terminal, IFAN_dual's --right/--left, tiling options,
option checks that come before the model loads, 'info' on a checkpoint, 'convert' errors in the
common format, and 'benchmark'. Real models with random weights on tiny images (fast)."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deblurcore
from deblurcore.convert import write_random_weights
from deblurcore.media import read_image, write_image


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(deblurcore.__file__).parent.parent), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "deblurcore", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


def fake_weights(path: Path, architecture="ifan", variant="IFAN") -> Path:
    """A valid safetensors header whose one tensor no model can load: a command that fails
    with another message than the model's load error checked its options first."""
    header = {"__metadata__": {"architecture": architecture, "variant": variant,
                               "format_version": "1"},
              "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(8))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("conv")
    w = {
        "ifan": write_random_weights(d / "ifan.safetensors", arch="ifan"),
        "dual": write_random_weights(d / "dual.safetensors", arch="ifan", variant="IFAN_dual"),
    }
    rng = np.random.default_rng(0)
    for name in ("in", "right", "left"):
        (d / name).mkdir()
        for i in range(3):
            write_image(d / name / f"f{i}.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    return d, w


def test_version():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"deblurcore {deblurcore.__version__}"


def test_plain_progress_lines_when_stderr_is_not_a_terminal(files, tmp_path):
    d, w = files
    r = cli("deblur", d / "in", "-o", tmp_path / "out", "-w", w["ifan"], "--threads", "1",
            "--progress-interval", "0")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert re.fullmatch(r"deblurcore deblur: 1/3 frames \(33%\), [\d.]+ frames/s, ETA \d+s",
                        lines[0]), lines
    assert lines[2].startswith("deblurcore deblur: 3/3 frames (100%)")
    assert "\r" not in r.stderr and lines[-1].startswith("deblurcore: wrote")
    quiet = cli("deblur", d / "in", "-o", tmp_path / "q", "-w", w["ifan"], "--threads", "1", "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_ifan_dual_from_the_command_line(files, tmp_path):
    d, w = files
    r = cli("deblur", d / "in", "-o", tmp_path / "out", "-w", w["dual"], "--threads", "1",
            "--right", d / "right", "--left", d / "left")
    assert r.returncode == 0, r.stderr
    model = deblurcore.IFAN(w["dual"], num_threads=1)
    img, right, left = (read_image(d / n / "f1.png") for n in ("in", "right", "left"))
    assert np.array_equal(read_image(tmp_path / "out" / "f1.png"), model(img, right=right, left=left))

    r = cli("deblur", d / "in", "-o", tmp_path / "o2", "-w", w["dual"])
    assert r.returncode == 2 and "--right INPUT_R --left INPUT_L" in r.stderr
    r = cli("deblur", d / "in", "-o", tmp_path / "o3", "-w", w["ifan"], "--right", d / "right",
            "--left", d / "left")
    assert r.returncode == 2 and "for IFAN_dual weights" in r.stderr
    r = cli("deblur", d / "in", "-o", tmp_path / "o4", "-w", w["dual"], "--right", d / "right")
    assert r.returncode == 2 and "go together" in r.stderr


def test_tile_options(files, tmp_path):
    d, w = files
    r = cli("deblur", d / "in" / "f0.png", "-o", tmp_path / "t.png", "-w", w["ifan"],
            "--threads", "1", "--tile", "16", "--tile-overlap", "4")
    assert r.returncode == 0, r.stderr
    model = deblurcore.IFAN(w["ifan"], num_threads=1)
    img = read_image(d / "in" / "f0.png")
    assert np.array_equal(read_image(tmp_path / "t.png"), model(img, tile=16, tile_overlap=4))
    stfan = fake_weights(tmp_path / "s.safetensors", "stfan", "STFAN")
    r = cli("deblur", d / "in", "-o", tmp_path / "s", "-w", stfan, "--tile", "64")
    assert r.returncode == 2 and "STFAN cannot be tiled" in r.stderr
    r = cli("deblur", d / "in", "-o", tmp_path / "s", "-w", w["ifan"], "--tile", "64",
            "--tile-overlap", "64")
    assert r.returncode == 2 and "--tile-overlap 64 must be smaller" in r.stderr


@pytest.mark.parametrize("argv,message", [
    (["-o", "{t}/o.mp4", "--crf", "99"], "expected a quality from 0 to 63"),
    (["-o", "{t}/o.mp4", "--crf", "55"], "--crf 55: libx264 takes 0 to 51"),
    (["-o", "{t}/o.mkv", "--codec", "ffv1", "--crf", "10"], "--crf applies to"),
    (["-o", "{t}/o.mp4", "--codec", "no-such-encoder"], "no such video encoder"),
])
def test_encoder_options_checked_before_the_model_loads(files, tmp_path, argv, message):
    d, _ = files
    unloadable = fake_weights(tmp_path / "w.safetensors")
    argv = [a.format(t=tmp_path) for a in argv]
    r = cli("deblur", d / "in", "-w", unloadable, *argv)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1


def test_info_on_a_checkpoint_suggests_convert(tmp_path):
    ckpt = tmp_path / "IFAN.pth"
    ckpt.write_bytes(b"PK\x03\x04 not a safetensors file at all")
    r = cli("info", ckpt)
    assert r.returncode == 2
    assert "deblurcore convert" in r.stderr and "-o IFAN.safetensors" in r.stderr
    assert r.stderr.startswith("deblurcore info: error:")


def test_convert_errors_in_the_common_format(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"hello")
    r = cli("convert", junk, "-o", tmp_path / "j.safetensors")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert r.stderr.startswith("deblurcore convert: error: ")
    r = cli("convert", tmp_path / "missing.pth", "-o", tmp_path / "m.safetensors")
    assert r.returncode == 2 and r.stderr.startswith("deblurcore convert: error: ")


def test_benchmark(files):
    _, w = files
    r = cli("benchmark", w["ifan"], "--size", "40x24", "--frames", "1", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert re.search(r"speed: +[\d.]+ frames/s", r.stdout)
    assert re.search(r"peak memory: +\d+ MB RSS", r.stdout)
    assert "IFAN" in r.stdout and "40x24" in r.stdout
    r = cli("benchmark", w["ifan"], "--size", "big")
    assert r.returncode == 2 and "--size 'big'" in r.stderr
    r = cli("benchmark", w["dual"], "--size", "16x16", "--frames", "1", "--threads", "1")
    assert r.returncode == 0, r.stderr
