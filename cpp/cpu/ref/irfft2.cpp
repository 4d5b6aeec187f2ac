// Reference irfft2: the inverse 2-D DFT by its definition, in double, as numpy.fft.irfft2
// computes it: the complex inverse DFT along H on every stored column, then the
// complex-to-real inverse along W of the Hermitian-completed rows,
//   x[y, m] = 1/(H W) sum_k c_k Re(T[y, k] exp(2 pi i k m / W)),
// c_k = 1 for k = 0 and (W even) k = W/2, else 2; so the imaginary parts of those two columns
// do not contribute.
#include <vector>

#include "backends.h"
#include "cpu/ref/dft_table.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void irfft2(const Context& ctx, const Fft2dParams& p, const float* spectrum, float* x) {
  const int64_t H = p.H, W = p.W, Wc = W / 2 + 1;
  const DftTable tw(W), th(H);
  const double scale = 1.0 / (double(H) * double(W));
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* in = spectrum + plane * H * Wc * 2;
    float* xp = x + plane * H * W;
    std::vector<double> tr(size_t(H * Wc)), ti(size_t(H * Wc));  // columns inverted
    for (int64_t y = 0; y < H; ++y)
      for (int64_t k = 0; k < Wc; ++k) {
        double re = 0, im = 0;
        for (int64_t ky = 0; ky < H; ++ky) {
          const double c = th.cos_of(ky, y), s = th.sin_of(ky, y);
          const double a = in[(ky * Wc + k) * 2], b = in[(ky * Wc + k) * 2 + 1];
          re += a * c - b * s;
          im += a * s + b * c;
        }
        tr[size_t(y * Wc + k)] = re;
        ti[size_t(y * Wc + k)] = im;
      }
    for (int64_t y = 0; y < H; ++y)
      for (int64_t m = 0; m < W; ++m) {
        double v = 0;
        for (int64_t k = 0; k < Wc; ++k) {
          const double weight = (k == 0 || 2 * k == W) ? 1.0 : 2.0;
          v += weight * (tr[size_t(y * Wc + k)] * tw.cos_of(k, m) -
                         ti[size_t(y * Wc + k)] * tw.sin_of(k, m));
        }
        xp[y * W + m] = static_cast<float>(v * scale);
      }
  }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
