// Fast linear: blocks of 4 outputs x all batch rows; each dot product accumulates in 16
// independent float32 lanes, which the compiler vectorises without reassociating anything.
// Threads split the outputs (the Synthesis guidance layers are 7225 -> 128 with N = 1).
#include <algorithm>

#include "backends.h"

namespace deblurcore {
namespace cpu {

namespace {

constexpr int kOutBlock = 4;
constexpr int kLanes = 16;

// acc[o] = sum_i x[i] * w[o][i] for kOutBlock rows of w (rows beyond `outs` are skipped).
void dot_block(const float* x, const float* w, int64_t in, int64_t outs, float* acc) {
  float lanes[kOutBlock][kLanes] = {};
  const int64_t full = in / kLanes * kLanes;
  for (int64_t i = 0; i < full; i += kLanes)
    for (int o = 0; o < kOutBlock; ++o) {
      if (o >= outs) break;
      const float* wo = w + o * in + i;
      for (int l = 0; l < kLanes; ++l) lanes[o][l] += x[i + l] * wo[l];
    }
  for (int o = 0; o < outs; ++o) {
    float tail = 0.f;
    for (int64_t i = full; i < in; ++i) tail += x[i] * w[o * in + i];
    // Pairwise combination of the lanes.
    for (int width = kLanes / 2; width >= 1; width /= 2)
      for (int l = 0; l < width; ++l) lanes[o][l] += lanes[o][l + width];
    acc[o] = lanes[o][0] + tail;
  }
}

}  // namespace

void linear(const Context& ctx, const LinearParams& p, const float* x, const float* weight,
            const float* bias, float* out) {
  const int64_t blocks = (p.out_features + kOutBlock - 1) / kOutBlock;
  const int threads = p.N * p.in_features * p.out_features < (1 << 16) ? 1 : ctx.num_threads();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t o0 = blk * kOutBlock;
    const int64_t outs = std::min<int64_t>(kOutBlock, p.out_features - o0);
    for (int64_t n = 0; n < p.N; ++n) {
      float acc[kOutBlock];
      dot_block(x + n * p.in_features, weight + o0 * p.in_features, p.in_features, outs, acc);
      for (int64_t o = 0; o < outs; ++o) {
        float v = acc[o] + (bias ? bias[o0 + o] : 0.f);
        if (p.activation == Activation::ReLU) v = v < 0.f ? 0.f : v;
        out[n * p.out_features + o0 + o] = v;
      }
    }
  }
}

}  // namespace cpu
}  // namespace deblurcore
