// SynthesisNN of the Analysis-Synthesis pair: a 4-level U-Net of 128 channels whose every 3x3
// conv is "guided" by the flattened blur kernel (per-channel scale and shift from a small MLP
// per block). Reads beside nns/synthesis_nn.py (SynthesisNN.build, conv_block,
// guided_operation) of the official code; spec analysis_synthesis.md §4.
//
// Memory: at 1280x720 one 128-channel map is 472 MB. Maps are released as soon as they are
// dead, the guided convs run in one pass (conv + epilogue scale/shift/relu), and the decoder's
// 1x1 merge conv over concat[up, skip(s)] runs as a ConcatConv2d (two 1x1 convs over the
// halves of its weight, the second adding the first): the 256-channel concat never exists.
#include <string>

#include "deblurcore/error.h"
#include "models/analysis_synthesis_nets.h"

namespace deblurcore {
namespace analysis_synthesis {

namespace {

using nn::Scope;

constexpr int64_t kC = 128;

// Conv3x3 stride 2 'same', linear: TF pads (0, 1) on the even sides here.
Tensor downsample(const Context& ctx, const nn::Conv2d& c, const Tensor& x) {
  return conv2d(ctx, x, c.weight, c.bias, 2, tf_same_padding(x.size(2), x.size(3), 3, 2));
}

// Conv2DTranspose 5x5 stride 2 'same' + relu: the full (2n + 3) output cropped to [1, 2n + 1).
Tensor upsample(const Context& ctx, const nn::ConvTranspose2d& c, const Tensor& x) {
  return conv_transpose2d(ctx, x, c.weight, c.bias, 2, Padding2d{1, 2, 1, 2}, 1, c.activation);
}

}  // namespace

SynthesisNet::GuidedConv::GuidedConv(const Scope& s, int64_t cin)
    : conv(s, cin, kC, 3, 1, 1),  // 'same', stride 1
      mul(s["mul"], kC, kC),
      add(s["add"], kC, kC),
      beta(s.get("beta", {kC}).reshape({1, kC})) {}

Tensor SynthesisNet::GuidedConv::operator()(const Context& ctx, const Tensor& x,
                                            const Tensor& g) const {
  // guided_operation(guide_before_op=False): op -> multiply -> add -> activation.
  Epilogue e;
  e.activation = Activation::ReLU;
  e.scale = deblurcore::add(ctx, mul(ctx, g), beta);  // Dense_mul(g) + beta (BiasLayer), (1, 128)
  e.shift = add(ctx, g);                              // Dense_add(g), (1, 128)
  return conv2d(ctx, x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, e);
}

SynthesisNet::Block::Block(const Scope& s, int64_t cin)
    : g0(s["g0"], kKernelSize * kKernelSize, kC), g1(s["g1"], kC, kC) {
  g0.activation = g1.activation = Activation::ReLU;
  for (int j = 0; j < 3; ++j) c[j] = GuidedConv(s["c" + std::to_string(j)], j == 0 ? cin : kC);
}

Tensor SynthesisNet::Block::operator()(const Context& ctx, Tensor x, const Tensor& v) const {
  const Tensor g = g1(ctx, g0(ctx, v));
  for (const GuidedConv& conv : c) x = conv(ctx, x, g);
  return x;
}

SynthesisNet::SynthesisNet(const Scope& s) {
  for (int i = 0; i < 4; ++i) {
    const Scope e = s["E" + std::to_string(i)];
    E[i] = Block(e, i == 0 ? 3 : kC);
    E_down[i] = nn::Conv2d(e["down"], kC, kC, 3, 2);  // padding: tf_same_padding
  }
  B = Block(s["B"], kC);
  for (int i = 3; i >= 0; --i) {
    const Scope d = s["D" + std::to_string(i)];
    Decoder& dec = D[i];
    dec.up = nn::ConvTranspose2d(d["up"], kC, kC, 5, 2);  // padding: upsample()
    dec.up.activation = Epilogue::relu();
    dec.skip = nn::Conv2d(d["skip"], kC, kC, 3, 1, 1);
    nn::Conv2d merge(d["merge"], 2 * kC, kC, 1);
    merge.activation = Epilogue::relu();
    dec.merge = blocks::ConcatConv2d(merge, {kC, kC});
    dec.block = Block(d, kC);
  }
  OUT = nn::Conv2d(s["OUT"], kC, 3, 3, 1, 1);
}

Tensor SynthesisNet::operator()(const Context& ctx, const Tensor& rgb, const Tensor& kernel) const {
  check(rgb.dim() == 4 && rgb.size(0) == 1 && rgb.size(1) == 3,
        "synthesis: rgb must be (1, 3, H, W), got ", rgb.shape_str());
  check(rgb.size(2) % 16 == 0 && rgb.size(3) % 16 == 0 && rgb.size(2) > 0 && rgb.size(3) > 0,
        "synthesis: H and W of rgb must be positive multiples of 16, got ", rgb.size(2), "x",
        rgb.size(3));
  check(kernel.numel() == kKernelSize * kKernelSize, "synthesis: kernel must be (1, 85, 85), got ",
        kernel.shape_str());
  const Tensor v = kernel.reshape({1, kKernelSize * kKernelSize});  // Flatten, row-major
  std::array<Tensor, 4> s;                                          // encoder outputs, the skips
  Tensor x = rgb;
  for (int i = 0; i < 4; ++i) {
    s[i] = E[i](ctx, x, v);
    x = downsample(ctx, E_down[i], s[i]);
  }
  x = B(ctx, x, v);
  for (int i = 3; i >= 0; --i) {
    const Decoder& d = D[i];
    // Each decoder level works at twice the size of the one below: the idle blocks the
    // allocator keeps from the smaller sizes cannot serve it and would only add to the peak
    // (about 0.5 GB at level 0 of a 1280x720 image).
    ctx.allocator().release_idle();
    // relu(merge(concat[up(x), skip(s_i)])), one half of the 1x1 merge at a time.
    blocks::ConcatConv2d::RunningSum merged = d.merge.running_sum(ctx);
    merged.add(upsample(ctx, d.up, nn::last_use(x)));
    merged.add(d.skip(ctx, nn::last_use(s[i])));
    x = d.block(ctx, merged.result(), v);
  }
  return OUT(ctx, x);
}

}  // namespace analysis_synthesis
}  // namespace deblurcore
