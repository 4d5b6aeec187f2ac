// Front ends of the elementwise ops. They are memory-bound, so the CPU has one kernel each
// (the reference kernels are the same loops).
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"

namespace deblurcore {

namespace {

Tensor run_activation(const Context& ctx, const char* op, const Tensor& x, Activation act,
                      float slope) {
  check_any(ctx, op, "x", x);
  Tensor out = ctx.empty(x.shape());
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::activation(ctx, act, slope, x.data(), out.data(), x.numel());
      else
        cpu::activation(ctx, act, slope, x.data(), out.data(), x.numel());
      break;
    case Device::CUDA: cuda::activation(ctx, act, slope, x.data(), out.data(), x.numel()); break;
  }
  return out;
}

}  // namespace

Tensor relu(const Context& ctx, const Tensor& x) {
  return run_activation(ctx, "relu", x, Activation::ReLU, 0.f);
}

Tensor leaky_relu(const Context& ctx, const Tensor& x, float negative_slope) {
  return run_activation(ctx, "leaky_relu", x, Activation::LeakyReLU, negative_slope);
}

Tensor sigmoid(const Context& ctx, const Tensor& x) {
  check_any(ctx, "sigmoid", "x", x);
  Tensor out = ctx.empty(x.shape());
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::sigmoid(ctx, x.data(), out.data(), x.numel());
      else
        cpu::sigmoid(ctx, x.data(), out.data(), x.numel());
      break;
    case Device::CUDA: cuda::sigmoid(ctx, x.data(), out.data(), x.numel()); break;
  }
  return out;
}

Tensor clamp(const Context& ctx, const Tensor& x, float lo, float hi) {
  check_any(ctx, "clamp", "x", x);
  check(lo <= hi, "clamp: lo must be <= hi, got lo=", lo, ", hi=", hi);
  Tensor out = ctx.empty(x.shape());
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::clamp(ctx, x.data(), out.data(), x.numel(), lo, hi);
      else
        cpu::clamp(ctx, x.data(), out.data(), x.numel(), lo, hi);
      break;
    case Device::CUDA: cuda::clamp(ctx, x.data(), out.data(), x.numel(), lo, hi); break;
  }
  return out;
}

Tensor add(const Context& ctx, const Tensor& a, const Tensor& b) {
  check_any(ctx, "add", "a", a);
  check_any(ctx, "add", "b", b);
  check_same_shape("add", "b", b, "a", a.shape());
  Tensor out = ctx.empty(a.shape());
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::add(ctx, a.data(), b.data(), out.data(), a.numel());
      else
        cpu::add(ctx, a.data(), b.data(), out.data(), a.numel());
      break;
    case Device::CUDA: cuda::add(ctx, a.data(), b.data(), out.data(), a.numel()); break;
  }
  return out;
}

}  // namespace deblurcore
