// The two networks of the Analysis-Synthesis pair (Kaufman & Fattal, CVPR 2020), as the
// official Keras code builds them (nns/analysis_nn.py, nns/synthesis_nn.py, custom_layers.py).
// Member names are the role names of the converted weights (`analysis.L0.c7a.weight`, ...;
// see python/deblurcore/convert/analysis_synthesis.py), layer semantics the reference spec.
// Layouts: Conv2D weight (Cout, Cin, kh, kw), Conv2DTranspose (Cin, Cout, kh, kw), Dense
// (out, in); a BiasLayer is its own vector.
#pragma once

#include <array>
#include <string>

#include "deblurcore/ops.h"
#include "deblurcore/weights.h"
#include "models/layers.h"

namespace deblurcore {
namespace analysis_synthesis {

constexpr int64_t kKernelSize = 85;

// TF 'same' padding of a k x k, stride s convolution on an H x W input: out = ceil(n / s),
// total = max((out - 1) * s + k - n, 0), split floor(total / 2) before, the rest after. For
// stride 2 on an even side this is asymmetric (one more after), which PyTorch-style k/2 gets
// wrong by a pixel.
Padding2d tf_same_padding(int64_t H, int64_t W, int k, int s);

// Keras Dense: y = x W + b with W stored transposed (out, in), as torch's Linear.
struct Dense {
  Tensor weight, bias;
  static Dense load(Weights& w, const std::string& prefix, int64_t in, int64_t out);
  Tensor operator()(const Context& ctx, const Tensor& x,
                    Activation act = Activation::None) const {
    return linear(ctx, x, weight, bias, act);
  }
};

// AnalysisNN (default AnalysisNNConfig): RGB crop (1, 3, H, W) in 0..255 -> the blur kernel
// (1, 85, 85), non-negative and L1-normalised.
struct AnalysisNet {
  struct Level {
    Conv2d c7a, c7b, c7c, cc_in, cc_out, down;  // `down` undefined at level 3
  };
  struct Up {
    ConvTranspose2d up;
    Conv2d fuse;
  };
  std::array<Level, 4> L;
  std::array<Up, 3> U;  // U[l] merges into level l (run for l = 2, 1, 0)
  Conv2d P_c24, P_c16, P_c8, P_out;

  static AnalysisNet load(Weights& w);
  Tensor operator()(const Context& ctx, const Tensor& rgb) const;
};

// SynthesisNN (default SynthesisNNConfig, non-blind): padded RGB (1, 3, H, W) in 0..255, H and
// W multiples of 16, and the kernel (1, 85, 85) -> raw RGB (1, 3, H, W) (no clip).
struct SynthesisNet {
  // One guided conv: relu((conv(x) + b) * (mul(g) + beta) + add(g)).
  struct GuidedConv {
    Conv2d conv;
    Dense mul, add;
    Tensor beta;
    Tensor operator()(const Context& ctx, const Tensor& x, const Tensor& g) const;
  };
  // ConvBlock: the guidance MLP g = relu(g1(relu(g0(v)))) and three guided convs.
  struct Block {
    Dense g0, g1;
    std::array<GuidedConv, 3> c;
    Tensor operator()(const Context& ctx, Tensor x, const Tensor& v) const;
  };
  struct Decoder {
    ConvTranspose2d up;
    Conv2d skip;
    Conv2d merge;                   // (128, 256, 1, 1) as in the file (role check only)
    Tensor merge_up, merge_skip;    // its halves (128, 128, 1, 1): reading up, then skip(s)
    Block block;
  };
  std::array<Block, 4> E;
  std::array<Conv2d, 4> E_down;
  Block B;
  std::array<Decoder, 4> D;  // D[i] at the resolution of E[i]
  Conv2d OUT;

  static SynthesisNet load(const Context& ctx, Weights& w);
  Tensor operator()(const Context& ctx, const Tensor& rgb, const Tensor& kernel) const;
};

}  // namespace analysis_synthesis
}  // namespace deblurcore
