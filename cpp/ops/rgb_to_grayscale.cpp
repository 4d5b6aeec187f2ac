// Front end of rgb_to_grayscale (tf.image.rgb_to_grayscale on float data).
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor rgb_to_grayscale(const Context& ctx, const Tensor& x) {
  const char* op = "rgb_to_grayscale";
  check_input(ctx, op, "x", x, 4, "(N, 3, H, W)");
  check(x.size(1) == 3, op, ": x must have 3 channels (R, G, B), got shape ", x.shape_str());
  const GrayscaleParams p{x.size(0), x.size(2) * x.size(3)};
  Tensor out = ctx.empty({x.size(0), 1, x.size(2), x.size(3)});
  const ProfileScope prof(ctx, op, {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::rgb_to_grayscale(ctx, p, x.data(), out.data());
      else
        cpu::rgb_to_grayscale(ctx, p, x.data(), out.data());
      break;
    case Device::CUDA: cuda::rgb_to_grayscale(ctx, p, x.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
