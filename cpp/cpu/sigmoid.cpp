// Fast CPU kernel of sigmoid: a memory-bound loop that the compiler vectorises, split across
// threads in large contiguous chunks (plain portable C++, no ISA variants).
#include <cmath>

#include "backends.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

void sigmoid(const Context& ctx, const float* x, float* out, int64_t n) {
#pragma omp parallel for num_threads(threads_for(ctx, n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = 1.f / (1.f + std::exp(-x[i]));
}

}  // namespace cpu
}  // namespace deblurcore
