// Temporary: fast kernels forward to the reference kernels until the optimised ones land.
#include "backends.h"

namespace deblurcore {
namespace cpu {

void conv2d(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
            const float* bias, const float* residual, float* out) {
  ref::conv2d(ctx, p, x, w, bias, residual, out);
}
void conv_transpose2d(const Context& ctx, const ConvTranspose2dParams& p, const float* x,
                      const float* w, const float* bias, const float* residual, float* out) {
  ref::conv_transpose2d(ctx, p, x, w, bias, residual, out);
}
void fac(const Context& ctx, const FacParams& p, const float* x, const float* kernel, float* out) {
  ref::fac(ctx, p, x, kernel, out);
}
void fac_backward(const Context& ctx, const FacParams& p, const float* g, const float* x,
                  const float* kernel, float* gx, float* gk) {
  ref::fac_backward(ctx, p, g, x, kernel, gx, gk);
}

}  // namespace cpu
}  // namespace deblurcore
