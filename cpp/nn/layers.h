// nn-like layers for the models, each loaded from its official state_dict path (a Scope) and
// run through the public op API: Conv2d, ConvTranspose2d (with output_padding), Linear,
// LeakyReLU and a Sequential that indexes its children like nn.Sequential.
//
// A LeakyReLU that follows a convolution in a Sequential is fused into the convolution's
// output stage (Epilogue), as is a "+ residual" after a module (`plus(t)`): the result is
// the same as the separate ops (the activation is elementwise and the sum is one rounding),
// without another pass over memory.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "deblurcore/ops.h"
#include "nn/scope.h"

namespace deblurcore {
namespace nn {

// `t` handed over to the expression it is passed to: the variable is emptied, so the tensor
// is released when that expression has used it. The official forward keeps every Python
// local until it returns; the models release their large intermediates after their last use
// instead, to keep the peak memory down.
inline Tensor last_use(Tensor& t) {
  Tensor out = t;
  t = Tensor();
  return out;
}

// layer_n(...(layer_2(layer_1(x)))) with each intermediate released as soon as the next layer
// has returned. Written as one nested call, every temporary lives to the end of the
// statement: one more map than needed while the last layer runs (118 MB for a 32-channel map
// at 720p). Pass x with last_use() when the caller does not need it any more.
template <class... Layers>
Tensor chain(const Context& ctx, Tensor x, const Layers&... layers) {
  ((x = layers(ctx, x)), ...);
  return x;
}

// "module(x) + residual", passed as the last argument of a layer call; with
// then_leaky_relu, "leaky_relu(module(x) + residual, slope)" (IFAN's ResnetBlock).
struct Plus {
  Tensor residual;
  std::optional<float> then_leaky_relu;

  // The output stage of a convolution whose own activation is `act`, followed by this sum.
  Epilogue after(const Epilogue& act) const;
};
inline Plus plus(const Tensor& residual) { return {residual, std::nullopt}; }
inline Plus plus_then_leaky_relu(const Tensor& residual, float slope) { return {residual, slope}; }

// nn.LeakyReLU(negative_slope).
struct LeakyReLU {
  float negative_slope = 0.01f;
  Tensor operator()(const Context& ctx, const Tensor& x) const {
    return leaky_relu(ctx, x, negative_slope);
  }
};

// nn.Conv2d(cin, cout, k, stride, padding, dilation, bias=True): `<path>.weight` (cout, cin,
// k, k) and `<path>.bias` (cout). `activation` is an activation fused after it (None unless
// a Sequential fused the LeakyReLU that follows it).
//
// The weight is prepared once at load (conv2d_prepare: the transformed weights of the
// Winograd algorithm where the CPU conv2d may use it); a weight replaced afterwards is used as
// it is.
struct Conv2d {
  Tensor weight, bias;
  int stride = 1, padding = 0, dilation = 1;
  Epilogue activation;
  PreparedConv2dWeight prepared;

  Conv2d() = default;
  Conv2d(const Scope& s, int64_t cin, int64_t cout, int k, int stride_ = 1, int padding_ = 0,
         int dilation_ = 1)
      : weight(s.get("weight", {cout, cin, k, k})),
        bias(s.get("bias", {cout})),
        stride(stride_),
        padding(padding_),
        dilation(dilation_),
        prepared(conv2d_prepare(s.context(), weight)) {}

  int64_t in_channels() const { return weight.size(1); }
  int64_t out_channels() const { return weight.size(0); }

  Tensor operator()(const Context& ctx, const Tensor& x) const {
    return conv2d(ctx, x, prepared_weight(), bias, stride, padding, dilation, activation);
  }
  // act(conv(x)) + p.residual, in one pass.
  Tensor operator()(const Context& ctx, const Tensor& x, const Plus& p) const {
    return conv2d(ctx, x, prepared_weight(), bias, stride, padding, dilation, p.after(activation));
  }

