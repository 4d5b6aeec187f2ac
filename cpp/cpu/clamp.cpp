// Fast CPU kernel of clamp: a memory-bound loop that the compiler vectorises, split across
// threads in large contiguous chunks (plain portable C++, no ISA variants).
#include <algorithm>
#include <cmath>

#include "backends.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

void clamp(const Context& ctx, const float* x, float* out, int64_t n, float lo, float hi) {
  // Comparisons written so that NaN falls through unchanged, like torch.clamp.
#pragma omp parallel for simd num_threads(threads_for(ctx, n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    out[i] = v < lo ? lo : (v > hi ? hi : v);
  }
}

}  // namespace cpu
}  // namespace deblurcore
