// Front end of deform_conv2d and its backward: validate, derive the output shape, dispatch.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

namespace {

// Validates the arguments shared by the forward and the backward and derives the shapes.
DeformConv2dParams deform_conv2d_params(const Context& ctx, const char* op, const Tensor& x,
                                        const Tensor& offset, const Tensor& weight,
                                        const Tensor& bias, Pair stride, Pair padding,
                                        Pair dilation, const Tensor& mask) {
  check_input(ctx, op, "x", x, 4, "(N, Cin, H, W)");
  check_input(ctx, op, "offset", offset, 4, "(N, 2*offset_groups*kh*kw, Hout, Wout)");
  check_input(ctx, op, "weight", weight, 4, "(Cout, Cin, kh, kw)");
  if (mask.defined()) check_input(ctx, op, "mask", mask, 4, "(N, offset_groups*kh*kw, Hout, Wout)");
  check_non_negative(op, "padding", padding.h);
  check_non_negative(op, "padding", padding.w);
  const ConvOutputSize size = conv_output_size(op, x, weight, stride, Padding2d::symmetric(padding),
                                               dilation, "; grouped weights are not supported");
  check_bias(ctx, op, bias, weight.size(0));

  DeformConv2dParams p{};
  p.N = x.size(0), p.Cin = x.size(1), p.H = x.size(2), p.W = x.size(3);
  p.Cout = weight.size(0), p.kh = weight.size(2), p.kw = weight.size(3);
  p.sh = stride.h, p.sw = stride.w, p.ph = padding.h, p.pw = padding.w;
  p.dh = dilation.h, p.dw = dilation.w;
  p.Hout = size.h, p.Wout = size.w;

  const int64_t taps = p.kh * p.kw;
  check(offset.size(0) == p.N, op, ": offset has batch size ", offset.size(0), " but x has ", p.N,
        " (offset shape ", offset.shape_str(), ")");
  check(offset.size(1) % (2 * taps) == 0, op,
        ": offset must have 2*offset_groups*kh*kw "
        "channels, a multiple of ",
        2 * taps, " for a ", p.kh, "x", p.kw, " kernel, got ", offset.size(1), " (shape ",
        offset.shape_str(), ")");
  p.offset_groups = offset.size(1) / (2 * taps);
  check(p.Cin % p.offset_groups == 0, op, ": the ", p.offset_groups,
        " offset groups implied by offset (shape ", offset.shape_str(), ") do not divide the ",
        p.Cin, " input channels");
  check(offset.size(2) == p.Hout && offset.size(3) == p.Wout, op,
        ": offset must have the output's spatial size ", p.Hout, "x", p.Wout, ", got ",
        offset.size(2), "x", offset.size(3), " (shape ", offset.shape_str(), ")");
  p.has_mask = mask.defined();
  if (p.has_mask) {
    const Shape want{p.N, p.offset_groups * taps, p.Hout, p.Wout};
    check(mask.shape() == want, op, ": mask must have shape ", shape_str(want),
          " (N, offset_groups*kh*kw, Hout, Wout) to match offset ", offset.shape_str(), ", got ",
          mask.shape_str());
  }
  return p;
}

}  // namespace

Tensor deform_conv2d(const Context& ctx, const Tensor& x, const Tensor& offset,
                     const Tensor& weight, const Tensor& bias, Pair stride, Pair padding,
                     Pair dilation, const Tensor& mask, const Epilogue& epilogue) {
  const char* op = "deform_conv2d";
  DeformConv2dParams p =
      deform_conv2d_params(ctx, op, x, offset, weight, bias, stride, padding, dilation, mask);
  const Shape out_shape{p.N, p.Cout, p.Hout, p.Wout};
  check(!epilogue.scale.defined() && !epilogue.shift.defined(), op,
        ": epilogue.scale / epilogue.shift are supported by conv2d and conv_transpose2d only");
  p.epilogue = epilogue_params(ctx, op, epilogue, out_shape);

  Tensor out = ctx.empty(out_shape);
  const ProfileScope prof(ctx, op, {{"x", &x}, {"weight", &weight}, {"out", &out}});
  const float* res = ptr_or_null(epilogue.residual);
  const float* m = ptr_or_null(mask);
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::deform_conv2d(ctx, p, x.data(), offset.data(), m, weight.data(),
                                ptr_or_null(bias), res, out.data());
      else
        cpu::deform_conv2d(ctx, p, x.data(), offset.data(), m, weight.data(), ptr_or_null(bias),
                           res, out.data());
      break;
    case Device::CUDA:
      cuda::deform_conv2d(ctx, p, x.data(), offset.data(), m, weight.data(), ptr_or_null(bias), res,
                          out.data());
      break;
  }
  return out;
}

DeformConv2dGrads deform_conv2d_backward(const Context& ctx, const Tensor& grad_out,
                                         const Tensor& x, const Tensor& offset,
                                         const Tensor& weight, const Tensor& bias, Pair stride,
                                         Pair padding, Pair dilation, const Tensor& mask) {
  const char* op = "deform_conv2d_backward";
  const DeformConv2dParams p =
      deform_conv2d_params(ctx, op, x, offset, weight, bias, stride, padding, dilation, mask);
  check_any(ctx, op, "grad_out", grad_out);
  check_same_shape(op, "grad_out", grad_out, "the output", {p.N, p.Cout, p.Hout, p.Wout});
  DeformConv2dGrads g;
  g.x = ctx.empty(x.shape());
  g.offset = ctx.empty(offset.shape());
  g.weight = ctx.empty(weight.shape());
  if (mask.defined()) g.mask = ctx.empty(mask.shape());
  if (bias.defined()) g.bias = ctx.empty(bias.shape());
  const ProfileScope prof(ctx, op, {{"x", &x}, {"weight", &weight}, {"grad_out", &grad_out}});
  const float* m = ptr_or_null(mask);
  float* gm = g.mask.defined() ? g.mask.data() : nullptr;
  float* gb = g.bias.defined() ? g.bias.data() : nullptr;
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::deform_conv2d_backward(ctx, p, grad_out.data(), x.data(), offset.data(), m,
                                         weight.data(), g.x.data(), g.offset.data(), gm,
                                         g.weight.data(), gb);
      else
        cpu::deform_conv2d_backward(ctx, p, grad_out.data(), x.data(), offset.data(), m,
                                    weight.data(), g.x.data(), g.offset.data(), gm, g.weight.data(),
                                    gb);
      break;
    case Device::CUDA:
      cuda::deform_conv2d_backward(ctx, p, grad_out.data(), x.data(), offset.data(), m,
                                   weight.data(), g.x.data(), g.offset.data(), gm, g.weight.data(),
                                   gb);
      break;
  }
  return g;
}

}  // namespace deblurcore
