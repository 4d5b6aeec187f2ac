// Fast CPU filter adaptive convolution (FAC) and its backward: the generic build of the row
// kernels in fac_impl.h, and the dispatch to the AVX2 / AVX-512 builds by ctx.isa().
#define DEBLURCORE_FAC_KERNELS
#include "cpu/fac_impl.h"

namespace deblurcore {
namespace cpu {

namespace fac_isa {

void fac_generic(const Context& ctx, const FacParams& p, const float* x, const float* kernel,
                 float* out) {
  fac_forward_any<false>(ctx, p, x, kernel, out);
}

void fac_backward_generic(const Context& ctx, const FacParams& p, const float* grad_out,
                          const float* x, const float* kernel, float* grad_x,
                          float* grad_kernel) {
  fac_backward_any<false>(ctx, p, grad_out, x, kernel, grad_x, grad_kernel);
}

}  // namespace fac_isa

void fac(const Context& ctx, const FacParams& p, const float* x, const float* kernel,
         float* out) {
  switch (ctx.isa()) {
    case Isa::AVX512: fac_isa::fac_avx512(ctx, p, x, kernel, out); return;
    case Isa::AVX2: fac_isa::fac_avx2(ctx, p, x, kernel, out); return;
    case Isa::Generic: break;
  }
  fac_isa::fac_generic(ctx, p, x, kernel, out);
}

void fac_backward(const Context& ctx, const FacParams& p, const float* grad_out, const float* x,
                  const float* kernel, float* grad_x, float* grad_kernel) {
  switch (ctx.isa()) {
    case Isa::AVX512:
      fac_isa::fac_backward_avx512(ctx, p, grad_out, x, kernel, grad_x, grad_kernel);
      return;
    case Isa::AVX2:
      fac_isa::fac_backward_avx2(ctx, p, grad_out, x, kernel, grad_x, grad_kernel);
      return;
    case Isa::Generic: break;
  }
  fac_isa::fac_backward_generic(ctx, p, grad_out, x, kernel, grad_x, grad_kernel);
}

}  // namespace cpu
}  // namespace deblurcore
