// The one instruction-set dispatch mechanism of the fast CPU kernels (cpp/cpu/README.md).
//
// An op with ISA-specific code has one implementation per instruction set, each in a
// namespace of its own: cpu::generic (portable C++, any CPU), cpu::avx2, cpu::avx512. The AVX
// ones live in files named *_avx2.cpp / *_avx512.cpp, the only files compiled with those
// instruction sets (and only on x86 with DEBLURCORE_NATIVE_ISA on, which defines
// DEBLURCORE_X86_ISA). The op's entry point in cpu:: picks one with select_isa from an
// IsaTable built with DEBLURCORE_ISA_ENTRY, so a build without the AVX files links and runs the
// generic code.
#pragma once

#include "deblurcore/context.h"

namespace deblurcore {
namespace cpu {

// One entry per instruction set; an entry may be null (not built, or no specialised code).
// `Entry` is a function pointer or a pointer to a kernel descriptor.
template <class Entry>
struct IsaTable {
  Entry generic;
  Entry avx2;
  Entry avx512;
};

// The best entry for `isa` (ctx.isa(), which is never above what this CPU supports): the
// entry of that instruction set, else of the next lower one that is set, else the generic one.
template <class Entry>
Entry select_isa(Isa isa, const IsaTable<Entry>& table) {
  switch (isa) {
    case Isa::AVX512:
      if (table.avx512) return table.avx512;
      [[fallthrough]];
    case Isa::AVX2:
      if (table.avx2) return table.avx2;
      [[fallthrough]];
    case Isa::Generic: break;
  }
  return table.generic;
}
template <class Entry>
Entry select_isa(const Context& ctx, const IsaTable<Entry>& table) {
  return select_isa(ctx.isa(), table);
}

}  // namespace cpu
}  // namespace deblurcore

// An IsaTable entry for code in an x86 ISA file, e.g. DEBLURCORE_ISA_ENTRY(&avx2::fac): null in
// a build without those files (non-x86, or -DDEBLURCORE_NATIVE_ISA=OFF).
#if defined(DEBLURCORE_X86_ISA)
#define DEBLURCORE_ISA_ENTRY(entry) (entry)
#else
#define DEBLURCORE_ISA_ENTRY(entry) nullptr
#endif
