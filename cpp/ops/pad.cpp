// Front end of pad: validate, allocate the output from the context, dispatch.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor pad(const Context& ctx, const Tensor& x, std::array<int, 4> pads, PadMode mode,
           float value) {
  const char* op = "pad";
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  static const char* names[4] = {"left", "right", "top", "bottom"};
  for (int i = 0; i < 4; ++i)
    check(pads[i] >= 0, op, ": pads must be non-negative, got ", names[i], "=", pads[i]);
  check(mode == PadMode::Zeros || mode == PadMode::Replicate || mode == PadMode::Reflect ||
            mode == PadMode::Symmetric,
        op, ": unknown mode ", static_cast<int>(mode));
  PadParams p{};
  p.N = x.size(0), p.C = x.size(1), p.H = x.size(2), p.W = x.size(3);
  p.left = pads[0], p.right = pads[1], p.top = pads[2], p.bottom = pads[3];
  p.Hout = p.H + p.top + p.bottom;
  p.Wout = p.W + p.left + p.right;
  p.mode = mode;
  p.value = mode == PadMode::Zeros ? value : 0.f;
  if (mode == PadMode::Reflect)
    check(p.left < p.W && p.right < p.W && p.top < p.H && p.bottom < p.H, op,
          ": reflect padding must be smaller than the padded dimension: pads (left, right, "
          "top, bottom) = (",
          p.left, ", ", p.right, ", ", p.top, ", ", p.bottom, ") for x ", x.shape_str());
  if (mode == PadMode::Symmetric)
    check(p.left <= p.W && p.right <= p.W && p.top <= p.H && p.bottom <= p.H, op,
          ": symmetric padding must not exceed the padded dimension: pads (left, right, "
          "top, bottom) = (",
          p.left, ", ", p.right, ", ", p.top, ", ", p.bottom, ") for x ", x.shape_str());
  Tensor out = ctx.empty({p.N, p.C, p.Hout, p.Wout});
  const ProfileScope prof(ctx, op, {{"x", &x}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::pad(ctx, p, x.data(), out.data());
      else
        cpu::pad(ctx, p, x.data(), out.data());
      break;
    case Device::CUDA: cuda::pad(ctx, p, x.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
