// Scalar reference kernel of conv2d: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include "backends.h"
#include "cpu/ref/conv_epilogue.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void conv2d(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
            const float* bias, const float* residual, float* out) {
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t co = 0; co < p.Cout; ++co)
      for (int64_t oy = 0; oy < p.Hout; ++oy)
        for (int64_t ox = 0; ox < p.Wout; ++ox) {
          double acc = 0.0;
          for (int64_t ci = 0; ci < p.Cin; ++ci)
            for (int64_t ky = 0; ky < p.kh; ++ky) {
              const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
              if (iy < 0 || iy >= p.H) continue;
              for (int64_t kx = 0; kx < p.kw; ++kx) {
                const int64_t ix = ox * p.sw - p.pw + kx * p.dw;
                if (ix < 0 || ix >= p.W) continue;
                acc += double(w[((co * p.Cin + ci) * p.kh + ky) * p.kw + kx]) *
                       x[((n * p.Cin + ci) * p.H + iy) * p.W + ix];
              }
            }
          const int64_t o = ((n * p.Cout + co) * p.Hout + oy) * p.Wout + ox;
          out[o] = conv_epilogue(p.epilogue, acc, bias, n, co, p.Cout, residual, o);
        }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
