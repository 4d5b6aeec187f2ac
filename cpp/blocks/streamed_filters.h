// Per-pixel filter tensors that are never made whole.
//
// STFAN's fac_warp / fac_deblur and IFAN's F end with a 1x1 conv whose output is the filter
// tensor of an adaptive convolution: 128*25 = 3200 channels for FAC (737 MB at 720p), 896*N
// for IAC (877 MB at 720p for N = 17). The adaptive conv reads those channels in independent
// groups (FAC: channel c of its input reads filter channels [25c, 25c + 25); IAC: iteration i
// reads its own F1_i and b_i rows), and a 1x1 conv's output channels are independent of each
// other, so the last conv is split by output channels at load time (StreamedConv1x1) and each
// group of filters is computed right before the adaptive conv consumes it, then freed. The
// result is the same computation as the whole conv followed by the whole adaptive conv.
//
// StreamedFilters is what the official code holds as one tensor (`kernel_warp =
// self.fac_warp(kconv3)`): the features before the last conv, bound to that conv. Consumers:
// fac_streamed and iac_streamed (blocks/adaptive_conv_streamed.h).
#pragma once

#include <utility>
#include <vector>

#include "deblurcore/ops.h"
#include "nn/layers.h"

namespace deblurcore {
namespace blocks {

class StreamedConv1x1 {
 public:
  using RowRange = std::pair<int64_t, int64_t>;  // output channels [first, second)

  StreamedConv1x1() = default;
  // `conv` is a 1x1 conv (stride 1, no padding; with its fused activation, no residual).
  // Group g computes the output channels of group_rows[g], its ranges one after the other;
  // channels that no group lists are never computed.
  StreamedConv1x1(const nn::Conv2d& conv, const std::vector<std::vector<RowRange>>& group_rows);
  // Consecutive groups of `rows_per_group` output channels covering all of them.
  static StreamedConv1x1 in_groups_of(const nn::Conv2d& conv, int64_t rows_per_group);

  size_t groups() const { return parts_.size(); }
  // The output channels of group g for `features` (N, Cin, H, W).
  Tensor group(const Context& ctx, const Tensor& features, size_t g) const;

 private:
  std::vector<nn::Conv2d> parts_;
};

// The filters `last_conv(features)`, available one group at a time.
class StreamedFilters {
 public:
  StreamedFilters(const StreamedConv1x1& last_conv, Tensor features)
      : last_conv_(&last_conv), features_(std::move(features)) {}

  size_t groups() const { return last_conv_->groups(); }
  Tensor group(const Context& ctx, size_t g) const { return last_conv_->group(ctx, features_, g); }

 private:
  const StreamedConv1x1* last_conv_;
  Tensor features_;
};

}  // namespace blocks
}  // namespace deblurcore
