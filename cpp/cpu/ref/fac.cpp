// Scalar reference kernel of fac and fac_backward: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include <algorithm>
#include <vector>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

namespace {

int64_t clamp_index(int64_t v, int64_t size) { return std::min(std::max<int64_t>(v, 0), size - 1); }

}  // namespace

void fac(const Context& ctx, const FacParams& p, const float* x, const float* kernel, float* out) {
  const int64_t k = p.k, r = (k - 1) / 2, plane = p.H * p.W;
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      const float* xc = x + (n * p.C + c) * plane;
      const float* kc = kernel + (n * p.C + c) * k * k * plane;
      for (int64_t y = 0; y < p.H; ++y)
        for (int64_t xx = 0; xx < p.W; ++xx) {
          double acc = 0.0;
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t sy = clamp_index(y + ky - r, p.H), sx = clamp_index(xx + kx - r, p.W);
              acc += double(xc[sy * p.W + sx]) * kc[(ky * k + kx) * plane + y * p.W + xx];
            }
          out[(n * p.C + c) * plane + y * p.W + xx] = static_cast<float>(acc);
        }
    }
}

// grad_kernel[c*k*k + ky*k + kx, y, x] = x[c, clamp(y+ky-r), clamp(x+kx-r)] * g[c, y, x]
// grad_x[c, sy, sx] = sum over (y, x, ky, kx) whose clamped tap lands on (sy, sx) of
//                     kernel[c*k*k + ky*k + kx, y, x] * g[c, y, x]
// Written as a scatter over each channel plane (one thread per channel, so no races).
void fac_backward(const Context& ctx, const FacParams& p, const float* grad_out, const float* x,
                  const float* kernel, float* grad_x, float* grad_kernel) {
  const int64_t k = p.k, r = (k - 1) / 2, plane = p.H * p.W;
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      const int64_t nc = n * p.C + c;
      const float* xc = x + nc * plane;
      const float* gc = grad_out + nc * plane;
      const float* kc = kernel + nc * k * k * plane;
      float* gkc = grad_kernel + nc * k * k * plane;
      std::vector<double> gx(plane, 0.0);
      for (int64_t y = 0; y < p.H; ++y)
        for (int64_t xx = 0; xx < p.W; ++xx) {
          const double g = gc[y * p.W + xx];
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t sy = clamp_index(y + ky - r, p.H), sx = clamp_index(xx + kx - r, p.W);
              const int64_t t = (ky * k + kx) * plane + y * p.W + xx;
              gkc[t] = static_cast<float>(double(xc[sy * p.W + sx]) * g);
              gx[sy * p.W + sx] += double(kc[t]) * g;
            }
        }
      for (int64_t i = 0; i < plane; ++i) grad_x[nc * plane + i] = static_cast<float>(gx[i]);
    }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
