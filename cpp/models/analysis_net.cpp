// AnalysisNN of the Analysis-Synthesis pair: a 4-level pyramid of the standardised grayscale
// image, conv features per level, their FFT cross-correlations, and a small decoder from the
// 13x13 coarsest correlation features up to the 85x85 kernel. Reads beside
// nns/analysis_nn.py (AnalysisNN.build) of the official code; spec analysis_synthesis.md §3.
#include <algorithm>
#include <string>
#include <utility>

#include "deblurcore/error.h"
#include "models/analysis_synthesis_nets.h"

namespace deblurcore {
namespace analysis_synthesis {

namespace {

using nn::Scope;

// Max shift of each level's CrossCorrelationFFT: m0 = 85 // 2, then m <- ceil(m / 2).
constexpr std::array<int, 4> kMaxShift{42, 21, 11, 6};

// Conv2D(cout, k, padding, activation='relu'), stride 1.
nn::Conv2d relu_conv(const Scope& s, int64_t cin, int64_t cout, int k, int padding) {
  nn::Conv2d c(s, cin, cout, k, 1, padding);
  c.activation = Epilogue::relu();
  return c;
}

// CropCenter(size, size): y0 = h // 2 - size // 2, likewise x0.
Tensor crop_center(const Context& ctx, const Tensor& x, int64_t size) {
  const int64_t h = x.size(2), w = x.size(3);
  return crop(ctx, x, h / 2 - size / 2, w / 2 - size / 2, size, size);
}

}  // namespace

Padding2d tf_same_padding(int64_t H, int64_t W, int k, int s) {
  auto side = [&](int64_t n) {
    const int64_t out = (n + s - 1) / s;
    const int64_t total = std::max<int64_t>((out - 1) * s + k - n, 0);
    return std::pair<int, int>(static_cast<int>(total / 2), static_cast<int>(total - total / 2));
  };
  const auto [top, bottom] = side(H);
  const auto [left, right] = side(W);
  return Padding2d{top, bottom, left, right};
}

AnalysisNet::AnalysisNet(const Scope& s) {
  for (int l = 0; l < 4; ++l) {
    const Scope p = s["L" + std::to_string(l)];
    Level& lv = L[l];
    // conv_block_size = 3 valid 7x7 convs of 64 features, then the 1x1 to the 32 CC inputs.
    lv.c7a = relu_conv(p["c7a"], 1, 64, 7, 0);
    lv.c7b = relu_conv(p["c7b"], 64, 64, 7, 0);
    lv.c7c = relu_conv(p["c7c"], 64, 64, 7, 0);
    lv.cc_in = relu_conv(p["cc_in"], 64, 32, 1, 0);
    lv.cc_out = relu_conv(p["cc_out"], 1056, 32, 1, 0);
    // The 4th downsampler of the official code (built after level 3) is dead: no weights.
    // Its padding is TF 'same' of the level's size (tf_same_padding, at run time).
    if (l < 3) lv.down = nn::Conv2d(p["down"], 1, 1, 5, 2);
  }
  for (int l = 2; l >= 0; --l) {
    const Scope p = s["U" + std::to_string(l)];
    U[l].up = nn::ConvTranspose2d(p["up"], 32, 32, 5, 2, 0);  // 'valid': 2n + 3
    U[l].up.activation = Epilogue::relu();
    U[l].fuse = blocks::ConcatConv2d(relu_conv(p["fuse"], 64, 32, 3, 1), {32, 32});
  }
  P_c24 = relu_conv(s["P"]["c24"], 32, 24, 3, 1);
  P_c16 = relu_conv(s["P"]["c16"], 24, 16, 3, 1);
  P_c8 = relu_conv(s["P"]["c8"], 16, 8, 3, 1);
  P_out = relu_conv(s["P"]["out"], 8, 1, 5, 2);
}

Tensor AnalysisNet::operator()(const Context& ctx, const Tensor& rgb) const {
  // Grayscale (tf.image.rgb_to_grayscale on float data) then Standardize(axes=[1, 2]).
  Tensor level_in = standardize(ctx, rgb_to_grayscale(ctx, rgb));
  std::array<Tensor, 4> F;  // per level: (1, 32, 2m+1, 2m+1)
  for (int l = 0; l < 4; ++l) {
    const Level& lv = L[l];
    Tensor h = lv.c7a(ctx, level_in);
    h = lv.c7b(ctx, h);
    h = lv.c7c(ctx, h);
    h = lv.cc_in(ctx, h);
    h = cross_correlation(ctx, h, kMaxShift[l], /*add_flips=*/true);  // (1, 1056, 2m+1, 2m+1)
    F[l] = lv.cc_out(ctx, h);
    if (l < 3) {
      // The pyramid downsamples the standardised image itself: 5x5 stride 2 'same', linear.
      const Padding2d pad = tf_same_padding(level_in.size(2), level_in.size(3), 5, 2);
      level_in = conv2d(ctx, level_in, lv.down.weight, lv.down.bias, 2, pad);
    }
  }
  level_in = Tensor();
  Tensor x = F[3];
  for (int l = 2; l >= 0; --l) {
    x = U[l].up(ctx, x);                          // 13 -> 29, 23 -> 49, 43 -> 89
    x = crop_center(ctx, x, F[l].size(2));        // -> 23, 43, 85
    x = U[l].fuse(ctx, {nn::last_use(F[l]), x});  // concat[F_l, x]: F_l first
  }
  x = P_c24(ctx, x);
  x = P_c16(ctx, x);
  x = P_c8(ctx, x);
  x = P_out(ctx, x);  // (1, 1, 85, 85)
  // Reshape to (85, 85), then Normalization(ord=1): x / (sum |x| + 1e-7) per sample.
  return normalize_l1(ctx, x.reshape({1, kKernelSize, kKernelSize}));
}

}  // namespace analysis_synthesis
}  // namespace deblurcore
