// Scalar reference kernel of the activations (relu, leaky_relu): the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void activation(const Context& ctx, Activation act, float slope, const float* x, float* out,
                int64_t n) {
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (act == Activation::ReLU)
      out[i] = v < 0.f ? 0.f : v;  // as torch.relu: -0 and NaN pass through
    else if (act == Activation::LeakyReLU)
      out[i] = v > 0.f ? v : v * slope;
    else
      out[i] = v;
  }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
