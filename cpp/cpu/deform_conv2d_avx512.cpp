// The deformable convolution kernels of deform_conv2d_impl.h compiled for AVX-512 (F, BW, DQ,
// VL), in namespace cpu::avx512.
#define DEBLURCORE_ISA avx512
#include "cpu/deform_conv2d_impl.h"

namespace deblurcore {
namespace cpu {
namespace avx512 {

void deform_conv2d(int threads, const DeformConv2dParams& p, const float* x, float* xt,
                   const float* offset, const float* mask, const float* weight, const float* bias,
                   const float* residual, float* out) {
  deform_conv2d_isa(threads, p, x, xt, offset, mask, weight, bias, residual, out);
}

}  // namespace avx512
}  // namespace cpu
}  // namespace deblurcore
