// Fast CPU deformable convolution: the generic build of deform_impl.h and the dispatch to the
// AVX2 / AVX-512 builds by ctx.isa(). Also the CPU weighted_sum (a memory-bound blend).
#define DEBLURCORE_DEFORM_KERNELS
#include "cpu/deform_impl.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cpu {

namespace deform_isa {

void deform_conv2d_generic(const Context& ctx, const DeformConv2dParams& p, const float* x,
                           float* xt, const float* offset, const float* mask, const float* weight,
                           const float* bias, const float* residual, float* out) {
  deform_conv2d_impl(ctx, p, x, xt, offset, mask, weight, bias, residual, out);
}

}  // namespace deform_isa

void deform_conv2d(const Context& ctx, const DeformConv2dParams& p, const float* x,
                   const float* offset, const float* mask, const float* weight,
                   const float* bias, const float* residual, float* out) {
  // The channels-last copy of the input the kernels sample from, and a row of zeros. From the
  // context's allocator: a model's caching allocator hands back the same block every call.
  Tensor xt_buf = ctx.empty({(p.N * p.H * p.W + 1) * p.Cin});
  float* xt = xt_buf.data();
  switch (ctx.isa()) {
    case Isa::AVX512:
      deform_isa::deform_conv2d_avx512(ctx, p, x, xt, offset, mask, weight, bias, residual, out);
      return;
    case Isa::AVX2:
      deform_isa::deform_conv2d_avx2(ctx, p, x, xt, offset, mask, weight, bias, residual, out);
      return;
    case Isa::Generic: break;
  }
  deform_isa::deform_conv2d_generic(ctx, p, x, xt, offset, mask, weight, bias, residual, out);
}

void weighted_sum(const Context& ctx, const WeightedSumParams& p, const float* const* inputs,
                  const float* weights, float* out) {
  // Products are rounded before each addition (no fused multiply-add), as a framework
  // computing o0*a0 + o1*a1 + ... tensor by tensor does.
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads()) schedule(static)
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      float* o = out + (n * p.C + c) * p.HW;
      const float* w0 = weights + n * p.B * p.HW;
      const float* x0 = inputs[0] + (n * p.C + c) * p.HW;
      for (int64_t i = 0; i < p.HW; ++i) o[i] = w0[i] * x0[i];
      for (int64_t b = 1; b < p.B; ++b) {
        const float* wb = weights + (n * p.B + b) * p.HW;
        const float* xb = inputs[b] + (n * p.C + c) * p.HW;
        for (int64_t i = 0; i < p.HW; ++i) {
          const float prod = wb[i] * xb[i];
          o[i] = o[i] + prod;
        }
      }
    }
}

}  // namespace cpu
}  // namespace deblurcore
