// conv2d(cat(xs, 1), W, b) without the concat: the convolution of a channel concatenation is
// the sum of the convolutions of its parts with the matching input-channel slices of W, so
// it is computed as a running sum of partial convolutions, each added in the previous one's
// output stage (Epilogue residual, before the activation), with the bias in the first and
// the activation in the last. The concatenated input never exists, and a part can be added
// as soon as it is computed and released right after (RunningSum): ASPDC's dense_conv over
// its six stage outputs, STFAN's kconv4 over the filter groups of fac_warp; a U-Net merge
// conv too.
//
// Only the order of the float32 additions differs from one convolution over the concat
// (partial sums per part, then across parts): tests/cpp/test_blocks.cpp bounds the
// difference like any other reordering of a sum.
#pragma once

#include <functional>
#include <vector>

#include "deblurcore/ops.h"
#include "nn/layers.h"

namespace deblurcore {
namespace blocks {

class ConcatConv2d {
 public:
  ConcatConv2d() = default;
  // `conv` (with its fused activation, which must have no residual) reads the concat of
  // inputs with `input_channels[i]` channels each (summing to conv.in_channels()).
  ConcatConv2d(const nn::Conv2d& conv, const std::vector<int64_t>& input_channels);

  // act(conv(cat(xs)) + b) for inputs with input_channels[i] channels each.
  Tensor operator()(const Context& ctx, const std::vector<Tensor>& xs) const;

  // The same, one input at a time, in order; result() once all were added.
  class RunningSum {
   public:
    // Adds the next input's partial convolution.
    void add(const Tensor& x);
    // The convolution of the concat; all parts must have been added.
    Tensor result();
    // add() as a callable, for a producer that hands over its tensors one by one (e.g. the
    // FilterSink of fac_streamed); this running sum must outlive it.
    std::function<void(const Tensor&)> as_sink() {
      return [this](const Tensor& x) { add(x); };
    }

   private:
    friend class ConcatConv2d;
    RunningSum(const ConcatConv2d& conv, const Context& ctx) : conv_(&conv), ctx_(&ctx) {}
    const ConcatConv2d* conv_;
    const Context* ctx_;
    size_t added_ = 0;
    Tensor sum_;
  };
  // The context must outlive the running sum.
  RunningSum running_sum(const Context& ctx) const { return RunningSum(*this, ctx); }

  size_t parts() const { return weights_.size(); }

 private:
  std::vector<Tensor> weights_;  // (Cout, input_channels[i], kh, kw) each, contiguous
  Tensor bias_;
  int stride_ = 1, padding_ = 0, dilation_ = 1;
  Epilogue activation_;
};

}  // namespace blocks
}  // namespace deblurcore
