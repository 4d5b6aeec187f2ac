// Front end of cross_correlation (the CrossCorrelationFFT layer of the Analysis network).
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor cross_correlation(const Context& ctx, const Tensor& x, int max_shift, bool add_flips) {
  const char* op = "cross_correlation";
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  check_non_negative(op, "max_shift", max_shift);
  CrossCorrelationParams p{};
  p.N = x.size(0), p.C = x.size(1), p.H = x.size(2), p.W = x.size(3);
  p.max_shift = max_shift;
  p.window = 2 * int64_t(max_shift) + 1;
  p.pairs = p.C * (p.C + 1) / 2;
  p.add_flips = add_flips;
  Tensor out = ctx.empty({p.N, p.pairs * (add_flips ? 2 : 1), p.window, p.window});
  const ProfileScope prof(ctx, op, {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::cross_correlation(ctx, p, x.data(), out.data());
      else
        cpu::cross_correlation(ctx, p, x.data(), out.data());
      break;
    case Device::CUDA: cuda::cross_correlation(ctx, p, x.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
