// Front end of conv_transpose2d: validate, derive the output shape, dispatch. Both overloads
// end in one implementation; the backends receive only the crop before the first row / column
// (ph, pw) and the output size computed here.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

namespace {

// Checks shared by both conv_transpose2d overloads.
void check_conv_transpose(const Context& ctx, const Tensor& x, const Tensor& weight, Pair stride,
                          Pair dilation) {
  const char* op = "conv_transpose2d";
  check_input(ctx, op, "x", x, 4, "(N, Cin, H, W)");
  check_input(ctx, op, "weight", weight, 4, "(Cin, Cout, kh, kw)");
  check_positive(op, "stride", stride.h);
  check_positive(op, "stride", stride.w);
  check_positive(op, "dilation", dilation.h);
  check_positive(op, "dilation", dilation.w);
}

// The front end proper: `padding` is the crop of the full output, `output_padding` extra rows
// / columns at the end (only from the symmetric overload).
Tensor conv_transpose2d_impl(const Context& ctx, const Tensor& x,
                             const PreparedConvTranspose2dWeight& prepared, const Tensor& bias,
                             Pair stride, const Padding2d& padding, Pair output_padding,
                             Pair dilation, const Epilogue& epilogue) {
  const char* op = "conv_transpose2d";
  const Tensor& weight = prepared.weight;
  check(weight.size(0) == x.size(1), op, ": weight has ", weight.size(0),
        " input channels (dim 0 of shape ", weight.shape_str(),
        ", layout (Cin, Cout, kh, kw)) but x has ", x.size(1), " channels (shape ", x.shape_str(),
        ")");
  check_bias(ctx, op, bias, weight.size(1));

  ConvTranspose2dParams p{};
  p.N = x.size(0), p.Cin = x.size(1), p.H = x.size(2), p.W = x.size(3);
  p.Cout = weight.size(1), p.kh = weight.size(2), p.kw = weight.size(3);
  p.sh = stride.h, p.sw = stride.w, p.ph = padding.top, p.pw = padding.left;
  p.dh = dilation.h, p.dw = dilation.w;
  p.Hout =
      (p.H - 1) * p.sh - padding.top - padding.bottom + p.dh * (p.kh - 1) + output_padding.h + 1;
  p.Wout =
      (p.W - 1) * p.sw - padding.left - padding.right + p.dw * (p.kw - 1) + output_padding.w + 1;
  check(p.Hout > 0 && p.Wout > 0, op, ": these parameters give an empty output (", p.Hout, "x",
        p.Wout, ") for input ", x.shape_str());
  const Shape out_shape{p.N, p.Cout, p.Hout, p.Wout};
  p.epilogue = epilogue_params(ctx, op, epilogue, out_shape);
  if (prepared.winograd.defined() && ctx.device() == Device::CPU) {
    check(prepared.winograd.numel() ==
              cpu::conv_transpose2d_winograd_weight_size(p.Cin, p.Cout, p.kh, p.kw),
          op, ": the prepared weight does not belong to a weight of shape ", weight.shape_str(),
          " (build it with conv_transpose2d_prepare)");
    p.winograd_weight = prepared.winograd.data();
  }

  Tensor out = ctx.empty(out_shape);
  const ProfileScope prof(ctx, op, {{"x", &x}, {"weight", &weight}, {"out", &out}});
  const float* res = ptr_or_null(epilogue.residual);
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::conv_transpose2d(ctx, p, x.data(), weight.data(), ptr_or_null(bias), res,
                                   out.data());
      else
        cpu::conv_transpose2d(ctx, p, x.data(), weight.data(), ptr_or_null(bias), res, out.data());
      break;
    case Device::CUDA:
      cuda::conv_transpose2d(ctx, p, x.data(), weight.data(), ptr_or_null(bias), res, out.data());
      break;
  }
  return out;
}

}  // namespace

Tensor conv_transpose2d(const Context& ctx, const Tensor& x, const Tensor& weight,
                        const Tensor& bias, Pair stride, Pair padding, Pair output_padding,
                        Pair dilation, const Epilogue& epilogue) {
  return conv_transpose2d(ctx, x, PreparedConvTranspose2dWeight{weight, Tensor()}, bias, stride,
                          padding, output_padding, dilation, epilogue);
}

PreparedConvTranspose2dWeight conv_transpose2d_prepare(const Context& ctx, const Tensor& weight) {
  check_input(ctx, "conv_transpose2d_prepare", "weight", weight, 4, "(Cin, Cout, kh, kw)");
  PreparedConvTranspose2dWeight prepared{weight, Tensor()};
  // On a bf16 context too: the blocks of a bf16 model that run in float use it (as
  // conv2d_prepare keeps the float Winograd form).
  if (ctx.device() != Device::CPU) return prepared;
  const int64_t Cin = weight.size(0), Cout = weight.size(1);
  const int64_t size =
      cpu::conv_transpose2d_winograd_weight_size(Cin, Cout, weight.size(2), weight.size(3));
  if (size > 0) {
    prepared.winograd = ctx.empty({size});
    cpu::conv_transpose2d_winograd_weight(Cin, Cout, weight.data(), prepared.winograd.data());
  }
  return prepared;
}

Tensor conv_transpose2d(const Context& ctx, const Tensor& x,
                        const PreparedConvTranspose2dWeight& prepared, const Tensor& bias,
                        Pair stride, Pair padding, Pair output_padding, Pair dilation,
                        const Epilogue& epilogue) {
  const char* op = "conv_transpose2d";
  const Tensor& weight = prepared.weight;
  check_conv_transpose(ctx, x, weight, stride, dilation);
  check_non_negative(op, "padding", padding.h);
  check_non_negative(op, "padding", padding.w);
  check_non_negative(op, "output_padding", output_padding.h);
  check_non_negative(op, "output_padding", output_padding.w);
  check(output_padding.h < stride.h || output_padding.h < dilation.h, op,
        ": output_padding must be smaller than stride or dilation, got output_padding.h=",
        output_padding.h);
  check(output_padding.w < stride.w || output_padding.w < dilation.w, op,
        ": output_padding must be smaller than stride or dilation, got output_padding.w=",
        output_padding.w);
  return conv_transpose2d_impl(ctx, x, prepared, bias, stride, Padding2d::symmetric(padding),
                               output_padding, dilation, epilogue);
}

Tensor conv_transpose2d(const Context& ctx, const Tensor& x, const Tensor& weight,
                        const Tensor& bias, Pair stride, Padding2d padding, Pair dilation,
                        const Epilogue& epilogue) {
  check_conv_transpose(ctx, x, weight, stride, dilation);
  check_padding("conv_transpose2d", padding);
  return conv_transpose2d_impl(ctx, x, PreparedConvTranspose2dWeight{weight, Tensor()}, bias,
                               stride, padding, 0, dilation, epilogue);
}

}  // namespace deblurcore
