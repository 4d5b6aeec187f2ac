// Argument checks shared by the op front ends. Messages name the op and the argument.
#pragma once

#include <string>

#include "deblurcore/context.h"
#include "deblurcore/ops.h"
#include "op_params.h"
#include "deblurcore/error.h"
#include "deblurcore/tensor.h"

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
  check(t.shape() == ref, op, ": ", name, " must have the shape of ", ref_name, " ",
        shape_str(ref), ", got ", t.shape_str());
}

inline void check_positive(const char* op, const char* name, int value) {
  check(value > 0, op, ": ", name, " must be positive, got ", value);
}

inline void check_non_negative(const char* op, const char* name, int value) {
  check(value >= 0, op, ": ", name, " must be non-negative, got ", value);
}

// The validated output stage of a convolution-like op (its residual must have `out_shape`).
inline EpilogueParams epilogue_params(const Context& ctx, const char* op, const Epilogue& e,
                                      const Shape& out_shape) {
  if (e.residual.defined()) {
    check_any(ctx, op, "epilogue.residual", e.residual);
    check_same_shape(op, "epilogue.residual", e.residual, "the output", out_shape);
  }
  check(e.activation == Activation::None || e.activation == Activation::ReLU ||
            e.activation == Activation::LeakyReLU,
        op, ": unknown epilogue activation ", static_cast<int>(e.activation));
  EpilogueParams p;
  p.activation = e.activation;
  p.negative_slope = e.activation == Activation::LeakyReLU ? e.negative_slope : 0.f;
  p.residual_before_activation = e.residual_position == Epilogue::Residual::BeforeActivation;
  return p;
}

// An optional bias must be (cout,).
inline void check_bias(const Context& ctx, const char* op, const Tensor& bias, int64_t cout) {
  if (!bias.defined()) return;
  check_any(ctx, op, "bias", bias);
  check(bias.dim() == 1 && bias.size(0) == cout, op, ": bias must have shape (", cout,
        ",) to match the weight's output channels, got ", bias.shape_str());
}

// The data pointer of an optional tensor, or null.
inline const float* ptr_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

}  // namespace deblurcore
