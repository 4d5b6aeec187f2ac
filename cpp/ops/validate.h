// Argument checks shared by the op front ends. Messages name the op and the argument.
#pragma once

#include <string>
#include <utility>

#include "deblurcore/context.h"
#include "deblurcore/error.h"
#include "deblurcore/ops.h"
#include "deblurcore/tensor.h"
#include "op_params.h"

namespace deblurcore {

// `t` must be defined, on ctx's device and have `ndim` dimensions described by `layout`
// (e.g. "(N, C, H, W)"), every one of them non-zero.
inline void check_input(const Context& ctx, const char* op, const char* name, const Tensor& t,
                        int ndim, const char* layout) {
  check<TypeError>(t.defined(), op, ": ", name, " is required");
  check<TypeError>(t.device() == ctx.device(), op, ": ", name, " is on device '",
                   device_name(t.device()), "' but the context runs on '",
                   device_name(ctx.device()), "'");
  check(t.dim() == ndim, op, ": ", name, " must be ", ndim, "-D ", layout, ", got shape ",
        t.shape_str());
  for (int d = 0; d < ndim; ++d)
    check(t.size(d) > 0, op, ": ", name, " must have no empty dimension, got shape ",
          t.shape_str());
}

// Like check_input, for tensors of any rank (elementwise ops); empty tensors are allowed.
inline void check_any(const Context& ctx, const char* op, const char* name, const Tensor& t) {
  check<TypeError>(t.defined(), op, ": ", name, " is required");
  check<TypeError>(t.device() == ctx.device(), op, ": ", name, " is on device '",
                   device_name(t.device()), "' but the context runs on '",
                   device_name(ctx.device()), "'");
}

inline void check_same_shape(const char* op, const char* name, const Tensor& t,
                             const char* ref_name, const Shape& ref) {
  check(t.shape() == ref, op, ": ", name, " must have the shape of ", ref_name, " ", shape_str(ref),
        ", got ", t.shape_str());
}

inline void check_positive(const char* op, const char* name, int value) {
  check(value > 0, op, ": ", name, " must be positive, got ", value);
}

inline void check_non_negative(const char* op, const char* name, int value) {
  check(value >= 0, op, ": ", name, " must be non-negative, got ", value);
}

// The validated output stage of a convolution-like op with output `out_shape` (N, Cout, H, W):
// its residual must have that shape, its scale and shift (N, Cout).
inline EpilogueParams epilogue_params(const Context& ctx, const char* op, const Epilogue& e,
                                      const Shape& out_shape) {
  if (e.residual.defined()) {
    check_any(ctx, op, "epilogue.residual", e.residual);
    check_same_shape(op, "epilogue.residual", e.residual, "the output", out_shape);
  }
  const Shape affine_shape{out_shape[0], out_shape[1]};
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"epilogue.scale", &e.scale},
                                {"epilogue.shift", &e.shift}}) {
    if (!t->defined()) continue;
    check_any(ctx, op, name, *t);
    check(t->shape() == affine_shape, op, ": ", name,
          " must have shape (N, Cout) = ", shape_str(affine_shape), ", got ", t->shape_str());
  }
  check(e.activation == Activation::None || e.activation == Activation::ReLU ||
            e.activation == Activation::LeakyReLU,
        op, ": unknown epilogue activation ", static_cast<int>(e.activation));
  EpilogueParams p;
  p.activation = e.activation;
  p.negative_slope = e.activation == Activation::LeakyReLU ? e.negative_slope : 0.f;
  p.residual_before_activation = e.residual_position == Epilogue::Residual::BeforeActivation;
  p.scale = e.scale.defined() ? e.scale.data() : nullptr;
  p.shift = e.shift.defined() ? e.shift.data() : nullptr;
  return p;
}

// An optional bias must be (cout,).
inline void check_bias(const Context& ctx, const char* op, const Tensor& bias, int64_t cout) {
  if (!bias.defined()) return;
  check_any(ctx, op, "bias", bias);
  check(bias.dim() == 1 && bias.size(0) == cout, op, ": bias must have shape (", cout,
        ",) to match the weight's output channels, got ", bias.shape_str());
}

// Output size of a convolution-like op over x (N, Cin, H, W) with weight (Cout, Cin, kh, kw),
// after checking what conv2d and deform_conv2d share: stride and dilation >= 1, padding >= 0,
// the weight's input channels equal to x's, and a padded input no smaller than the dilated
// kernel (which would give an empty output). `channel_note` is appended to the channel message.
struct ConvOutputSize {
  int64_t h, w;
};
inline void check_padding(const char* op, const Padding2d& padding) {
  check(padding.top >= 0 && padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0, op,
        ": padding must be non-negative, got (top, bottom, left, right) = (", padding.top, ", ",
        padding.bottom, ", ", padding.left, ", ", padding.right, ")");
}

inline ConvOutputSize conv_output_size(const char* op, const Tensor& x, const Tensor& weight,
                                       Pair stride, const Padding2d& padding, Pair dilation,
                                       const char* channel_note = "") {
  check_positive(op, "stride", stride.h);
  check_positive(op, "stride", stride.w);
  check_positive(op, "dilation", dilation.h);
  check_positive(op, "dilation", dilation.w);
  check_padding(op, padding);
  check(weight.size(1) == x.size(1), op, ": weight has ", weight.size(1), " input channels (shape ",
        weight.shape_str(), ") but x has ", x.size(1), " channels (shape ", x.shape_str(), ")",
        channel_note);
  const int64_t span_h = int64_t(dilation.h) * (weight.size(2) - 1) + 1;
  const int64_t span_w = int64_t(dilation.w) * (weight.size(3) - 1) + 1;
  const int64_t padded_h = x.size(2) + int64_t(padding.top) + padding.bottom;
  const int64_t padded_w = x.size(3) + int64_t(padding.left) + padding.right;
  // The kernels work on the padded input; a padding or dilation far beyond any image (e.g.
  // 65536) would need a working buffer of tens of gigabytes for a tiny output.
  constexpr int64_t kMaxPaddedPlane = int64_t(1) << 31;
  check(padded_h <= kMaxPaddedPlane / padded_w, op, ": the padded input plane (", padded_h, "x",
        padded_w, ") exceeds ", kMaxPaddedPlane, " elements; padding (", padding.top, ", ",
        padding.bottom, ", ", padding.left, ", ", padding.right, ") and dilation (", dilation.h,
        ", ", dilation.w, ") are too large for this input");
  check(padded_h >= span_h && padded_w >= span_w, op, ": the padded input (", padded_h, "x",
        padded_w, ") is smaller than the dilated kernel (", span_h, "x", span_w,
        "), which would give an empty output");
  return {(padded_h - span_h) / stride.h + 1, (padded_w - span_w) / stride.w + 1};
}

// The data pointer of an optional tensor, or null.
inline const float* ptr_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

}  // namespace deblurcore
