// Reference linear: each output a dot product in double, plus bias, then the activation.
#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void linear(const Context& ctx, const LinearParams& p, const float* x, const float* weight,
            const float* bias, float* out) {
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t o = 0; o < p.out_features; ++o) {
      double s = bias ? double(bias[o]) : 0.0;
      for (int64_t i = 0; i < p.in_features; ++i)
        s += double(x[n * p.in_features + i]) * double(weight[o * p.in_features + i]);
      float v = static_cast<float>(s);
      if (p.activation == Activation::ReLU) v = v < 0.f ? 0.f : v;
      out[n * p.out_features + o] = v;
    }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
