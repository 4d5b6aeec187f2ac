// Front end of the filter adaptive convolution (STFAN's KernelConv2D) and its backward.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

namespace {

FacParams fac_params(const Context& ctx, const char* op, const Tensor& x, const Tensor& kernel,
                     int kernel_size) {
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  check_input(ctx, op, "kernel", kernel, 4, "(N, C*k*k, H, W)");
  check(kernel_size > 0 && kernel_size % 2 == 1, op,
        ": kernel_size must be a positive odd number, got ", kernel_size);
  const int64_t k2 = int64_t(kernel_size) * kernel_size;
  check(kernel.size(0) == x.size(0), op, ": kernel has batch ", kernel.size(0), " but x has batch ",
        x.size(0));
  check(kernel.size(1) == x.size(1) * k2, op, ": kernel must have C*k*k = ", x.size(1), "*", k2,
        " = ", x.size(1) * k2, " channels for x ", x.shape_str(), " and kernel_size ", kernel_size,
        ", got ", kernel.size(1), " (shape ", kernel.shape_str(), ")");
  check(kernel.size(2) == x.size(2) && kernel.size(3) == x.size(3), op,
        ": kernel must have the spatial size of x (", x.size(2), "x", x.size(3), "), got ",
        kernel.size(2), "x", kernel.size(3));
  return FacParams{x.size(0), x.size(1), x.size(2), x.size(3), kernel_size};
}

void run_fac(const Context& ctx, const FacParams& p, const Tensor& x, const Tensor& kernel,
             Tensor& out) {
  const ProfileScope prof(ctx, "fac", {{"x", &x}, {"kernel", &kernel}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::fac(ctx, p, x.data(), kernel.data(), out.data());
      else
        cpu::fac(ctx, p, x.data(), kernel.data(), out.data());
      break;
    case Device::CUDA: cuda::fac(ctx, p, x.data(), kernel.data(), out.data()); break;
  }
}

}  // namespace

Tensor fac(const Context& ctx, const Tensor& x, const Tensor& kernel, int kernel_size) {
  const FacParams p = fac_params(ctx, "fac", x, kernel, kernel_size);
  Tensor out = ctx.empty(x.shape());
  run_fac(ctx, p, x, kernel, out);
  return out;
}

void fac_into(const Context& ctx, const Tensor& x, const Tensor& kernel, int kernel_size,
              Tensor out) {
  const char* op = "fac_into";
  const FacParams p = fac_params(ctx, op, x, kernel, kernel_size);
  check_input(ctx, op, "out", out, 4, "(N, C, H, W)");
  check_same_shape(op, "out", out, "x", x.shape());
  // The kernels read x and kernel while they write out: the ranges must be disjoint.
  const auto overlaps = [&](const Tensor& t) {
    return out.data() < t.data() + t.numel() && t.data() < out.data() + out.numel();
  };
  check(!overlaps(x) && !overlaps(kernel), op, ": out must not overlap x or kernel");
  run_fac(ctx, p, x, kernel, out);
}

std::pair<Tensor, Tensor> fac_backward(const Context& ctx, const Tensor& grad_out, const Tensor& x,
                                       const Tensor& kernel, int kernel_size) {
  const char* op = "fac_backward";
  const FacParams p = fac_params(ctx, op, x, kernel, kernel_size);
  check_any(ctx, op, "grad_out", grad_out);
  check_same_shape(op, "grad_out", grad_out, "x", x.shape());
  Tensor grad_x = ctx.empty(x.shape());
  Tensor grad_kernel = ctx.empty(kernel.shape());
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::fac_backward(ctx, p, grad_out.data(), x.data(), kernel.data(), grad_x.data(),
                               grad_kernel.data());
      else
        cpu::fac_backward(ctx, p, grad_out.data(), x.data(), kernel.data(), grad_x.data(),
                          grad_kernel.data());
      break;
    case Device::CUDA:
      cuda::fac_backward(ctx, p, grad_out.data(), x.data(), kernel.data(), grad_x.data(),
                         grad_kernel.data());
      break;
  }
  return {grad_x, grad_kernel};
}

}  // namespace deblurcore
