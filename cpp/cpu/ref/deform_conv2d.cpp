// Scalar reference kernel of deform_conv2d: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include <cmath>
#include <vector>

#include "backends.h"
#include "cpu/ref/conv_epilogue.h"

namespace deblurcore {
namespace cpu {
namespace ref {

namespace {

// Bilinear sample of one H x W plane at (py, px) with zero padding: 0 unless
// -1 < py < H and -1 < px < W; corners outside the plane count as 0.
double bilinear_zero(const float* plane, int64_t H, int64_t W, double py, double px) {
  if (!(py > -1.0 && px > -1.0 && py < double(H) && px < double(W))) return 0.0;
  const double fy = std::floor(py), fx = std::floor(px);
  const int64_t y0 = static_cast<int64_t>(fy), x0 = static_cast<int64_t>(fx);
  const double ly = py - fy, lx = px - fx;
  double v = 0.0;
  for (int dy = 0; dy < 2; ++dy)
    for (int dx = 0; dx < 2; ++dx) {
      const int64_t yy = y0 + dy, xx = x0 + dx;
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
      const double wgt = (dy ? ly : 1.0 - ly) * (dx ? lx : 1.0 - lx);
      v += wgt * plane[yy * W + xx];
    }
  return v;
}

}  // namespace

void deform_conv2d(const Context& ctx, const DeformConv2dParams& p, const float* x,
                   const float* offset, const float* mask, const float* w, const float* bias,
                   const float* residual, float* out) {
  const int64_t taps = p.kh * p.kw, G = p.offset_groups, cpg = p.Cin / G;
  const int64_t out_plane = p.Hout * p.Wout;
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t oy = 0; oy < p.Hout; ++oy)
      for (int64_t ox = 0; ox < p.Wout; ++ox) {
        // Samples of every (input channel, tap) for this output pixel, shared by all Cout.
        std::vector<double> col(p.Cin * taps);
        for (int64_t ci = 0; ci < p.Cin; ++ci) {
          const int64_t g = ci / cpg;
          const float* plane = x + (n * p.Cin + ci) * p.H * p.W;
          for (int64_t ky = 0; ky < p.kh; ++ky)
            for (int64_t kx = 0; kx < p.kw; ++kx) {
              const int64_t k = ky * p.kw + kx;
              const int64_t pix = oy * p.Wout + ox;
              const float* off = offset + (n * G + g) * 2 * taps * out_plane;
              const double dy = off[(2 * k) * out_plane + pix];
              const double dx = off[(2 * k + 1) * out_plane + pix];
              const double py = double(oy * p.sh - p.ph + ky * p.dh) + dy;
              const double px = double(ox * p.sw - p.pw + kx * p.dw) + dx;
              double v = bilinear_zero(plane, p.H, p.W, py, px);
              if (mask) v *= mask[((n * G + g) * taps + k) * out_plane + pix];
              col[ci * taps + k] = v;
            }
        }
        for (int64_t co = 0; co < p.Cout; ++co) {
          double acc = 0.0;
          const float* wc = w + co * p.Cin * taps;
          for (int64_t i = 0; i < p.Cin * taps; ++i) acc += double(wc[i]) * col[i];
          const int64_t o = ((n * p.Cout + co) * p.Hout + oy) * p.Wout + ox;
          out[o] = conv_epilogue(p.epilogue, acc, bias, n, co, p.Cout, residual, o);
        }
      }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
