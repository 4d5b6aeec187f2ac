#include "nn/layers.h"

#include "deblurcore/error.h"

namespace deblurcore {
namespace nn {

Epilogue Plus::after(const Epilogue& act) const {
  check(!act.residual.defined(), "a layer with a fused residual cannot take another one");
  Epilogue e = act;
  e.residual = residual;
  if (then_leaky_relu) {
    check(act.activation == Activation::None,
          "leaky_relu(layer(x) + residual) needs a layer without its own activation");
    e.activation = Activation::LeakyReLU;
    e.negative_slope = *then_leaky_relu;
    e.residual_position = Epilogue::Residual::BeforeActivation;
  }
  return e;
}

Sequential& Sequential::add(LeakyReLU act) {
  ++size_;
  Epilogue* slot = last_conv_ ? last_conv_() : nullptr;
  if (slot && slot->activation == Activation::None && !slot->residual.defined()) {
    *slot = Epilogue::leaky_relu(act.negative_slope);  // conv then LeakyReLU: one pass
  } else {
    entries_.push_back(generic_entry(act));
  }
  last_conv_ = {};
  return *this;
}

Tensor Sequential::run(const Context& ctx, const Tensor& x, const Plus* p) const {
  check(!entries_.empty(), "Sequential", scope_ ? " '" + scope_->path() + "'" : std::string(),
        " has no children");
  Tensor y = x;
  for (size_t i = 0; i < entries_.size(); ++i)
    y = entries_[i](ctx, y, i + 1 == entries_.size() ? p : nullptr);
  return y;
}

}  // namespace nn
}  // namespace deblurcore
