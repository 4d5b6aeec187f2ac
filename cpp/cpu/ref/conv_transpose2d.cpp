// Scalar reference kernel of conv_transpose2d: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include "backends.h"
#include "cpu/ref/conv_epilogue.h"

namespace deblurcore {
namespace cpu {
namespace ref {

// Written in gather form: output (oy, ox) receives input (iy, ix) through tap (ky, kx) when
// oy = iy*sh - ph + ky*dh, i.e. iy = (oy + ph - ky*dh) / sh with no remainder.
void conv_transpose2d(const Context& ctx, const ConvTranspose2dParams& p, const float* x,
                      const float* w, const float* bias, const float* residual, float* out) {
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t co = 0; co < p.Cout; ++co)
      for (int64_t oy = 0; oy < p.Hout; ++oy)
        for (int64_t ox = 0; ox < p.Wout; ++ox) {
          double acc = 0.0;
          for (int64_t ky = 0; ky < p.kh; ++ky) {
            const int64_t ty = oy + p.ph - ky * p.dh;
            if (ty < 0 || ty % p.sh) continue;
            const int64_t iy = ty / p.sh;
            if (iy >= p.H) continue;
            for (int64_t kx = 0; kx < p.kw; ++kx) {
              const int64_t tx = ox + p.pw - kx * p.dw;
              if (tx < 0 || tx % p.sw) continue;
              const int64_t ix = tx / p.sw;
              if (ix >= p.W) continue;
              for (int64_t ci = 0; ci < p.Cin; ++ci)
                acc += double(w[((ci * p.Cout + co) * p.kh + ky) * p.kw + kx]) *
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
