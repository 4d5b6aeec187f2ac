// Front end of conv2d: validate, derive the output shape, dispatch. The symmetric-padding
// overload forwards to the per-side one; the backends receive only the padding before the first
// row / column (ph, pw) and the output size computed here.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor conv2d(const Context& ctx, const Tensor& x, const Tensor& weight, const Tensor& bias,
              Pair stride, Pair padding, Pair dilation, const Epilogue& epilogue) {
  check_non_negative("conv2d", "padding", padding.h);
  check_non_negative("conv2d", "padding", padding.w);
  return conv2d(ctx, x, weight, bias, stride, Padding2d::symmetric(padding), dilation, epilogue);
}

Tensor conv2d(const Context& ctx, const Tensor& x, const Tensor& weight, const Tensor& bias,
              Pair stride, Padding2d padding, Pair dilation, const Epilogue& epilogue) {
  return conv2d(ctx, x, PreparedConv2dWeight{weight, Tensor(), Tensor(), Tensor(), Tensor()}, bias,
                stride, padding, dilation, epilogue);
}

PreparedConv2dWeight conv2d_prepare(const Context& ctx, const Tensor& weight) {
  check_input(ctx, "conv2d_prepare", "weight", weight, 4, "(Cout, Cin, kh, kw)");
  PreparedConv2dWeight prepared{weight, Tensor(), Tensor(), Tensor(), Tensor()};
  if (ctx.device() != Device::CPU) return prepared;
  // The forms this context runs (the models prepare each block's layers with the context the
  // block runs with, models/precision_policy.h): float Winograd F(4x4, 3x3), and F(6x6, 3x3)
  // too with winograd_tile() 6 (F(4x4, 3x3) still runs the sizes it does not take); or the
  // bf16 forms.
  const int64_t Cout = weight.size(0), Cin = weight.size(1), kh = weight.size(2),
                kw = weight.size(3);
  const bool fp32 = ctx.precision() == Precision::FP32;
  const int64_t size = fp32 ? cpu::conv2d_winograd_weight_size(Cout, Cin, kh, kw) : 0;
  if (size > 0) {
    prepared.winograd = ctx.empty({size});
    cpu::conv2d_winograd_weight(Cout, Cin, weight.data(), prepared.winograd.data());
  }
  const int64_t size6 =
      fp32 && ctx.winograd_tile() == 6 ? cpu::conv2d_winograd6_weight_size(Cout, Cin, kh, kw) : 0;
  if (size6 > 0) {
    prepared.winograd6 = ctx.empty({size6});
    cpu::conv2d_winograd6_weight(Cout, Cin, weight.data(), prepared.winograd6.data());
  }
  if (ctx.precision() == Precision::BF16) {
    const int64_t packed = cpu::conv2d_bf16_weight_size(Cout, Cin, kh, kw);
    if (packed > 0) {
      prepared.bf16 = ctx.empty({packed});
      cpu::conv2d_bf16_weight(Cout, Cin, kh, kw, weight.data(), prepared.bf16.data());
    }
    const int64_t wino = cpu::conv2d_winograd_bf16_weight_size(Cout, Cin, kh, kw);
    if (wino > 0) {
      prepared.winograd_bf16 = ctx.empty({wino});
      cpu::conv2d_winograd_bf16_weight(Cout, Cin, weight.data(), prepared.winograd_bf16.data());
    }
  }
  return prepared;
}

Tensor conv2d(const Context& ctx, const Tensor& x, const PreparedConv2dWeight& prepared,
              const Tensor& bias, Pair stride, Pair padding, Pair dilation,
              const Epilogue& epilogue) {
  check_non_negative("conv2d", "padding", padding.h);
  check_non_negative("conv2d", "padding", padding.w);
  return conv2d(ctx, x, prepared, bias, stride, Padding2d::symmetric(padding), dilation, epilogue);
}

Tensor conv2d(const Context& ctx, const Tensor& x, const PreparedConv2dWeight& prepared,
              const Tensor& bias, Pair stride, Padding2d padding, Pair dilation,
              const Epilogue& epilogue) {
  const char* op = "conv2d";
  const Tensor& weight = prepared.weight;
  check_input(ctx, op, "x", x, 4, "(N, Cin, H, W)");
  check_input(ctx, op, "weight", weight, 4, "(Cout, Cin, kh, kw)");
  const ConvOutputSize size = conv_output_size(op, x, weight, stride, padding, dilation);
  check_bias(ctx, op, bias, weight.size(0));

  Conv2dParams p{};
  p.N = x.size(0), p.Cin = x.size(1), p.H = x.size(2), p.W = x.size(3);
  p.Cout = weight.size(0), p.kh = weight.size(2), p.kw = weight.size(3);
  p.sh = stride.h, p.sw = stride.w, p.ph = padding.top, p.pw = padding.left;
  p.dh = dilation.h, p.dw = dilation.w;
  p.Hout = size.h, p.Wout = size.w;
  const Shape out_shape{p.N, p.Cout, p.Hout, p.Wout};
  p.epilogue = epilogue_params(ctx, op, epilogue, out_shape);

  if (prepared.winograd.defined() && ctx.device() == Device::CPU) {
    check(prepared.winograd.numel() == cpu::conv2d_winograd_weight_size(p.Cout, p.Cin, p.kh, p.kw),
          "conv2d: the prepared weight does not belong to a weight of shape ", weight.shape_str(),
          " (build it with conv2d_prepare on a CPU context)");
    p.winograd_weight = prepared.winograd.data();
  }
  if (prepared.winograd6.defined() && ctx.device() == Device::CPU) {
    check(
        prepared.winograd6.numel() == cpu::conv2d_winograd6_weight_size(p.Cout, p.Cin, p.kh, p.kw),
        "conv2d: the prepared F(6x6, 3x3) weight does not belong to a weight of shape ",
        weight.shape_str(), " (build it with conv2d_prepare on a CPU context)");
    p.winograd6_weight = prepared.winograd6.data();
  }
  if (ctx.device() == Device::CPU && ctx.precision() == Precision::BF16) {
    if (prepared.bf16.defined()) {
      check(prepared.bf16.numel() == cpu::conv2d_bf16_weight_size(p.Cout, p.Cin, p.kh, p.kw),
            "conv2d: the prepared bf16 weight does not belong to a weight of shape ",
            weight.shape_str(), " (build it with conv2d_prepare on a bf16 CPU context)");
      p.bf16_packed_weight = prepared.bf16.data();
    }
    if (prepared.winograd_bf16.defined()) {
      check(prepared.winograd_bf16.numel() ==
                cpu::conv2d_winograd_bf16_weight_size(p.Cout, p.Cin, p.kh, p.kw),
            "conv2d: the prepared bf16 Winograd weight does not belong to a weight of shape ",
            weight.shape_str(), " (build it with conv2d_prepare on a bf16 CPU context)");
      p.winograd_bf16_weight = prepared.winograd_bf16.data();
    }
  }

  Tensor out = ctx.empty(out_shape);
  const ProfileScope prof(ctx, op, {{"x", &x}, {"weight", &weight}, {"out", &out}});
  const float* res = ptr_or_null(epilogue.residual);
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::conv2d(ctx, p, x.data(), weight.data(), ptr_or_null(bias), res, out.data());
      else
        cpu::conv2d(ctx, p, x.data(), weight.data(), ptr_or_null(bias), res, out.data());
      break;
    case Device::CUDA:
      cuda::conv2d(ctx, p, x.data(), weight.data(), ptr_or_null(bias), res, out.data());
      break;
  }
  return out;
}

}  // namespace deblurcore
