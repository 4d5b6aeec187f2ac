// Front end of normalize_l1 (the Analysis network's Normalization(ord=1)).
#include <cmath>

#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor normalize_l1(const Context& ctx, const Tensor& x, float eps) {
  const char* op = "normalize_l1";
  check_any(ctx, op, "x", x);
  check(x.dim() >= 1, op, ": x must have a batch dimension (N, ...), got shape ", x.shape_str());
  for (int d = 0; d < x.dim(); ++d)
    check(x.size(d) > 0, op, ": x must have no empty dimension, got shape ", x.shape_str());
  check(std::isfinite(eps) && eps >= 0.f, op, ": eps must be finite and >= 0, got ", eps);
  const NormalizeL1Params p{x.size(0), x.numel() / x.size(0), eps};
  Tensor out = ctx.empty(x.shape());
  const ProfileScope prof(ctx, op, {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::normalize_l1(ctx, p, x.data(), out.data());
      else
        cpu::normalize_l1(ctx, p, x.data(), out.data());
      break;
    case Device::CUDA: cuda::normalize_l1(ctx, p, x.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
