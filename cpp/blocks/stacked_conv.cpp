#include "blocks/stacked_conv.h"

#include <cstring>

#include "deblurcore/error.h"

namespace deblurcore {
namespace blocks {

StackedConv2d::StackedConv2d(const std::vector<const nn::Conv2d*>& convs) {
  check(!convs.empty(), "StackedConv2d: no convs");
  const nn::Conv2d& first = *convs[0];
  const Shape& s0 = first.weight.shape();
  int64_t rows = 0;
  for (const nn::Conv2d* c : convs) {
    const Shape& s = c->weight.shape();
    check(s[1] == s0[1] && s[2] == s0[2] && s[3] == s0[3] && c->stride == first.stride &&
              c->padding == first.padding && c->dilation == first.dilation,
          "StackedConv2d: the convs must have the same input channels and geometry, got weights ",
          first.weight.shape_str(), " and ", c->weight.shape_str());
    check(c->activation.activation == Activation::None && !c->activation.residual.defined(),
          "StackedConv2d: the convs must have no fused activation or residual");
    out_channels_.push_back(s[0]);
    rows += s[0];
  }
  // Weights (and biases) one conv after the other along the output channels, on the host.
  const int64_t per_row = s0[1] * s0[2] * s0[3];
  Tensor w = Tensor::empty({rows, s0[1], s0[2], s0[3]}), b = Tensor::empty({rows});
  int64_t r = 0;
  for (const nn::Conv2d* c : convs) {
    const Tensor hw = c->weight.to(Device::CPU), hb = c->bias.to(Device::CPU);
    std::memcpy(w.data() + r * per_row, hw.data(), sizeof(float) * hw.numel());
    std::memcpy(b.data() + r, hb.data(), sizeof(float) * hb.numel());
    r += c->weight.size(0);
  }
  stacked_ = first;
  stacked_.weight = w.to(first.weight.device());
  stacked_.bias = b.to(first.bias.device());
}

std::vector<Tensor> StackedConv2d::operator()(const Context& ctx, const Tensor& x) const {
  check(x.defined() && x.dim() == 4 && x.size(0) == 1,
        "StackedConv2d: x must be (1, C, H, W), got ",
        x.defined() ? x.shape_str() : std::string("none"));
  const Tensor y = stacked_(ctx, x);
  const int64_t H = y.size(2), W = y.size(3);
  const Tensor planes = y.reshape({y.size(1), H, W});
  std::vector<Tensor> out;
  int64_t c0 = 0;
  for (int64_t c : out_channels_) {
    out.push_back(planes.slice0(c0, c0 + c).reshape({1, c, H, W}));
    c0 += c;
  }
  return out;
}

}  // namespace blocks
}  // namespace deblurcore
