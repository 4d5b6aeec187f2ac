// Front end of linear (torch.nn.functional.linear, then an optional ReLU).
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor linear(const Context& ctx, const Tensor& x, const Tensor& weight, const Tensor& bias,
              Activation activation) {
  const char* op = "linear";
  check_input(ctx, op, "x", x, 2, "(N, in_features)");
  check_input(ctx, op, "weight", weight, 2, "(out_features, in_features)");
  check(weight.size(1) == x.size(1), op, ": weight has ", weight.size(1), " input features (shape ",
        weight.shape_str(), ") but x has ", x.size(1), " (shape ", x.shape_str(), ")");
  check_bias(ctx, op, bias, weight.size(0));
  check(activation == Activation::None || activation == Activation::ReLU, op,
        ": activation must be None or ReLU, got ", static_cast<int>(activation));
  const LinearParams p{x.size(0), x.size(1), weight.size(0), activation};
  Tensor out = ctx.empty({p.N, p.out_features});
  const ProfileScope prof(ctx, op, {{"x", &x}, {"weight", &weight}, {"out", &out}});
  const float* b = ptr_or_null(bias);
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::linear(ctx, p, x.data(), weight.data(), b, out.data());
      else
        cpu::linear(ctx, p, x.data(), weight.data(), b, out.data());
      break;
    case Device::CUDA: cuda::linear(ctx, p, x.data(), weight.data(), b, out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
