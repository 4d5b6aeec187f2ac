// Fast CPU kernel of softmax: a memory-bound loop that the compiler vectorises, split across
// threads in large contiguous chunks (plain portable C++, no ISA variants).
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

void softmax(const Context& ctx, const SoftmaxParams& p, const float* x, float* out) {
  // Channel-strided data: process a run of `inner` positions per (outer, pass) so every
  // access is contiguous.
#pragma omp parallel for num_threads(threads_for(ctx, p.outer* p.C* p.inner)) schedule(static)
  for (int64_t o = 0; o < p.outer; ++o) {
    const float* xs = x + o * p.C * p.inner;
    float* ys = out + o * p.C * p.inner;
    std::vector<float> m(xs, xs + p.inner), sum(p.inner, 0.f);
    for (int64_t c = 1; c < p.C; ++c)
      for (int64_t i = 0; i < p.inner; ++i) m[i] = std::max(m[i], xs[c * p.inner + i]);
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t i = 0; i < p.inner; ++i) {
        const float e = std::exp(xs[c * p.inner + i] - m[i]);
        ys[c * p.inner + i] = e;
        sum[i] += e;
      }
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t i = 0; i < p.inner; ++i) ys[c * p.inner + i] /= sum[i];
  }
}

}  // namespace cpu
}  // namespace deblurcore
