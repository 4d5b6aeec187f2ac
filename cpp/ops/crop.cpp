// Front end of crop: a window of the last two axes of (N, C, H, W).
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor crop(const Context& ctx, const Tensor& x, int64_t top, int64_t left, int64_t height,
            int64_t width) {
  const char* op = "crop";
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  check(top >= 0 && left >= 0, op, ": top and left must be >= 0, got top=", top, ", left=", left);
  check(height >= 1 && width >= 1, op, ": height and width must be >= 1, got height=", height,
        ", width=", width);
  check(top + height <= x.size(2) && left + width <= x.size(3), op, ": the window rows [", top,
        ", ", top + height, ") x columns [", left, ", ", left + width,
        ") does not lie inside x of shape ", x.shape_str());
  const CropParams p{x.size(0), x.size(1), x.size(2), x.size(3), top, left, height, width};
  Tensor out = ctx.empty({p.N, p.C, height, width});
  const ProfileScope prof(ctx, op, {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::crop(ctx, p, x.data(), out.data());
      else
        cpu::crop(ctx, p, x.data(), out.data());
      break;
    case Device::CUDA: cuda::crop(ctx, p, x.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
