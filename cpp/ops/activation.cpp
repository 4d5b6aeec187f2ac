// Front end of relu and leaky_relu (one backend kernel, `activation`): validate, allocate the
// output from the context, dispatch.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

namespace {

Tensor run_activation(const Context& ctx, const char* op, const Tensor& x, Activation act,
                      float slope) {
  check_any(ctx, op, "x", x);
  Tensor out = ctx.empty(x.shape());
  const ProfileScope prof(ctx, op, {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::activation(ctx, act, slope, x.data(), out.data(), x.numel());
      else
        cpu::activation(ctx, act, slope, x.data(), out.data(), x.numel());
      break;
    case Device::CUDA: cuda::activation(ctx, act, slope, x.data(), out.data(), x.numel()); break;
  }
  return out;
}

}  // namespace

Tensor relu(const Context& ctx, const Tensor& x) {
  return run_activation(ctx, "relu", x, Activation::ReLU, 0.f);
}

Tensor leaky_relu(const Context& ctx, const Tensor& x, float negative_slope) {
  return run_activation(ctx, "leaky_relu", x, Activation::LeakyReLU, negative_slope);
}

}  // namespace deblurcore
