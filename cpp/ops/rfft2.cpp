// Front end of rfft2: numpy.fft.rfft2 over the last two axes of (N, C, H, W).
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor rfft2(const Context& ctx, const Tensor& x) {
  const char* op = "rfft2";
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  const Fft2dParams p{x.size(0) * x.size(1), x.size(2), x.size(3)};
  Tensor out = ctx.empty({x.size(0), x.size(1), p.H, p.W / 2 + 1, 2});
  const ProfileScope prof(ctx, op, {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::rfft2(ctx, p, x.data(), out.data());
      else
        cpu::rfft2(ctx, p, x.data(), out.data());
      break;
    case Device::CUDA: cuda::rfft2(ctx, p, x.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
