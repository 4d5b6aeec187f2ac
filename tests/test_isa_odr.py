"""The ODR rule of the instruction-set kernel files (cpp/cpu/README.md), checked on the objects
of the development build: every global symbol an ISA file (cpp/cpu/*_generic.cpp, *_avx2.cpp,
*_avx512.cpp, *_avx512bf16.cpp) defines lies in that instruction set's namespace (cpu::generic,
cpu::avx2, cpu::avx512, cpu::avx512bf16). A weak symbol outside it (an inline function or template instantiation such as
std::min<long>, or a std::vector method) could be shared with another file, and the linker
might then keep the AVX-512 copy for the generic path, which crashes on CPUs without AVX-512.

Skipped when the objects are not there (an installed wheel) or nm is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import deblurcore

REPO = Path(__file__).resolve().parents[1]
ISAS = ("generic", "avx2", "avx512", "avx512bf16")


def _objects():
    build = Path(deblurcore.__file__).resolve().parents[2]
    objdir = build / "CMakeFiles" / "deblurcore.dir" / "cpp" / "cpu"
    found = []
    for isa in ISAS:
        for src in sorted((REPO / "cpp" / "cpu").glob(f"*_{isa}.cpp")):
            obj = objdir / (src.name + ".o")
            if obj.exists():
                found.append((isa, obj))
    return found


OBJECTS = _objects()


def _global_symbols(obj: Path):
    out = subprocess.run(["nm", "-C", "--defined-only", str(obj)], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            kind, name = parts[1], parts[2]
            # Upper case: global; u, v, w: unique / weak globals. Local symbols (anonymous
            # namespaces, OpenMP outlined regions) cannot clash.
            if kind.isupper() or kind in "uvw":
                yield kind, name


@pytest.mark.skipif(shutil.which("nm") is None, reason="nm not found")
@pytest.mark.skipif(not OBJECTS, reason="no ISA object files (not a development build)")
@pytest.mark.parametrize("isa,obj", OBJECTS, ids=[o.name for _, o in OBJECTS])
def test_isa_objects_define_only_their_namespace(isa, obj):
    bad = [f"{kind} {name}" for kind, name in _global_symbols(obj)
           if f"::{isa}::" not in name and not name.startswith("DW.ref.")]
    assert not bad, (f"{obj.name} defines symbols outside deblurcore::cpu::{isa} (see "
                     f"cpp/cpu/README.md):\n" + "\n".join(bad[:20]))


# Unoptimised builds inline nothing, so every inline function an ISA file calls shows up as a
# weak symbol there: compiling at -O0 exposes a breach of the rule that -O3 may hide.
CXX = shutil.which("c++") or shutil.which("g++")
AVX512_FLAGS = ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c"]
AVX512_SOURCES = sorted((REPO / "cpp" / "cpu").glob("*_avx512.cpp")) + sorted(
    (REPO / "cpp" / "cpu").glob("*_avx512bf16.cpp"))


@pytest.mark.skipif(shutil.which("nm") is None or CXX is None, reason="nm or c++ not found")
@pytest.mark.skipif(deblurcore._core.cpu_isa() == "generic" and not OBJECTS,
                    reason="not an x86 development build")
@pytest.mark.parametrize("src", AVX512_SOURCES, ids=[s.name for s in AVX512_SOURCES])
def test_avx512_sources_unoptimised_define_only_their_namespace(src, tmp_path):
    obj = tmp_path / (src.name + ".o")
    isa = "avx512bf16" if src.stem.endswith("_avx512bf16") else "avx512"
    flags = AVX512_FLAGS + (["-mavx512bf16"] if isa == "avx512bf16" else [])
    cmd = [CXX, "-std=c++17", "-O0", "-fPIC", "-fopenmp", "-DDEBLURCORE_X86_ISA=1",
           *flags, "-I", str(REPO / "cpp"), "-I", str(REPO / "cpp" / "include"),
           "-c", str(src), "-o", str(obj)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"cannot compile AVX-512 code here: {built.stderr[-300:]}")
    bad = [f"{kind} {name}" for kind, name in _global_symbols(obj)
           if f"::{isa}::" not in name and not name.startswith("DW.ref.")]
    assert not bad, (f"{src.name} at -O0 defines symbols outside deblurcore::cpu::{isa} (see "
                     f"cpp/cpu/README.md):\n" + "\n".join(bad[:20]))
