// Scalar reference kernel of softmax: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include <algorithm>
#include <cmath>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void softmax(const Context& ctx, const SoftmaxParams& p, const float* x, float* out) {
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t i = 0; i < p.inner; ++i) {
      const float* xs = x + o * p.C * p.inner + i;
      float* ys = out + o * p.C * p.inner + i;
      double m = xs[0];
      for (int64_t c = 1; c < p.C; ++c) m = std::max(m, double(xs[c * p.inner]));
      double sum = 0.0;
      for (int64_t c = 0; c < p.C; ++c) sum += std::exp(double(xs[c * p.inner]) - m);
      for (int64_t c = 0; c < p.C; ++c)
        ys[c * p.inner] = static_cast<float>(std::exp(double(xs[c * p.inner]) - m) / sum);
    }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
