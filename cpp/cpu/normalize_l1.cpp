// Fast normalize_l1: the L1 norm in double over 8 lanes, then one division per element.
#include <cmath>

#include "backends.h"

namespace deblurcore {
namespace cpu {

void normalize_l1(const Context& ctx, const NormalizeL1Params& p, const float* x, float* out) {
  (void)ctx;  // the model's use is one 85x85 kernel: not worth a parallel region
  for (int64_t n = 0; n < p.N; ++n) {
    const float* xs = x + n * p.sample_size;
    float* os = out + n * p.sample_size;
    double lanes[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= p.sample_size; i += 8)
      for (int l = 0; l < 8; ++l) lanes[l] += std::fabs(double(xs[i + l]));
    for (; i < p.sample_size; ++i) lanes[0] += std::fabs(double(xs[i]));
    double sum = 0;
    for (int l = 0; l < 8; ++l) sum += lanes[l];
    const double denom = sum + double(p.eps);
    for (int64_t k = 0; k < p.sample_size; ++k) os[k] = static_cast<float>(double(xs[k]) / denom);
  }
}

}  // namespace cpu
}  // namespace deblurcore
