// The deformable convolution kernels of deform_conv2d_impl.h compiled as portable C++ (any
// CPU), in namespace cpu::generic.
#define DEBLURCORE_ISA generic
#include "cpu/deform_conv2d_impl.h"

namespace deblurcore {
namespace cpu {
namespace generic {

void deform_conv2d(int threads, const DeformConv2dParams& p, const float* x, float* xt,
                   const float* offset, const float* mask, const float* weight, const float* bias,
                   const float* residual, float* out) {
  deform_conv2d_isa(threads, p, x, xt, offset, mask, weight, bias, residual, out);
}

}  // namespace generic
}  // namespace cpu
}  // namespace deblurcore
