"""Short runs of the fuzz targets in fuzz/, so that a regression the fuzzers would find fails CI.

* safetensors_fuzzer (libFuzzer, ASan + UBSan) on the C++ safetensors/JSON reader: built
  from fuzz/CMakeLists.txt with clang in a temporary folder, then run for 20 s. Skipped when
  clang, libFuzzer, clang's OpenMP, CMake or Ninja are missing.
* checkpoint_fuzzer.py (atheris) on the converter's checkpoint reader: run for 20 s. Skipped
  when atheris is not installed.

Both start from the seeds of fuzz/make_seeds.py (the checkpoint seeds need torch). A finding
(crash, sanitizer report, uncaught exception, timeout, out-of-memory) fails the test with the
fuzzer's report; the input is kept in the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import deblurcore

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
SECONDS = 20
CLANG = shutil.which("clang++")
CMAKE = shutil.which("cmake")
NINJA = shutil.which("ninja")


def _run(cmd, what, timeout, **kwargs) -> str:
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
            f"{what} failed (exit {result.returncode})\n{result.stdout[-20000:]}", pytrace=False
        )
    return result.stdout


def _clang_can(tmp: Path, flags: list[str]) -> bool:
    src = tmp / "probe.cpp"
    src.write_text(
        "#include <omp.h>\n#include <cstdint>\n#include <cstddef>\n"
        'extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) '
        "{ return omp_get_max_threads() < 0; }\n"
    )
    probe = subprocess.run(
        [CLANG, *flags, str(src), "-o", str(tmp / "probe")], capture_output=True, timeout=120
    )
    return probe.returncode == 0


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seeds")
    _run([sys.executable, FUZZ / "make_seeds.py", out], "make_seeds.py", 300)
    return out


@pytest.mark.skipif(not (CLANG and CMAKE and NINJA), reason="needs clang++, cmake and ninja")
def test_safetensors_fuzzer_short_run(tmp_path, seeds):
    if not _clang_can(tmp_path, ["-fsanitize=fuzzer,address,undefined", "-fopenmp"]):
        pytest.skip("clang has no libFuzzer or no OpenMP (Debian: libfuzzer-14-dev, libomp-14-dev)")
    build = tmp_path / "build"
    env = {k: v for k, v in os.environ.items() if k not in ("CFLAGS", "CXXFLAGS", "LDFLAGS")}
    env["CXX"] = CLANG
    _run([CMAKE, "-S", FUZZ, "-B", build, "-G", "Ninja"], "configuring fuzz/", 300, env=env)
    _run(
        [NINJA, "-C", build, "-j", "2", "safetensors_fuzzer"], "building the fuzzer", 1800, env=env
    )
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    out = _run(
        [
            build / "safetensors_fuzzer",
            f"-dict={FUZZ / 'safetensors.dict'}",
            f"-max_total_time={SECONDS}",
            "-max_len=8192",
            "-timeout=10",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
            corpus,
            seeds / "safetensors",
        ],
        "safetensors_fuzzer",
        SECONDS + 120,
    )
    assert "Done" in out and "ERROR" not in out


def test_checkpoint_fuzzer_short_run(tmp_path, seeds):
    pytest.importorskip("atheris")
    if not (seeds / "checkpoint").is_dir():
        pytest.skip("no checkpoint seeds (torch is not installed)")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    env = dict(os.environ)
    package_root = str(Path(deblurcore.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")])
    out = _run(
        [
            sys.executable,
            FUZZ / "checkpoint_fuzzer.py",
            f"-max_total_time={SECONDS}",
            "-max_len=8192",
            "-timeout=20",
            "-rss_limit_mb=3072",
            f"-artifact_prefix={tmp_path}/",
            corpus,
            seeds / "checkpoint",
        ],
        "checkpoint_fuzzer.py",
        SECONDS + 120,
        env=env,
    )
    assert "Done" in out and "ERROR" not in out