 private:
  // `prepared` while it still belongs to `weight`.
  PreparedConv2dWeight prepared_weight() const {
    if (prepared.weight.data() == weight.data() && prepared.weight.shape() == weight.shape())
      return prepared;
    return {weight, Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

// nn.ConvTranspose2d(cin, cout, k, stride, padding, output_padding, bias=True): weight (cin,
// cout, k, k) as in PyTorch. Prepared once at load like Conv2d (conv_transpose2d_prepare).
struct ConvTranspose2d {
  Tensor weight, bias;
  int stride = 1, padding = 0, output_padding = 0;
  Epilogue activation;
  PreparedConvTranspose2dWeight prepared;

  ConvTranspose2d() = default;
  ConvTranspose2d(const Scope& s, int64_t cin, int64_t cout, int k, int stride_ = 1,
                  int padding_ = 0, int output_padding_ = 0)
      : weight(s.get("weight", {cin, cout, k, k})),
        bias(s.get("bias", {cout})),
        stride(stride_),
        padding(padding_),
        output_padding(output_padding_),
        prepared(conv_transpose2d_prepare(s.context(), weight)) {}

  Tensor operator()(const Context& ctx, const Tensor& x) const {
    return conv_transpose2d(ctx, x, prepared_weight(), bias, stride, padding, output_padding, 1,
                            activation);
  }
  Tensor operator()(const Context& ctx, const Tensor& x, const Plus& p) const {
    return conv_transpose2d(ctx, x, prepared_weight(), bias, stride, padding, output_padding, 1,
                            p.after(activation));
  }

 private:
  // `prepared` while it still belongs to `weight`.
  PreparedConvTranspose2dWeight prepared_weight() const {
    if (prepared.weight.data() == weight.data() && prepared.weight.shape() == weight.shape())
      return prepared;
    return {weight, Tensor()};
  }
};

// nn.Linear(in, out, bias=True): `<path>.weight` (out, in) and `<path>.bias` (out) (a Keras
// Dense, whose kernel (in, out) the converter transposes to this layout). `activation` is an
// activation fused after it.
struct Linear {
  Tensor weight, bias;
  Activation activation = Activation::None;

  Linear() = default;
  Linear(const Scope& s, int64_t in, int64_t out)
      : weight(s.get("weight", {out, in})), bias(s.get("bias", {out})) {}

  Tensor operator()(const Context& ctx, const Tensor& x) const {
    return linear(ctx, x, weight, bias, activation);
  }
};

// nn.Sequential: children named 0, 1, 2, ... in the order they are added, each loaded from
// `<path>.<index>`. add<M>(args...) constructs M(scope[index], args...); add(LeakyReLU)
// takes an index too (it has no parameters) and is fused into a preceding convolution.
class Sequential {
 public:
  Sequential() = default;
  explicit Sequential(const Scope& s) : scope_(s) {}

  template <typename M, typename... Args>
  Sequential& add(Args&&... args) {
    M module((*scope_)[size_], std::forward<Args>(args)...);
    ++size_;
    if constexpr (std::is_same_v<M, Conv2d> || std::is_same_v<M, ConvTranspose2d>) {
      last_conv_ = conv_entry(std::move(module));
    } else {
      last_conv_ = {};
      entries_.push_back(generic_entry(std::move(module)));
    }
    return *this;
  }
  Sequential& add(LeakyReLU act);

  // Number of children (as len() of the official Sequential).
  int size() const { return size_; }

  Tensor operator()(const Context& ctx, const Tensor& x) const { return run(ctx, x, nullptr); }
  // self(x) + p.residual; fused into the last child when it is a convolution.
  Tensor operator()(const Context& ctx, const Tensor& x, const Plus& p) const {
    return run(ctx, x, &p);
  }

 private:
  // A child: runs on x, adding *plus (when given) to its output.
  using Entry = std::function<Tensor(const Context&, const Tensor&, const Plus*)>;
  // Where the activation of the last child is, when it is a convolution (else empty).
  using ActivationSlot = std::function<Epilogue*()>;

  template <typename Conv>
  ActivationSlot conv_entry(Conv conv) {
    auto shared = std::make_shared<Conv>(std::move(conv));
    entries_.push_back([shared](const Context& ctx, const Tensor& x, const Plus* p) {
      return p ? (*shared)(ctx, x, *p) : (*shared)(ctx, x);
    });
    return [shared] { return &shared->activation; };
  }

  template <typename M>
  static Entry generic_entry(M module) {
    return [m = std::move(module)](const Context& ctx, const Tensor& x, const Plus* p) {
      if constexpr (std::is_invocable_r_v<Tensor, const M&, const Context&, const Tensor&,
                                          const Plus&>) {
        return p ? m(ctx, x, *p) : m(ctx, x);
      } else {
        Tensor y = m(ctx, x);
        if (!p) return y;
        y = deblurcore::add(ctx, y, p->residual);
        return p->then_leaky_relu ? leaky_relu(ctx, y, *p->then_leaky_relu) : y;
      }
    };
  }

  Tensor run(const Context& ctx, const Tensor& x, const Plus* p) const;

  std::optional<Scope> scope_;  // used while loading only
  int size_ = 0;
  std::vector<Entry> entries_;
  ActivationSlot last_conv_;
};

}  // namespace nn
}  // namespace deblurcore
