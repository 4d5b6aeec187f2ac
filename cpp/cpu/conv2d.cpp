// Fast CPU conv2d: Winograd F(4x4, 3x3) where it applies and pays (conv_winograd.cpp), else one
// dense virtual convolution run by the GEMM driver (conv_gemm.cpp).
#include <vector>

#include "backends.h"
#include "cpu/conv_gemm.h"
#include "cpu/conv_winograd.h"

namespace deblurcore {
namespace cpu {

using namespace convgemm;

void conv2d(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
            const float* bias, const float* residual, float* out) {
  const ConvAlgorithm algo = ctx.conv_algorithm();
  if (winograd::applies(p) && algo != ConvAlgorithm::Direct &&
      (algo == ConvAlgorithm::Winograd || winograd::faster(p))) {
    winograd::conv2d(ctx, p, x, w, p.winograd_weight, bias, residual, out);
    return;
  }
  const TileKernel& kern = select_tile_kernel(ctx);
  const ConvGeometry g{p.Cin, p.H, p.W, p.Cout, p.sh, p.sw, p.Hout, p.Wout, 1, 1};
  std::vector<Phase> phases(1);
  Phase& ph = phases[0];
  ph.Qh = p.Hout, ph.Qw = p.Wout, ph.oy0 = 0, ph.ox0 = 0;
  for (int64_t ky = 0; ky < p.kh; ++ky) ph.offy.push_back(ky * p.dh - p.ph);
  for (int64_t kx = 0; kx < p.kw; ++kx) ph.offx.push_back(kx * p.dw - p.pw);

  const int64_t K = p.Cin * ph.taps();
  AlignedBuffer a(size_t(round_up(p.Cout, kern.mr) * K));
  // Weight (Cout, Cin, kh, kw) is already A row-major with k = (ci*kh + ky)*kw + kx.
  pack_a(kern.mr, p.Cout, K, [&](int64_t co, int64_t k) { return w[co * K + k]; }, a.data());
  ph.apack = a.data();
  run(ctx, kern, g, phases, p.N, x, bias, residual, out, p.epilogue);
}

}  // namespace cpu
}  // namespace deblurcore
