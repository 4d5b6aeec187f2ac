// Front end of softmax: validate, allocate the output from the context, dispatch.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor softmax(const Context& ctx, const Tensor& x, int dim) {
  const char* op = "softmax";
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  check(dim == 1 || dim == -3, op, ": only dim=1 (channels) is supported, got dim=", dim);
  const SoftmaxParams p{x.size(0), x.size(1), x.size(2) * x.size(3)};
  Tensor out = ctx.empty(x.shape());
  const ProfileScope prof(ctx, op, {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::softmax(ctx, p, x.data(), out.data());
      else
        cpu::softmax(ctx, p, x.data(), out.data());
      break;
    case Device::CUDA: cuda::softmax(ctx, p, x.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
