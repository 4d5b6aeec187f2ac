// Per-instruction-set entry points of the fast CPU deform_conv2d (deform_conv2d_impl.h),
// dispatched from deform_conv2d.cpp through isa.h.
#pragma once

#include "backends.h"

namespace deblurcore {
namespace cpu {

// The contract of cpu::deform_conv2d with the thread count instead of the Context (ISA code
// calls nothing of Context; see README.md), plus `xt`, a scratch buffer of N*H*W*Cin + Cin
// floats (the channels-last input and a row of zeros).
using DeformConv2dFn = void (*)(int threads, const DeformConv2dParams& p, const float* x, float* xt,
                                const float* offset, const float* mask, const float* weight,
                                const float* bias, const float* residual, float* out);

#define DEBLURCORE_DECLARE_DEFORM(isa)                                                    \
  namespace isa {                                                                         \
  void deform_conv2d(int threads, const DeformConv2dParams& p, const float* x, float* xt, \
                     const float* offset, const float* mask, const float* weight,         \
                     const float* bias, const float* residual, float* out);               \
  }
DEBLURCORE_DECLARE_DEFORM(generic)
DEBLURCORE_DECLARE_DEFORM(avx2)
DEBLURCORE_DECLARE_DEFORM(avx512)
#undef DEBLURCORE_DECLARE_DEFORM

// The same for a Precision::BF16 context: float sampling, products with bf16 operands
// (deform_conv2d_bf16_avx512bf16.cpp; AVX-512 with AVX512_BF16 only).
namespace avx512bf16 {
void deform_conv2d_bf16(int threads, const DeformConv2dParams& p, const float* x, float* xt,
                        const float* offset, const float* mask, const float* weight,
                        const float* bias, const float* residual, float* out);
}

}  // namespace cpu
}  // namespace deblurcore
