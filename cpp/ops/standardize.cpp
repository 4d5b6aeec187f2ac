// Front end of standardize (Keras Standardize over H, W).
#include <cmath>

#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor standardize(const Context& ctx, const Tensor& x, float eps) {
  const char* op = "standardize";
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  check(std::isfinite(eps) && eps >= 0.f, op, ": eps must be finite and >= 0, got ", eps);
  const StandardizeParams p{x.size(0) * x.size(1), x.size(2) * x.size(3), eps};
  Tensor out = ctx.empty(x.shape());
  const ProfileScope prof(ctx, op, {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::standardize(ctx, p, x.data(), out.data());
      else
        cpu::standardize(ctx, p, x.data(), out.data());
      break;
    case Device::CUDA: cuda::standardize(ctx, p, x.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
