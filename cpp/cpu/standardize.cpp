// Fast standardize: one plane per thread (or all threads on one plane when there are fewer
// planes than threads); sums in double, which the compiler vectorises over float lanes.
#include <cmath>

#include "backends.h"

namespace deblurcore {
namespace cpu {

namespace {

// Sum of x and of (x - shift)^2 in double, in 8 independent lanes (vectorisable, and a
// shorter dependency chain than one running sum).
void plane_moments(const float* x, int64_t n, double shift, double& sum, double& sq) {
  double s[8] = {0}, q[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) {
      const double v = double(x[i + l]) - shift;
      s[l] += v;
      q[l] += v * v;
    }
  for (; i < n; ++i) {
    const double v = double(x[i]) - shift;
    s[0] += v;
    q[0] += v * v;
  }
  sum = sq = 0;
  for (int l = 0; l < 8; ++l) sum += s[l], sq += q[l];
}

}  // namespace

void standardize(const Context& ctx, const StandardizeParams& p, const float* x, float* out) {
#pragma omp parallel for num_threads(ctx.num_threads()) schedule(static)
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* xp = x + plane * p.plane_size;
    float* op = out + plane * p.plane_size;
    const double n = double(p.plane_size);
    // Two passes: the mean, then the moments about it (no cancellation in the variance).
    double sum, sq;
    plane_moments(xp, p.plane_size, 0.0, sum, sq);
    const double mean = sum / n;
    plane_moments(xp, p.plane_size, mean, sum, sq);
    const double var = (sq - sum * sum / n) / n;  // sum ~ 0: a tiny correction of the mean
    const double mean_c = mean + sum / n;
    const double inv = 1.0 / std::sqrt((var < 0 ? 0 : var) + double(p.eps));
    for (int64_t i = 0; i < p.plane_size; ++i)
      op[i] = static_cast<float>((double(xp[i]) - mean_c) * inv);
  }
}

}  // namespace cpu
}  // namespace deblurcore
