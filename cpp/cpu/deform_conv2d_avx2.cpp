// The deformable convolution kernels of deform_conv2d_impl.h compiled for AVX2 + FMA, in
// namespace cpu::avx2.
#define DEBLURCORE_ISA avx2
#include "cpu/deform_conv2d_impl.h"

namespace deblurcore {
namespace cpu {
namespace avx2 {

void deform_conv2d(int threads, const DeformConv2dParams& p, const float* x, float* xt,
                   const float* offset, const float* mask, const float* weight, const float* bias,
                   const float* residual, float* out) {
  deform_conv2d_isa(threads, p, x, xt, offset, mask, weight, bias, residual, out);
}

}  // namespace avx2
}  // namespace cpu
}  // namespace deblurcore
