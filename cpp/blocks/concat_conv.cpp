#include "blocks/concat_conv.h"

#include <string>

#include "blocks/host_slices.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace blocks {

ConcatConv2d::ConcatConv2d(const nn::Conv2d& conv, const std::vector<int64_t>& input_channels)
    : bias_(conv.bias),
      stride_(conv.stride),
      padding_(conv.padding),
      dilation_(conv.dilation),
      activation_(conv.activation) {
  check(!input_channels.empty(), "ConcatConv2d: input_channels must not be empty");
  check(!conv.activation.residual.defined(),
        "ConcatConv2d: the conv's epilogue must not have a residual");
  int64_t total = 0;
  for (int64_t c : input_channels) {
    check(c > 0, "ConcatConv2d: input_channels must be positive, got ", c);
    total += c;
  }
  check(total == conv.in_channels(), "ConcatConv2d: input_channels sum to ", total,
        " but the conv reads ", conv.in_channels(), " channels");
  int64_t begin = 0;
  for (int64_t c : input_channels) {
    weights_.push_back(slice_dim1(conv.weight, begin, begin + c));
    begin += c;
  }
}

Tensor ConcatConv2d::operator()(const Context& ctx, const std::vector<Tensor>& xs) const {
  check(xs.size() == weights_.size(), "ConcatConv2d: expected ", weights_.size(), " inputs, got ",
        xs.size());
  RunningSum sum = running_sum(ctx);
  for (const Tensor& x : xs) sum.add(x);
  return sum.result();
}

void ConcatConv2d::RunningSum::add(const Tensor& x) {
  const ConcatConv2d& c = *conv_;
  check(added_ < c.weights_.size(), "ConcatConv2d: all ", c.weights_.size(),
        " inputs were already added");
  check(x.defined() && x.dim() == 4 && x.size(1) == c.weights_[added_].size(1),
        "ConcatConv2d: input ", added_, " must be (N, ", c.weights_[added_].size(1),
        ", H, W), got ", x.defined() ? x.shape_str() : std::string("none"));
  const bool first = added_ == 0, last = added_ + 1 == c.weights_.size();
  Epilogue e = last ? c.activation_ : Epilogue{};
  if (!first) {
    e.residual = sum_;
    e.residual_position = Epilogue::Residual::BeforeActivation;
  }
  sum_ = conv2d(*ctx_, x, c.weights_[added_], first ? c.bias_ : Tensor(), c.stride_, c.padding_,
                c.dilation_, e);
  ++added_;
}

Tensor ConcatConv2d::RunningSum::result() {
  check(added_ == conv_->weights_.size(), "ConcatConv2d: ", added_, " of ", conv_->weights_.size(),
        " inputs were added");
  return sum_;
}

}  // namespace blocks
}  // namespace deblurcore
