"""The C++ side of deblurcore, run from pytest so that the one test command covers it.

* The CTest suite of tests/cpp (safetensors reader, tensors, weights, JSON, every op's fast
  kernel against its reference kernel, image conversion) is configured, built and run with
  AddressSanitizer and UBSan in a temporary build folder; any finding fails the test with
  the ctest output.
* examples/cpp (a standalone CMake project that only uses find_package(deblurcore)) is built
  against the INSTALLED package (deblurcore.get_cmake_dir()) and its deblur_frames program
  must give the same frames as the Python API, and refuse bad PPM files cleanly.

Both are skipped, not failed, only when cmake (with ninja or make) or a C++ compiler is
missing. The source tree is found relative to this file; builds use 2 jobs (what CI has).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deblurcore
from deblurcore.convert import write_random_weights

ROOT = Path(__file__).resolve().parent.parent
CMAKE = shutil.which("cmake")
NINJA = shutil.which("ninja")
MAKE = shutil.which("make")  # CMake's default generator when Ninja is missing
CXX = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
JOBS = "2"

needs_cmake = pytest.mark.skipif(
    not (CMAKE and CXX and (NINJA or MAKE)), reason="needs cmake, ninja or make, and a C++ compiler"
)


def _run(cmd, what, timeout, **kwargs):
    """Run a command; fail the test with its (tail of) output when it fails."""
    result = subprocess.run(
        [str(c) for c in cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {result.returncode}): {' '.join(map(str, cmd))}\n"
            f"{result.stdout[-30000:]}",
            pytrace=False,
        )
    return result.stdout


def _configure_args(source, build, *defines):
    args = [CMAKE, "-S", source, "-B", build]
    if NINJA:
        args += ["-G", "Ninja"]
    return args + [f"-D{d}" for d in defines]


def _build_env():
    env = dict(os.environ)
    # The builds must not pick up the caller's compiler flags for sanitizers or the like.
    for name in ("CFLAGS", "CXXFLAGS", "LDFLAGS"):
        env.pop(name, None)
    return env


# ---- (a) the CTest suite under ASan + UBSan ------------------------------------------------


@needs_cmake
def test_ctest_suite_under_asan_and_ubsan(tmp_path):
    build = tmp_path / "asan"
    env = _build_env()
    # -O1 instead of the Release -O3: the same instrumentation (UBSan checks the source's
    # operations, ASan every access) at about a third of the compile time.
    _run(
        _configure_args(
            ROOT,
            build,
            "DEBLURCORE_PYTHON=OFF",
            "DEBLURCORE_CUDA=OFF",
            "DEBLURCORE_BUILD_TESTS=ON",
            "DEBLURCORE_SANITIZE=ON",
            "CMAKE_BUILD_TYPE=Debug",
            "CMAKE_CXX_FLAGS_DEBUG=-O1 -g1",
        ),
        "configure (ASan/UBSan)",
        timeout=600,
        env=env,
    )
    _run([CMAKE, "--build", build, "-j", JOBS], "build (ASan/UBSan)", timeout=3600, env=env)
    # Leak checks on; the report of a finding ends up in the ctest output.
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:halt_on_error=1"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    out = _run(
        ["ctest", "--test-dir", build, "--output-on-failure", "-j", JOBS],
        "ctest (ASan/UBSan)",
        timeout=1800,
        env=env,
        cwd=build,
    )
    assert "100% tests passed" in out, out
    for name in ("test_ops", "test_image", "test_safetensors"):
        assert name in out, f"{name} did not run:\n{out}"


# ---- (b) the example program against the installed package ------------------------------

H, W = 22, 30  # not multiples of 4: the padding and cropping path is exercised too


def _write_ppm(path, image, comment=True):
    maxval = 255 if image.dtype == np.uint8 else 65535
    header = b"P6\n" + (b"# written by test_cpp\n" if comment else b"")
    header += f"{image.shape[1]} {image.shape[0]}\n{maxval}\n".encode()
    path.write_bytes(header + image.astype(">u2" if maxval == 65535 else np.uint8).tobytes())


def _read_ppm(path):
    data = path.read_bytes()
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P6", parts[0]
    w, h, maxval = int(parts[1]), int(parts[2]), int(parts[3])
    dtype = np.uint8 if maxval == 255 else np.dtype(">u2")
    return (
        np.frombuffer(parts[4], dtype=dtype)
        .reshape(h, w, 3)
        .astype(np.uint8 if maxval == 255 else np.uint16)
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """deblur_frames built against the installed package, and random STFAN weights."""
    d = tmp_path_factory.mktemp("example")
    cmake_dir = deblurcore.get_cmake_dir()
    env = _build_env()
    _run(
        _configure_args(
            ROOT / "examples" / "cpp",
            d / "build",
            f"CMAKE_PREFIX_PATH={cmake_dir}",
            "CMAKE_BUILD_TYPE=Release",
        ),
        "configure examples/cpp",
        timeout=600,
        env=env,
    )
    _run([CMAKE, "--build", d / "build", "-j", JOBS], "build examples/cpp", timeout=600, env=env)
    exe = d / "build" / "deblur_frames"
    assert exe.is_file()
    write_random_weights(d / "stfan.safetensors", "stfan", seed=3)
    return exe, d / "stfan.safetensors", d


def _frames(seed, n, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    top = 255 if dtype == np.uint8 else 65535
    base = rng.integers(0, top + 1, size=(H, W, 3))
    # Consecutive frames of a "clip": a shifted pattern plus noise.
    return [
        np.clip(
            np.roll(base, 2 * i, axis=1) + rng.integers(-top // 20, top // 20, size=base.shape),
            0,
            top,
        ).astype(dtype)
        for i in range(n)
    ]


@needs_cmake
def test_example_matches_python_stfan(example, tmp_path):
    exe, weights, _ = example
    frames = _frames(0, 3)
    args = [exe, "--threads", "2", weights]
    for i, frame in enumerate(frames):
        _write_ppm(tmp_path / f"in{i}.ppm", frame, comment=(i == 1))
        args += [tmp_path / f"in{i}.ppm", tmp_path / f"out{i}.ppm"]
    _run(args, "deblur_frames", timeout=300)

    model = deblurcore.STFAN(weights, num_threads=2)
    for i, frame in enumerate(frames):
        want = model.step(frame)  # the same clip, frame by frame, through the recurrence
        got = _read_ppm(tmp_path / f"out{i}.ppm")
        assert got.shape == want.shape and got.dtype == np.uint8
        # The same kernels on the same input: identical; one 8-bit level is the contract.
        diff = np.abs(got.astype(int) - want.astype(int))
        assert diff.max() <= 1, f"frame {i}: max difference {diff.max()}"
        assert np.array_equal(got, want), f"frame {i}: {np.count_nonzero(diff)} values differ by 1"
    # The recurrence is carried: the third frame run alone gives another result.
    alone = deblurcore.STFAN(weights, num_threads=2).step(frames[2])
    assert not np.array_equal(alone, _read_ppm(tmp_path / "out2.ppm"))


@needs_cmake
def test_example_16bit_frames(example, tmp_path):
    exe, weights, _ = example
    frames = _frames(1, 2, np.uint16)
    args = [exe, "--threads", "2", weights]
    for i, frame in enumerate(frames):
        _write_ppm(tmp_path / f"in{i}.ppm", frame)
        args += [tmp_path / f"in{i}.ppm", tmp_path / f"out{i}.ppm"]
    _run(args, "deblur_frames (16-bit)", timeout=300)
    # The Python API takes float32 frames in [0, 1]: v / 65535 in float32 is what the C++
    # 16-bit path computes, and the output is rounded the same way (half away from zero).
    model = deblurcore.STFAN(weights, num_threads=2)
    for i, frame in enumerate(frames):
        out = model.step(frame.astype(np.float32) / np.float32(65535))
        want = np.floor(out * np.float32(65535) + 0.5).astype(np.uint16)
        got = _read_ppm(tmp_path / f"out{i}.ppm")
        assert got.dtype == np.uint16
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


BAD_FILES = {
    "wrong_magic.ppm": (b"P3\n2 2\n255\n" + bytes(12), "not a binary PPM"),
    "truncated.ppm": (b"P6\n4 4\n255\n" + bytes(47), "truncated"),
    "truncated_header.ppm": (b"P6\n4 4\n", "truncated header"),
    "maxval.ppm": (b"P6\n2 2\n1023\n" + bytes(24), "maxval must be 255"),
    "letters.ppm": (b"P6\nfour 4\n255\n" + bytes(48), "width"),
    "empty.ppm": (b"", "not a binary PPM"),
    "zero.ppm": (b"P6\n0 4\n255\n", "empty image"),
    "extra.ppm": (b"P6\n4 4\n255\n" + bytes(49), "after the image"),
}


@needs_cmake
@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_example_refuses_bad_files(example, tmp_path, name):
    exe, weights, _ = example
    content, message = BAD_FILES[name]
    bad = tmp_path / name
    bad.write_bytes(content)
    out = tmp_path / "out.ppm"
    r = subprocess.run([exe, weights, bad, out], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert message in r.stderr and name in r.stderr, r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]  # nothing half-written


@needs_cmake
def test_example_errors(example, tmp_path):
    exe, weights, d = example
    good = tmp_path / "in.ppm"
    _write_ppm(good, _frames(2, 1)[0])
    # Wrong command lines: exit 2 with the usage.
    for args in ([], [weights], [weights, good], ["--threads", "x", weights, good, good]):
        r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "usage" in r.stderr, (args, r.stderr)
    # Weights that are not a converted file: the library's error, exit 1.
    r = subprocess.run(
        [exe, good, good, tmp_path / "o.ppm"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1 and "in.ppm" in r.stderr, r.stderr
    # A clip whose frames change size: STFAN refuses the second one, the first is written.
    small = tmp_path / "small.ppm"
    _write_ppm(small, _frames(2, 1)[0][:8, :8])
    r = subprocess.run(
        [exe, weights, good, tmp_path / "o1.ppm", small, tmp_path / "o2.ppm"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "small.ppm" in r.stderr and "reset" in r.stderr, r.stderr
    assert (tmp_path / "o1.ppm").exists() and not (tmp_path / "o2.ppm").exists()


def test_get_cmake_dir_and_cmakedir_flag():
    path = deblurcore.get_cmake_dir()
    assert os.path.isfile(os.path.join(path, "deblurcoreConfig.cmake"))
    assert os.path.isfile(os.path.join(path, "deblurcoreConfigVersion.cmake"))
    out = subprocess.run(
        [sys.executable, "-m", "deblurcore", "--cmakedir"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert out == path
