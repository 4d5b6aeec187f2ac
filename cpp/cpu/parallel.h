// Thread count of the memory-bound CPU kernels (generic code only; see README.md for ISA files).
#pragma once

#include <cstdint>

#include "deblurcore/context.h"

namespace deblurcore {
namespace cpu {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;

inline int threads_for(const Context& ctx, int64_t n) {
  return n < kParallelThreshold ? 1 : ctx.num_threads();
}

}  // namespace cpu
}  // namespace deblurcore
