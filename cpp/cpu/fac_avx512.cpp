// The FAC row kernels of fac_impl.h compiled for AVX-512 + FMA, with fused multiply-adds (the
// forward output then matches the official CUDA kernel bit for bit). Reached from fac.cpp
// only when ctx.isa() allows it.
#define DEBLURCORE_FAC_KERNELS
#include "cpu/fac_impl.h"

namespace deblurcore {
namespace cpu {
namespace fac_isa {

void fac_avx512(const Context& ctx, const FacParams& p, const float* x, const float* kernel,
                float* out) {
  fac_forward_any<true>(ctx, p, x, kernel, out);
}

void fac_backward_avx512(const Context& ctx, const FacParams& p, const float* grad_out,
                         const float* x, const float* kernel, float* grad_x, float* grad_kernel) {
  fac_backward_any<true>(ctx, p, grad_out, x, kernel, grad_x, grad_kernel);
}

}  // namespace fac_isa
}  // namespace cpu
}  // namespace deblurcore
