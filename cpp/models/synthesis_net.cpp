// SynthesisNN of the Analysis-Synthesis pair: a 4-level U-Net of 128 channels whose every 3x3
// conv is "guided" by the flattened blur kernel (per-channel scale and shift from a small MLP
// per block). Reads beside nns/synthesis_nn.py (SynthesisNN.build, conv_block,
// guided_operation) of the official code; spec analysis_synthesis.md §4.
//
// Memory: at 1280x720 one 128-channel map is 472 MB. Maps are released as soon as they are
// dead, the guided convs run in one pass (conv + epilogue scale/shift/relu), and the decoder's
// 1x1 merge conv over concat[up, skip(s)] runs as two 1x1 convs over the halves of its
// weight, the second adding the first (residual epilogue): the 256-channel concat never exists.
#include <string>

#include "deblurcore/error.h"
#include "models/analysis_synthesis_nets.h"

namespace deblurcore {
namespace analysis_synthesis {

namespace {

constexpr int64_t kC = 128;

Tensor to_device(const Tensor& host, Device device) { return host.to(device); }

// Input channels [c0, c0 + n) of a 1x1 conv weight (Cout, Cin, 1, 1), copied on the host.
Tensor input_channels(const Tensor& weight, int64_t c0, int64_t n) {
  const Tensor host = weight.to(Device::CPU);
  const int64_t cout = weight.size(0), cin = weight.size(1);
  Tensor part = Tensor::empty({cout, n, 1, 1});
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t i = 0; i < n; ++i) part.data()[o * n + i] = host.data()[o * cin + c0 + i];
  return to_device(part, weight.device());
}

SynthesisNet::Block load_block(Weights& w, const std::string& name, int64_t cin) {
  const std::string p = "synthesis." + name + ".";
  SynthesisNet::Block b;
  b.g0 = Dense::load(w, p + "g0", kKernelSize * kKernelSize, kC);
  b.g1 = Dense::load(w, p + "g1", kC, kC);
  for (int j = 0; j < 3; ++j) {
    const std::string c = p + "c" + std::to_string(j);
    SynthesisNet::GuidedConv& g = b.c[j];
    g.conv = Conv2d::load(w, c, j == 0 ? cin : kC, kC, 3);  // 'same', stride 1
    g.mul = Dense::load(w, c + ".mul", kC, kC);
    g.add = Dense::load(w, c + ".add", kC, kC);
    g.beta = w.get(c + ".beta", {kC}).reshape({1, kC});
  }
  return b;
}

// Conv3x3 stride 2 'same', linear: TF pads (0, 1) on the even sides here.
Tensor downsample(const Context& ctx, const Conv2d& c, const Tensor& x) {
  return conv2d(ctx, x, c.weight, c.bias, 2, tf_same_padding(x.size(2), x.size(3), 3, 2));
}

// Conv2DTranspose 5x5 stride 2 'same' + relu: the full (2n + 3) output cropped to [1, 2n + 1).
Tensor upsample(const Context& ctx, const ConvTranspose2d& c, const Tensor& x) {
  return conv_transpose2d(ctx, x, c.weight, c.bias, 2, Padding2d{1, 2, 1, 2}, 1,
                          Epilogue::relu());
}

}  // namespace

Tensor SynthesisNet::GuidedConv::operator()(const Context& ctx, const Tensor& x,
                                            const Tensor& g) const {
  // guided_operation(guide_before_op=False): op -> multiply -> add -> activation.
  Epilogue e;
  e.activation = Activation::ReLU;
  e.scale = deblurcore::add(ctx, mul(ctx, g), beta);  // Dense_mul(g) + beta (BiasLayer), (1, 128)
  e.shift = add(ctx, g);                              // Dense_add(g), (1, 128)
  return conv2d(ctx, x, conv.weight, conv.bias, 1, 1, 1, e);
}

Tensor SynthesisNet::Block::operator()(const Context& ctx, Tensor x, const Tensor& v) const {
  const Tensor g = g1(ctx, g0(ctx, v, Activation::ReLU), Activation::ReLU);
  for (const GuidedConv& conv : c) x = conv(ctx, x, g);
  return x;
}

SynthesisNet SynthesisNet::load(const Context& ctx, Weights& w) {
  (void)ctx;
  SynthesisNet n;
  for (int i = 0; i < 4; ++i) {
    const std::string e = "E" + std::to_string(i);
    n.E[i] = load_block(w, e, i == 0 ? 3 : kC);
    n.E_down[i] = Conv2d::load(w, "synthesis." + e + ".down", kC, kC, 3, 2);
  }
  n.B = load_block(w, "B", kC);
  for (int i = 3; i >= 0; --i) {
    const std::string d = "D" + std::to_string(i);
    Decoder& dec = n.D[i];
    dec.up = ConvTranspose2d::load(w, "synthesis." + d + ".up", kC, kC, 5, 2, 1);
    dec.skip = Conv2d::load(w, "synthesis." + d + ".skip", kC, kC, 3);
    dec.merge = Conv2d::load(w, "synthesis." + d + ".merge", 2 * kC, kC, 1);
    dec.merge_up = input_channels(dec.merge.weight, 0, kC);
    dec.merge_skip = input_channels(dec.merge.weight, kC, kC);
    dec.block = load_block(w, d, kC);
  }
  n.OUT = Conv2d::load(w, "synthesis.OUT", kC, 3, 3);
  return n;
}

Tensor SynthesisNet::operator()(const Context& ctx, const Tensor& rgb, const Tensor& kernel) const {
  check(rgb.dim() == 4 && rgb.size(0) == 1 && rgb.size(1) == 3,
        "synthesis: rgb must be (1, 3, H, W), got ", rgb.shape_str());
  check(rgb.size(2) % 16 == 0 && rgb.size(3) % 16 == 0 && rgb.size(2) > 0 && rgb.size(3) > 0,
        "synthesis: H and W of rgb must be positive multiples of 16, got ", rgb.size(2), "x",
        rgb.size(3));
  check(kernel.numel() == kKernelSize * kKernelSize,
        "synthesis: kernel must be (1, 85, 85), got ", kernel.shape_str());
  const Tensor v = kernel.reshape({1, kKernelSize * kKernelSize});  // Flatten, row-major
  std::array<Tensor, 4> s;  // encoder outputs, the skips
  Tensor x = rgb;
  for (int i = 0; i < 4; ++i) {
    s[i] = E[i](ctx, x, v);
    x = downsample(ctx, E_down[i], s[i]);
  }
  x = B(ctx, x, v);
  for (int i = 3; i >= 0; --i) {
    const Decoder& d = D[i];
    // relu(merge(concat[up, skip(s_i)])) = relu(merge_skip * skip(s_i) + (merge_up * up + b)).
    Tensor up = upsample(ctx, d.up, x);
    x = Tensor();
    Tensor merged = conv2d(ctx, up, d.merge_up, d.merge.bias);
    up = Tensor();
    Tensor skip = d.skip(ctx, s[i]);
    s[i] = Tensor();
    Epilogue e;
    e.activation = Activation::ReLU;
    e.residual = merged;
    e.residual_position = Epilogue::Residual::BeforeActivation;
    merged = conv2d(ctx, skip, d.merge_skip, Tensor(), 1, 0, 1, e);
    skip = Tensor();
    e.residual = Tensor();
    x = d.block(ctx, std::move(merged), v);
  }
  return OUT(ctx, x);
}

}  // namespace analysis_synthesis
}  // namespace deblurcore
