// Fast CPU conv2d: Winograd F(4x4, 3x3) where it applies and pays (conv_winograd.cpp), else one
// dense virtual convolution run by the GEMM driver (conv_gemm.cpp). A Precision::BF16 context
// runs the bf16 forms of both (conv_gemm_bf16.h, conv_winograd.h).
#include <vector>

#include "backends.h"
#include "cpu/conv1x1_small_cout.h"
#include "cpu/conv_gemm.h"
#include "cpu/conv_gemm_bf16.h"
#include "cpu/conv_winograd.h"

namespace deblurcore {
namespace cpu {

using namespace convgemm;

namespace {

// Weight (Cout, Cin, kh, kw): tap ky*kw + kx of (co, ci) at w[(co*Cin + ci)*taps + tap].
void pack_conv2d_weights(const TileKernel& kern, int64_t Cout, int64_t Cin, int64_t taps,
                         const float* w, float* a) {
  std::vector<int64_t> tap_offset(static_cast<size_t>(taps));
  for (int64_t t = 0; t < taps; ++t) tap_offset[size_t(t)] = t;
  pack_weights(kern, Cout, Cin, taps, w, Cin * taps, taps, tap_offset.data(), a);
}

int64_t packed_size(const TileKernel& kern, int64_t Cout, int64_t Cin, int64_t taps) {
  return round_up(Cout, kern.mr) * packed_k(kern, Cin, taps);
}

// The prepared weight (or null) of the Winograd that runs: bf16, or float with this tile.
const float* prepared_winograd(const Conv2dParams& p, bool bf16, int tile) {
  if (bf16) return p.winograd_bf16_weight;
  return tile == 6 ? p.winograd6_weight : p.winograd_weight;
}

}  // namespace

void conv2d(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
            const float* bias, const float* residual, float* out) {
  const bool bf16 = ctx.precision() == Precision::BF16;
  const ConvAlgorithm algo = ctx.conv_algorithm();
  if (!bf16 && conv1x1::small_cout_applies(p)) {  // a memory-bound pass of its own
    conv1x1::small_cout(ctx, p, x, w, bias, residual, out);
    return;
  }
  if (winograd::applies(p) && algo != ConvAlgorithm::Direct &&
      (algo == ConvAlgorithm::Winograd ||
       (bf16 ? winograd::faster_bf16(p) : winograd::faster(p)))) {
    const int tile = bf16 ? 4 : winograd::float_tile(ctx, p);
    winograd::conv2d(ctx, p, x, w, prepared_winograd(p, bf16, tile), bias, residual, out, tile);
    return;
  }
  if (!residual && winograd::dilated_applies(p) && algo != ConvAlgorithm::Direct &&
      (algo == ConvAlgorithm::Winograd || winograd::dilated_faster(p, bf16))) {
    const int tile = bf16 ? 4 : winograd::float_tile(ctx, winograd::sub_image_params(p));
    winograd::conv2d_dilated(ctx, p, x, w, prepared_winograd(p, bf16, tile), bias, out, tile);
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
  if (bf16 && p.bf16_packed_weight) {  // packed at load (conv2d_prepare), same kernel layout
    ph.apack = p.bf16_packed_weight;
    run(ctx, kern, g, phases, p.N, x, bias, residual, out, p.epilogue);
    return;
  }
  Tensor a = ctx.empty({packed_size(kern, p.Cout, p.Cin, taps)});  // reused by caching allocators
  pack_conv2d_weights(kern, p.Cout, p.Cin, taps, w, a.data());
  ph.apack = a.data();
  run(ctx, kern, g, phases, p.N, x, bias, residual, out, p.epilogue);
}

int64_t conv2d_bf16_weight_size(int64_t Cout, int64_t Cin, int64_t kh, int64_t kw) {
  const TileKernel* kern = bf16_tile_kernel_or_null();
  return kern ? packed_size(*kern, Cout, Cin, kh * kw) : 0;
}

void conv2d_bf16_weight(int64_t Cout, int64_t Cin, int64_t kh, int64_t kw, const float* weight,
                        float* out) {
  const TileKernel* kern = bf16_tile_kernel_or_null();
  if (kern) pack_conv2d_weights(*kern, Cout, Cin, kh * kw, weight, out);
}

}  // namespace cpu
}  // namespace deblurcore
