// Fast CPU kernel of sigmoid: a memory-bound loop that the compiler vectorises, split across
// threads in large contiguous chunks (plain portable C++, no ISA variants).
#include <cmath>

#include "backends.h"

namespace deblurcore {
namespace cpu {

namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;

int threads_for(const Context& ctx, int64_t n) {
  return n < kParallelThreshold ? 1 : ctx.num_threads();
}

}  // namespace

void sigmoid(const Context& ctx, const float* x, float* out, int64_t n) {
#pragma omp parallel for num_threads(threads_for(ctx, n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = 1.f / (1.f + std::exp(-x[i]));
}

}  // namespace cpu
}  // namespace deblurcore
