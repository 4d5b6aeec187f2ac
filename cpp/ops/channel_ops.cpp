// Front ends of softmax, concat and pad.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"

namespace deblurcore {

Tensor softmax(const Context& ctx, const Tensor& x, int dim) {
  const char* op = "softmax";
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  check(dim == 1 || dim == -3, op, ": only dim=1 (channels) is supported, got dim=", dim);
  const SoftmaxParams p{x.size(0), x.size(1), x.size(2) * x.size(3)};
  Tensor out = ctx.empty(x.shape());
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::softmax(ctx, p, x.data(), out.data());
      else
        cpu::softmax(ctx, p, x.data(), out.data());
      break;
    case Device::CUDA: cuda::softmax(ctx, p, x.data(), out.data()); break;
  }
  return out;
}

Tensor concat(const Context& ctx, const std::vector<Tensor>& tensors, int dim) {
  const char* op = "concat";
  check(!tensors.empty(), op, ": tensors must not be empty");
  check(dim == 1 || dim == -3, op, ": only dim=1 (channels) is supported, got dim=", dim);
  int64_t channels = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const std::string name = "tensors[" + std::to_string(i) + "]";
    check_input(ctx, op, name.c_str(), t, 4, "(N, C, H, W)");
    check(t.size(0) == tensors[0].size(0) && t.size(2) == tensors[0].size(2) &&
              t.size(3) == tensors[0].size(3),
          op, ": ", name, " has shape ", t.shape_str(),
          ", which differs from tensors[0] ", tensors[0].shape_str(), " outside dim 1");
    channels += t.size(1);
  }
  const int64_t N = tensors[0].size(0), plane = tensors[0].size(2) * tensors[0].size(3);
  Tensor out = ctx.empty({N, channels, tensors[0].size(2), tensors[0].size(3)});
  int64_t offset = 0;  // in channels
  for (const Tensor& t : tensors) {
    // Each batch item of t is one contiguous row of C_t * plane floats.
    const int64_t row = t.size(1) * plane;
    float* dst = out.data() + offset * plane;
    switch (ctx.device()) {
      case Device::CPU: cpu::copy_rows(ctx, t.data(), row, dst, channels * plane, row, N); break;
      case Device::CUDA: cuda::copy_rows(ctx, t.data(), row, dst, channels * plane, row, N); break;
    }
    offset += t.size(1);
  }
  return out;
}

Tensor pad(const Context& ctx, const Tensor& x, std::array<int, 4> pads, PadMode mode,
           float value) {
  const char* op = "pad";
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  static const char* names[4] = {"left", "right", "top", "bottom"};
  for (int i = 0; i < 4; ++i)
    check(pads[i] >= 0, op, ": pads must be non-negative, got ", names[i], "=", pads[i]);
  check(mode == PadMode::Zeros || mode == PadMode::Replicate || mode == PadMode::Reflect ||
            mode == PadMode::Symmetric,
        op,
        ": unknown mode ", static_cast<int>(mode));
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
