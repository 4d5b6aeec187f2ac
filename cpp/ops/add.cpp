// Front end of add: validate, allocate the output from the context, dispatch.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor add(const Context& ctx, const Tensor& a, const Tensor& b) {
  check_any(ctx, "add", "a", a);
  check_any(ctx, "add", "b", b);
  check_same_shape("add", "b", b, "a", a.shape());
  Tensor out = ctx.empty(a.shape());
  const ProfileScope prof(ctx, "add", {{"a", &a}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::add(ctx, a.data(), b.data(), out.data(), a.numel());
      else
        cpu::add(ctx, a.data(), b.data(), out.data(), a.numel());
      break;
    case Device::CUDA: cuda::add(ctx, a.data(), b.data(), out.data(), a.numel()); break;
  }
  return out;
}

}  // namespace deblurcore
