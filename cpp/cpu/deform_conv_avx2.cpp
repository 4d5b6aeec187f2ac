// The deformable convolution kernels of deform_impl.h compiled for AVX2 + FMA (vector
// fused multiply-adds). Reached from deform_conv.cpp only when ctx.isa() allows it.
#define DEBLURCORE_DEFORM_KERNELS
#include "cpu/deform_impl.h"

namespace deblurcore {
namespace cpu {
namespace deform_isa {

void deform_conv2d_avx2(const Context& ctx, const DeformConv2dParams& p, const float* x, float* xt,
                        const float* offset, const float* mask, const float* weight,
                        const float* bias, const float* residual, float* out) {
  deform_conv2d_impl(ctx, p, x, xt, offset, mask, weight, bias, residual, out);
}

}  // namespace deform_isa
}  // namespace cpu
}  // namespace deblurcore
