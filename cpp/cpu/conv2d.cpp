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
  // Winograd is an fp32 algorithm: a bf16 context keeps the direct bf16 GEMM.
  const ConvAlgorithm algo = ctx.conv_algorithm();
  if (ctx.precision() == Precision::FP32 && winograd::applies(p) && algo != ConvAlgorithm::Direct &&
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

  const int64_t taps = ph.taps();
  AlignedBuffer a(size_t(round_up(p.Cout, kern.mr) * packed_k(kern, p.Cin, taps)));
  // Weight (Cout, Cin, kh, kw): tap ky*kw + kx of (co, ci) at w[(co*Cin + ci)*taps + tap].
  std::vector<int64_t> tap_offset(static_cast<size_t>(taps));
  for (int64_t t = 0; t < taps; ++t) tap_offset[size_t(t)] = t;
  pack_weights(kern, p.Cout, p.Cin, taps, w, p.Cin * taps, taps, tap_offset.data(), a.data());
  ph.apack = a.data();
  run(ctx, kern, g, phases, p.N, x, bias, residual, out, p.epilogue);
}

}  // namespace cpu
}  // namespace deblurcore
