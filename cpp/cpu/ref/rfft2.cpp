// Reference rfft2: the 2-D DFT of each real plane by its definition, in double, rows first
// (only the W/2+1 non-redundant columns), then columns.
//   X[ky, kx] = sum_{y,x} x[y, x] exp(-2 pi i (ky y / H + kx x / W))
#include <vector>

#include "backends.h"
#include "cpu/ref/dft_table.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void rfft2(const Context& ctx, const Fft2dParams& p, const float* x, float* spectrum) {
  const int64_t H = p.H, W = p.W, Wc = W / 2 + 1;
  const DftTable tw(W), th(H);
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* xp = x + plane * H * W;
    float* out = spectrum + plane * H * Wc * 2;
    std::vector<double> tr(size_t(H * Wc)), ti(size_t(H * Wc));  // rows transformed
    for (int64_t y = 0; y < H; ++y)
      for (int64_t k = 0; k < Wc; ++k) {
        double re = 0, im = 0;
        for (int64_t i = 0; i < W; ++i) {
          re += double(xp[y * W + i]) * tw.cos_of(k, i);
          im -= double(xp[y * W + i]) * tw.sin_of(k, i);
        }
        tr[size_t(y * Wc + k)] = re;
        ti[size_t(y * Wc + k)] = im;
      }
    for (int64_t ky = 0; ky < H; ++ky)
      for (int64_t k = 0; k < Wc; ++k) {
        double re = 0, im = 0;
        for (int64_t y = 0; y < H; ++y) {
          const double c = th.cos_of(ky, y), s = -th.sin_of(ky, y);
          const double a = tr[size_t(y * Wc + k)], b = ti[size_t(y * Wc + k)];
          re += a * c - b * s;
          im += a * s + b * c;
        }
        out[(ky * Wc + k) * 2] = static_cast<float>(re);
        out[(ky * Wc + k) * 2 + 1] = static_cast<float>(im);
      }
  }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
