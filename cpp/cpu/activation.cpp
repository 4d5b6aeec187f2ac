// Fast CPU kernel of activation: a memory-bound loop that the compiler vectorises, split across
// threads in large contiguous chunks (plain portable C++, no ISA variants).
#include <cstring>

#include "backends.h"
#include "cpu/leaky_relu.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

void activation(const Context& ctx, Activation act, float slope, const float* x, float* out,
                int64_t n) {
  if (act == Activation::None) {
    if (out != x) std::memcpy(out, x, size_t(n) * sizeof(float));
    return;
  }
  if (act == Activation::ReLU) {
    // torch.relu's form (clamp_min): -0 and NaN pass through, -inf gives 0. (x * 0.f for
    // the negative side would turn -inf into NaN and negatives into -0.)
#pragma omp parallel for simd num_threads(threads_for(ctx, n)) schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] < 0.f ? 0.f : x[i];
    return;
  }
#pragma omp parallel for simd num_threads(threads_for(ctx, n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = leaky_relu(x[i], slope);
}

}  // namespace cpu
}  // namespace deblurcore
