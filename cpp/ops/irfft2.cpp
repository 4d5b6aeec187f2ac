// Front end of irfft2: numpy.fft.irfft2(X, s=(H, width)) of (N, C, H, width/2+1, 2) spectra.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor irfft2(const Context& ctx, const Tensor& X, int64_t width) {
  const char* op = "irfft2";
  check_input(ctx, op, "X", X, 5, "(N, C, H, width/2+1, 2)");
  check(X.size(4) == 2, op, ": X must end in a dimension of 2 (re, im), got shape ", X.shape_str());
  check(width >= 1, op, ": width must be positive, got ", width);
  check(X.size(3) == width / 2 + 1, op, ": X has ", X.size(3), " columns but width ", width,
        " needs width/2+1 = ", width / 2 + 1, " (shape ", X.shape_str(), ")");
  const Fft2dParams p{X.size(0) * X.size(1), X.size(2), width};
  Tensor out = ctx.empty({X.size(0), X.size(1), p.H, p.W});
  const ProfileScope prof(ctx, op, {{"X", &X}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::irfft2(ctx, p, X.data(), out.data());
      else
        cpu::irfft2(ctx, p, X.data(), out.data());
      break;
    case Device::CUDA: cuda::irfft2(ctx, p, X.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
