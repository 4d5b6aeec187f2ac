// Reference normalize_l1: the L1 norm of each sample in double, one division per element.
#include <cmath>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void normalize_l1(const Context& ctx, const NormalizeL1Params& p, const float* x, float* out) {
  (void)ctx;
  for (int64_t n = 0; n < p.N; ++n) {
    const float* xs = x + n * p.sample_size;
    double sum = 0;
    for (int64_t i = 0; i < p.sample_size; ++i) sum += std::fabs(double(xs[i]));
    const double denom = sum + double(p.eps);
    for (int64_t i = 0; i < p.sample_size; ++i)
      out[n * p.sample_size + i] = static_cast<float>(double(xs[i]) / denom);
  }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
