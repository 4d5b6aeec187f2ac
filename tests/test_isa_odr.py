"""The ODR rule of the instruction-set kernel files (cpp/cpu/README.md), checked on the objects
of the development build: every global symbol an ISA file (cpp/cpu/*_generic.cpp, *_avx2.cpp,
*_avx512.cpp) defines lies in that instruction set's namespace (cpu::generic, cpu::avx2,
cpu::avx512). A weak symbol outside it (an inline function or template instantiation such as
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
ISAS = ("generic", "avx2", "avx512")


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
