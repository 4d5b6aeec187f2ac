// Reference rgb_to_grayscale: the float32 weighted sum, left to right.
#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void rgb_to_grayscale(const Context& ctx, const GrayscaleParams& p, const float* x, float* out) {
  (void)ctx;
  for (int64_t n = 0; n < p.N; ++n) {
    const float* r = x + n * 3 * p.HW;
    const float* g = r + p.HW;
    const float* b = g + p.HW;
    for (int64_t i = 0; i < p.HW; ++i) {
      const float rg = 0.2989f * r[i] + 0.5870f * g[i];
      out[n * p.HW + i] = rg + 0.1140f * b[i];
    }
  }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
