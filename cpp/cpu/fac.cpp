// Fast CPU filter adaptive convolution (FAC) and its backward: dispatch to the build of the row
// kernels in fac_impl.h for ctx.isa() (isa.h).
#include "cpu/fac.h"
#include "cpu/isa.h"

namespace deblurcore {
namespace cpu {

void fac(const Context& ctx, const FacParams& p, const float* x, const float* kernel, float* out) {
  const IsaTable<FacFn> table{&generic::fac, DEBLURCORE_ISA_ENTRY(&avx2::fac),
                              DEBLURCORE_ISA_ENTRY(&avx512::fac)};
  select_isa(ctx, table)(ctx.num_threads(), p, x, kernel, out);
}

void fac_backward(const Context& ctx, const FacParams& p, const float* grad_out, const float* x,
                  const float* kernel, float* grad_x, float* grad_kernel) {
  const IsaTable<FacBackwardFn> table{&generic::fac_backward,
                                      DEBLURCORE_ISA_ENTRY(&avx2::fac_backward),
                                      DEBLURCORE_ISA_ENTRY(&avx512::fac_backward)};
  select_isa(ctx, table)(ctx.num_threads(), p, grad_out, x, kernel, grad_x, grad_kernel);
}

}  // namespace cpu
}  // namespace deblurcore
