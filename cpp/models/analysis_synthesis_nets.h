// The two networks of the Analysis-Synthesis pair (Kaufman & Fattal, CVPR 2020), as the
// official Keras code builds them (nns/analysis_nn.py, nns/synthesis_nn.py, custom_layers.py).
// Member names are the role names of the converted weights (`analysis.L0.c7a.weight`, ...;
// see python/deblurcore/convert/analysis_synthesis.py), layer semantics the reference spec.
// Layouts: Conv2D weight (Cout, Cin, kh, kw), Conv2DTranspose (Cin, Cout, kh, kw), Dense
// (out, in) as nn::Linear; a BiasLayer is its own vector.
#pragma once

#include <array>

#include "blocks/concat_conv.h"
#include "deblurcore/ops.h"
#include "nn/layers.h"
#include "nn/scope.h"

namespace deblurcore {
namespace analysis_synthesis {

constexpr int64_t kKernelSize = 85;

// TF 'same' padding of a k x k, stride s convolution on an H x W input: out = ceil(n / s),
// total = max((out - 1) * s + k - n, 0), split floor(total / 2) before, the rest after. For
// stride 2 on an even side this is asymmetric (one more after), which PyTorch-style k/2 gets
// wrong by a pixel.
Padding2d tf_same_padding(int64_t H, int64_t W, int k, int s);

// AnalysisNN (default AnalysisNNConfig): RGB crop (1, 3, H, W) in 0..255 -> the blur kernel
// (1, 85, 85), non-negative and L1-normalised.
struct AnalysisNet {
  struct Level {
    nn::Conv2d c7a, c7b, c7c, cc_in, cc_out;  // relu each
    nn::Conv2d down;                          // linear, TF 'same' stride 2; none at level 3
  };
  struct Up {
    nn::ConvTranspose2d up;     // relu, 'valid'
    blocks::ConcatConv2d fuse;  // relu, over concat[F_l, x]
  };
  std::array<Level, 4> L;
  std::array<Up, 3> U;  // U[l] merges into level l (run for l = 2, 1, 0)
  nn::Conv2d P_c24, P_c16, P_c8, P_out;

  AnalysisNet() = default;
  explicit AnalysisNet(const nn::Scope& s);  // s: the "analysis" scope
  Tensor operator()(const Context& ctx, const Tensor& rgb) const;
};

// SynthesisNN (default SynthesisNNConfig, non-blind): padded RGB (1, 3, H, W) in 0..255, H and
// W multiples of 16, and the kernel (1, 85, 85) -> raw RGB (1, 3, H, W) (no clip).
struct SynthesisNet {
  // One guided conv: relu((conv(x) + b) * (mul(g) + beta) + add(g)).
  struct GuidedConv {
    nn::Conv2d conv;
    nn::Linear mul, add;
    Tensor beta;  // BiasLayer, (1, 128)
    GuidedConv() = default;
    GuidedConv(const nn::Scope& s, int64_t cin);
    Tensor operator()(const Context& ctx, const Tensor& x, const Tensor& g) const;
  };
  // ConvBlock: the guidance MLP g = relu(g1(relu(g0(v)))) and three guided convs.
  struct Block {
    nn::Linear g0, g1;
    std::array<GuidedConv, 3> c;
    Block() = default;
    Block(const nn::Scope& s, int64_t cin);
    Tensor operator()(const Context& ctx, Tensor x, const Tensor& v) const;
  };
  struct Decoder {
    nn::ConvTranspose2d up;      // relu, 'same' stride 2
    nn::Conv2d skip;             // linear, 'same'
    blocks::ConcatConv2d merge;  // 1x1 + relu over concat[up, skip(s)]
    Block block;
  };
  std::array<Block, 4> E;
  std::array<nn::Conv2d, 4> E_down;  // linear, TF 'same' stride 2
  Block B;
  std::array<Decoder, 4> D;  // D[i] at the resolution of E[i]
  nn::Conv2d OUT;

  SynthesisNet() = default;
  explicit SynthesisNet(const nn::Scope& s);  // s: the "synthesis" scope
  Tensor operator()(const Context& ctx, const Tensor& rgb, const Tensor& kernel) const;
};

}  // namespace analysis_synthesis
}  // namespace deblurcore
