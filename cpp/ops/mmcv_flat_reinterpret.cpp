// Front end of mmcv_flat_reinterpret (see ops.h).
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor mmcv_flat_reinterpret(const Context& ctx, const Tensor& x, int height, int width) {
  constexpr const char* op = "mmcv_flat_reinterpret";
  check_input(ctx, op, "x", x, 4, "(N, C, h, w)");
  check_positive(op, "height", height);
  check_positive(op, "width", width);
  const int64_t N = x.size(0), C = x.size(1);
  Tensor out = ctx.empty({N, C, height, width});
  const ProfileScope prof(ctx, op, {{"x", &x}, {"out", &out}});
  const MmcvFlatReinterpretParams p{N, C * x.size(2) * x.size(3), C * int64_t(height) * width};
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::mmcv_flat_reinterpret(ctx, p, x.data(), out.data());
      else
        cpu::mmcv_flat_reinterpret(ctx, p, x.data(), out.data());
      break;
    case Device::CUDA: cuda::mmcv_flat_reinterpret(ctx, p, x.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
