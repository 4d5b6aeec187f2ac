// Building blocks shared by the models: a convolution and a transposed convolution with
// their weights, loaded by official state_dict key and run through the op API.
#pragma once

#include <string>

#include "deblurcore/ops.h"
#include "deblurcore/weights.h"

namespace deblurcore {

// nn.Conv2d(cin, cout, k, stride, padding, dilation, bias=True); keys `<prefix>.weight/.bias`.
struct Conv2d {
  Tensor weight, bias;
  int stride = 1, padding = 0, dilation = 1;

  static Conv2d load(Weights& w, const std::string& prefix, int64_t cin, int64_t cout, int k,
                     int stride = 1, int padding = -1, int dilation = 1) {
    Conv2d c;
    c.weight = w.get(prefix + ".weight", {cout, cin, k, k});
    c.bias = w.get(prefix + ".bias", {cout});
    c.stride = stride;
    c.padding = padding >= 0 ? padding : dilation * (k - 1) / 2;
    c.dilation = dilation;
    return c;
  }

  Tensor operator()(const Context& ctx, const Tensor& x, const Epilogue& e = {}) const {
    return conv2d(ctx, x, weight, bias, stride, padding, dilation, e);
  }
};

// nn.ConvTranspose2d(cin, cout, k, stride, padding, bias=True); weight (cin, cout, k, k).
struct ConvTranspose2d {
  Tensor weight, bias;
  int stride = 1, padding = 0;

  static ConvTranspose2d load(Weights& w, const std::string& prefix, int64_t cin, int64_t cout,
                              int k, int stride, int padding) {
    ConvTranspose2d c;
    c.weight = w.get(prefix + ".weight", {cin, cout, k, k});
    c.bias = w.get(prefix + ".bias", {cout});
    c.stride = stride;
    c.padding = padding;
    return c;
  }

  Tensor operator()(const Context& ctx, const Tensor& x, const Epilogue& e = {}) const {
    return conv_transpose2d(ctx, x, weight, bias, stride, padding, 0, 1, e);
  }
};

// `conv(cin, cout, k, stride)` of the STFAN and IFAN code: Sequential(Conv2d with padding
// (k-1)/2, LeakyReLU(0.1)), so its keys are `<name>.0.weight/.bias`.
struct ConvLrelu {
  static constexpr float kSlope = 0.1f;
  Conv2d conv;

  static ConvLrelu load(Weights& w, const std::string& name, int64_t cin, int64_t cout, int k = 3,
                        int stride = 1) {
    return {Conv2d::load(w, name + ".0", cin, cout, k, stride)};
  }
  Tensor operator()(const Context& ctx, const Tensor& x) const {
    return conv(ctx, x, Epilogue::leaky_relu(kSlope));
  }
};

}  // namespace deblurcore
