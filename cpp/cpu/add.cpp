// Fast CPU kernel of add: a memory-bound loop that the compiler vectorises, split across
// threads in large contiguous chunks (plain portable C++, no ISA variants).
#include "backends.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

void add(const Context& ctx, const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for simd num_threads(threads_for(ctx, n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace cpu
}  // namespace deblurcore
