// Front end of the iterative adaptive convolution (IFAN's IAC) and its backward.

#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

namespace {

constexpr float kIacSlope = 0.1f;  // every LeakyReLU of IFAN

IacParams iac_params(const Context& ctx, const char* op, const Tensor& x, const Tensor& filters,
                     int n_iterations, int kernel_size, const IacLayout& layout,
                     bool reuse_vertical_filter, bool final_activation) {
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  check_input(ctx, op, "filters", filters, 4, "(N, n*C*(2k+1), H, W)");
  check(n_iterations > 0, op, ": n_iterations must be positive, got ", n_iterations);
  check(kernel_size > 0 && kernel_size % 2 == 1, op,
        ": kernel_size must be a positive odd number, got ", kernel_size);
  check(filters.size(0) == x.size(0), op, ": filters has batch ", filters.size(0),
        " but x has batch ", x.size(0));
  check(filters.size(1) == layout.filter_channels, op, ": filters must have ",
        layout.filter_channels, " channels for x ", x.shape_str(), ", n_iterations ", n_iterations,
        " and kernel_size ", kernel_size, ", got ", filters.size(1), " (shape ",
        filters.shape_str(), ")");
  check(filters.size(2) == x.size(2) && filters.size(3) == x.size(3), op,
        ": filters must have the spatial size of x (", x.size(2), "x", x.size(3), "), got ",
        filters.size(2), "x", filters.size(3));
  IacParams p{};
  p.N = x.size(0);
  p.C = x.size(1);
  p.H = x.size(2);
  p.W = x.size(3);
  p.k = kernel_size;
  p.iterations = n_iterations;
  p.filter_channels = layout.filter_channels;
  p.f1_base = layout.f1_base;
  p.f1_step = layout.f1_step;
  p.f2_base = layout.f2_base;
  p.f2_step = layout.f2_step;
  p.bias_base = layout.bias_base;
  p.bias_step = layout.bias_step;
  p.reuse_vertical_filter = reuse_vertical_filter;
  p.final_activation = final_activation;
  p.negative_slope = kIacSlope;
  // Every block the kernels read must lie inside the filter tensor.
  const int64_t ck = p.C * p.k, last = p.iterations - 1;
  auto inside = [&](int64_t base, int64_t step, int64_t size) {
    return base >= 0 && base + (step > 0 ? step * last : 0) + size <= p.filter_channels &&
           base + (step < 0 ? step * last : 0) >= 0;
  };
  check(inside(p.f1_base, p.f1_step, ck) && inside(p.bias_base, p.bias_step, p.C) &&
            (reuse_vertical_filter || inside(p.f2_base, p.f2_step, ck)),
        op, ": filter layout does not fit ", p.filter_channels, " channels");
  return p;
}

}  // namespace

IacLayout IacLayout::official(int64_t n, int64_t C, int64_t k) {
  const int64_t ck = C * k;
  return IacLayout{n * C * (2 * k + 1), 0, 2 * ck, ck, 2 * ck, 2 * ck * n, C};
}

IacLayout IacLayout::packed(int64_t n, int64_t C, int64_t k) {
  const int64_t ck = C * k;
  return IacLayout{n * C * (k + 1), 0, ck, 0, 0, ck * n, C};
}

Tensor iac_with_layout(const Context& ctx, const Tensor& x, const Tensor& filters, int n_iterations,
                       int kernel_size, const IacLayout& layout, bool reuse_vertical_filter,
                       bool final_activation) {
  const IacParams p = iac_params(ctx, "iac", x, filters, n_iterations, kernel_size, layout,
                                 reuse_vertical_filter, final_activation);
  Tensor out = ctx.empty(x.shape());
  const ProfileScope prof(ctx, "iac", {{"x", &x}, {"filters", &filters}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::iac(ctx, p, x.data(), filters.data(), out.data());
      else
        cpu::iac(ctx, p, x.data(), filters.data(), out.data());
      break;
    case Device::CUDA: cuda::iac(ctx, p, x.data(), filters.data(), out.data()); break;
  }
  return out;
}

Tensor iac(const Context& ctx, const Tensor& x, const Tensor& filters, int n_iterations,
           int kernel_size, bool reuse_vertical_filter, bool final_activation) {
  // The layout depends on C and k: validate those first so that a bad value is reported as
  // such rather than as a channel-count mismatch.
  check_input(ctx, "iac", "x", x, 4, "(N, C, H, W)");
  check(n_iterations > 0, "iac: n_iterations must be positive, got ", n_iterations);
  check(kernel_size > 0 && kernel_size % 2 == 1,
        "iac: kernel_size must be a positive odd number, got ", kernel_size);
  return iac_with_layout(ctx, x, filters, n_iterations, kernel_size,
                         IacLayout::official(n_iterations, x.size(1), kernel_size),
                         reuse_vertical_filter, final_activation);
}

std::pair<Tensor, Tensor> iac_backward(const Context& ctx, const Tensor& grad_out, const Tensor& x,
                                       const Tensor& filters, int n_iterations, int kernel_size,
                                       bool reuse_vertical_filter, bool final_activation) {
  const char* op = "iac_backward";
  check_input(ctx, op, "x", x, 4, "(N, C, H, W)");
  check(n_iterations > 0, op, ": n_iterations must be positive, got ", n_iterations);
  check(kernel_size > 0 && kernel_size % 2 == 1, op,
        ": kernel_size must be a positive odd number, got ", kernel_size);
  const IacParams p = iac_params(ctx, op, x, filters, n_iterations, kernel_size,
                                 IacLayout::official(n_iterations, x.size(1), kernel_size),
                                 reuse_vertical_filter, final_activation);
  check_any(ctx, op, "grad_out", grad_out);
  check_same_shape(op, "grad_out", grad_out, "x", x.shape());
  Tensor grad_x = ctx.empty(x.shape());
  Tensor grad_filters = ctx.empty(filters.shape());
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::iac_backward(ctx, p, grad_out.data(), x.data(), filters.data(), grad_x.data(),
                               grad_filters.data());
      else
        cpu::iac_backward(ctx, p, grad_out.data(), x.data(), filters.data(), grad_x.data(),
                          grad_filters.data());
      break;
    case Device::CUDA:
      cuda::iac_backward(ctx, p, grad_out.data(), x.data(), filters.data(), grad_x.data(),
                         grad_filters.data());
      break;
  }
  return {grad_x, grad_filters};
}

}  // namespace deblurcore
