// Fast CPU deformable convolution: allocates the channels-last scratch and dispatches to the
// build of deform_conv2d_impl.h for ctx.isa() (isa.h), or to its bf16 form on a
// Precision::BF16 context.
#include "cpu/deform_conv2d.h"
#include "cpu/isa.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cpu {

void deform_conv2d(const Context& ctx, const DeformConv2dParams& p, const float* x,
                   const float* offset, const float* mask, const float* weight, const float* bias,
                   const float* residual, float* out) {
  // The channels-last copy of the input the kernels sample from, and a row of zeros. From the
  // context's allocator: a model's caching allocator hands back the same block every call.
  Tensor xt_buf = ctx.empty({(p.N * p.H * p.W + 1) * p.Cin});
  if (ctx.precision() == Precision::BF16) {
#if defined(DEBLURCORE_X86_ISA)
    if (cpu_supports_bf16() && ctx.isa() == Isa::AVX512) {
      avx512bf16::deform_conv2d_bf16(ctx.num_threads(), p, x, xt_buf.data(), offset, mask, weight,
                                     bias, residual, out);
      return;
    }
#endif
    check(false, "precision 'bf16' needs a CPU with AVX512_BF16 and instruction set avx512");
  }
  const IsaTable<DeformConv2dFn> table{&generic::deform_conv2d,
                                       DEBLURCORE_ISA_ENTRY(&avx2::deform_conv2d),
                                       DEBLURCORE_ISA_ENTRY(&avx512::deform_conv2d)};
  select_isa(ctx, table)(ctx.num_threads(), p, x, xt_buf.data(), offset, mask, weight, bias,
                         residual, out);
}

}  // namespace cpu
}  // namespace deblurcore
