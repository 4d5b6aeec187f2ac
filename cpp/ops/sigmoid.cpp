// Front end of sigmoid: validate, allocate the output from the context, dispatch.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor sigmoid(const Context& ctx, const Tensor& x) {
  check_any(ctx, "sigmoid", "x", x);
  Tensor out = ctx.empty(x.shape());
  const ProfileScope prof(ctx, "sigmoid", {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::sigmoid(ctx, x.data(), out.data(), x.numel());
      else
        cpu::sigmoid(ctx, x.data(), out.data(), x.numel());
      break;
    case Device::CUDA: cuda::sigmoid(ctx, x.data(), out.data(), x.numel()); break;
  }
  return out;
}

}  // namespace deblurcore
