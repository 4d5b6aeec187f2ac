// Reference cross_correlation: the CrossCorrelationFFT layer by its definition, in double,
// without any transform (cost P * window^2 * H * W per sample: for tests only).
#include <cmath>
#include <vector>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void cross_correlation(const Context& ctx, const CrossCorrelationParams& p, const float* x,
                       float* out) {
  const int64_t H = p.H, W = p.W, HW = H * W, C = p.C, R = p.window, m = p.max_shift;
  const int64_t out_channels = p.pairs * (p.add_flips ? 2 : 1);
  for (int64_t n = 0; n < p.N; ++n) {
    // a_c = (x_c - mean) / (sigma * sqrt(HW)), or 0 where sigma < 1e-9.
    std::vector<double> a(size_t(C * HW));
    for (int64_t c = 0; c < C; ++c) {
      const float* xc = x + (n * C + c) * HW;
      double mean = 0;
      for (int64_t i = 0; i < HW; ++i) mean += xc[i];
      mean /= double(HW);
      double sq = 0;
      for (int64_t i = 0; i < HW; ++i) sq += (xc[i] - mean) * (xc[i] - mean);
      const double sigma = std::sqrt(sq / double(HW));
      const double inv = sigma < 1e-9 ? 0.0 : 1.0 / (sigma * std::sqrt(double(HW)));
      for (int64_t i = 0; i < HW; ++i) a[size_t(c * HW + i)] = (xc[i] - mean) * inv;
    }
    float* on = out + n * out_channels * R * R;
#pragma omp parallel for schedule(dynamic) num_threads(ctx.num_threads())
    for (int64_t i = 0; i < C; ++i)
      for (int64_t j = i; j < C; ++j) {
        const int64_t pair = i * C - i * (i - 1) / 2 + (j - i);
        const double* ai = a.data() + i * HW;
        const double* aj = a.data() + j * HW;
        for (int64_t r = 0; r < R; ++r)
          for (int64_t c = 0; c < R; ++c) {
            // Shifts taken modulo the size (the window wraps when it is wider than x).
            const int64_t dy = (((r - m) % H) + H) % H, dx = (((c - m) % W) + W) % W;
            double s = 0;
            for (int64_t y = 0; y < H; ++y)
              for (int64_t xx = 0; xx < W; ++xx)
                s += ai[((y + dy) % H) * W + (xx + dx) % W] * aj[y * W + xx];
            on[(pair * R + r) * R + c] = static_cast<float>(s);
            if (p.add_flips)
              on[((p.pairs + pair) * R + (R - 1 - r)) * R + (R - 1 - c)] = static_cast<float>(s);
          }
      }
  }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
