// Fast rgb_to_grayscale: the reference's float32 expression, vectorised and threaded.
#include "backends.h"

namespace deblurcore {
namespace cpu {

void rgb_to_grayscale(const Context& ctx, const GrayscaleParams& p, const float* x, float* out) {
  const int threads = p.N * p.HW < (1 << 15) ? 1 : ctx.num_threads();
  for (int64_t n = 0; n < p.N; ++n) {
    const float* r = x + n * 3 * p.HW;
    const float* g = r + p.HW;
    const float* b = g + p.HW;
    float* o = out + n * p.HW;
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (int64_t i = 0; i < p.HW; ++i) {
      const float rg = 0.2989f * r[i] + 0.5870f * g[i];
      o[i] = rg + 0.1140f * b[i];
    }
  }
}

}  // namespace cpu
}  // namespace deblurcore
