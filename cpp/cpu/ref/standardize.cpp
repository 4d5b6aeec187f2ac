// Reference standardize: mean and population variance of each plane in double.
#include <cmath>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void standardize(const Context& ctx, const StandardizeParams& p, const float* x, float* out) {
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* xp = x + plane * p.plane_size;
    float* op = out + plane * p.plane_size;
    double mean = 0;
    for (int64_t i = 0; i < p.plane_size; ++i) mean += xp[i];
    mean /= double(p.plane_size);
    double var = 0;
    for (int64_t i = 0; i < p.plane_size; ++i) var += (xp[i] - mean) * (xp[i] - mean);
    var /= double(p.plane_size);
    const double inv = 1.0 / std::sqrt(var + double(p.eps));
    for (int64_t i = 0; i < p.plane_size; ++i) op[i] = static_cast<float>((xp[i] - mean) * inv);
  }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
