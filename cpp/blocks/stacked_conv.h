// Several convolutions of the same input with the same geometry (kernel, stride, padding,
// dilation) computed as one convolution with their output channels stacked: the input is
// read once instead of once per conv (ASPDC's DeformConv runs its offset and mask predictors
// p_conv and m_conv this way). Output channels of a convolution are independent, so each
// result is the same as its own conv's.
#pragma once

#include <vector>

#include "deblurcore/ops.h"
#include "nn/layers.h"

namespace deblurcore {
namespace blocks {

class StackedConv2d {
 public:
  StackedConv2d() = default;
  // The convs must share in_channels, kernel size, stride, padding, dilation and have no
  // fused activation or residual.
  explicit StackedConv2d(const std::vector<const nn::Conv2d*>& convs);

  // {conv_0(x), conv_1(x), ...} for x (1, Cin, H, W); the results are views of one tensor.
  std::vector<Tensor> operator()(const Context& ctx, const Tensor& x) const;

 private:
  nn::Conv2d stacked_;
  std::vector<int64_t> out_channels_;
};

}  // namespace blocks
}  // namespace deblurcore
