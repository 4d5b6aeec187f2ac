// Front end of clamp: validate, allocate the output from the context, dispatch.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor clamp(const Context& ctx, const Tensor& x, float lo, float hi) {
  check_any(ctx, "clamp", "x", x);
  check(lo <= hi, "clamp: lo must be <= hi, got lo=", lo, ", hi=", hi);
  Tensor out = ctx.empty(x.shape());
  const ProfileScope prof(ctx, "clamp", {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::clamp(ctx, x.data(), out.data(), x.numel(), lo, hi);
      else
        cpu::clamp(ctx, x.data(), out.data(), x.numel(), lo, hi);
      break;
    case Device::CUDA: cuda::clamp(ctx, x.data(), out.data(), x.numel(), lo, hi); break;
  }
  return out;
}

}  // namespace deblurcore
