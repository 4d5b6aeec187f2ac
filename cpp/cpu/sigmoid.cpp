// Fast CPU kernel of sigmoid: 1 / (1 + exp(-x)) in float32 with the vectorised exp of
// vector_exp.h (the C library's expf is a scalar call per element, ~6x slower than this loop
// on one thread), split across threads in large contiguous chunks (plain portable C++).
#include "backends.h"
#include "cpu/parallel.h"
#include "cpu/vector_exp.h"

namespace deblurcore {
namespace cpu {

void sigmoid(const Context& ctx, const float* x, float* out, int64_t n) {
#pragma omp parallel for num_threads(threads_for(ctx, n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = 1.f / (1.f + vector_exp(-x[i]));
}

}  // namespace cpu
}  // namespace deblurcore
