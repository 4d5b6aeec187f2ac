// CPU kernels of the memory-bound ops: straight loops that the compiler vectorises, split
// across threads in large contiguous chunks.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends.h"

namespace deblurcore {
namespace cpu {

namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;

int threads_for(const Context& ctx, int64_t n) {
  return n < kParallelThreshold ? 1 : ctx.num_threads();
}
}  // namespace

void activation(const Context& ctx, Activation act, float slope, const float* x, float* out,
                int64_t n) {
  if (act == Activation::None) {
    if (out != x) std::memcpy(out, x, size_t(n) * sizeof(float));
    return;
  }
  if (act == Activation::ReLU) {
    // torch.relu's form (clamp_min): -0 and NaN pass through, -inf gives 0. (x * 0.f for
    // the negative side would turn -inf into NaN and negatives into -0.)
#pragma omp parallel for simd num_threads(threads_for(ctx, n)) schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] < 0.f ? 0.f : x[i];
    return;
  }
#pragma omp parallel for simd num_threads(threads_for(ctx, n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] > 0.f ? x[i] : x[i] * slope;
}

void sigmoid(const Context& ctx, const float* x, float* out, int64_t n) {
#pragma omp parallel for num_threads(threads_for(ctx, n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = 1.f / (1.f + std::exp(-x[i]));
}

void clamp(const Context& ctx, const float* x, float* out, int64_t n, float lo, float hi) {
  // Comparisons written so that NaN falls through unchanged, like torch.clamp.
#pragma omp parallel for simd num_threads(threads_for(ctx, n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    out[i] = v < lo ? lo : (v > hi ? hi : v);
  }
}

void add(const Context& ctx, const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for simd num_threads(threads_for(ctx, n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void softmax(const Context& ctx, const SoftmaxParams& p, const float* x, float* out) {
  // Channel-strided data: process a run of `inner` positions per (outer, pass) so every
  // access is contiguous.
#pragma omp parallel for num_threads(threads_for(ctx, p.outer * p.C * p.inner)) schedule(static)
  for (int64_t o = 0; o < p.outer; ++o) {
    const float* xs = x + o * p.C * p.inner;
    float* ys = out + o * p.C * p.inner;
    std::vector<float> m(xs, xs + p.inner), sum(p.inner, 0.f);
    for (int64_t c = 1; c < p.C; ++c)
      for (int64_t i = 0; i < p.inner; ++i) m[i] = std::max(m[i], xs[c * p.inner + i]);
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t i = 0; i < p.inner; ++i) {
        const float e = std::exp(xs[c * p.inner + i] - m[i]);
        ys[c * p.inner + i] = e;
        sum[i] += e;
      }
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t i = 0; i < p.inner; ++i) ys[c * p.inner + i] /= sum[i];
  }
}

void pad(const Context& ctx, const PadParams& p, const float* x, float* out) {
#pragma omp parallel for collapse(2) num_threads(threads_for(ctx, p.N * p.C * p.Hout * p.Wout))
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      const float* xc = x + (n * p.C + c) * p.H * p.W;
      float* oc = out + (n * p.C + c) * p.Hout * p.Wout;
      for (int64_t oy = 0; oy < p.Hout; ++oy) {
        float* row = oc + oy * p.Wout;
        int64_t sy = oy - p.top;
        if (sy < 0 || sy >= p.H) {
          if (p.mode == PadMode::Zeros) {
            std::fill(row, row + p.Wout, p.value);
            continue;
          }
          sy = p.mode == PadMode::Replicate ? std::min(std::max<int64_t>(sy, 0), p.H - 1)
               : p.mode == PadMode::Symmetric ? (sy < 0 ? -sy - 1 : 2 * p.H - 1 - sy)
                                              : (sy < 0 ? -sy : 2 * (p.H - 1) - sy);
        }
        const float* src = xc + sy * p.W;
        std::memcpy(row + p.left, src, size_t(p.W) * sizeof(float));
        for (int64_t i = 0; i < p.left; ++i)
          row[i] = p.mode == PadMode::Zeros ? p.value
                   : p.mode == PadMode::Replicate ? src[0]
                   : p.mode == PadMode::Symmetric ? src[p.left - 1 - i]
                                                  : src[p.left - i];
        for (int64_t i = 0; i < p.right; ++i)
          row[p.left + p.W + i] = p.mode == PadMode::Zeros ? p.value
                                  : p.mode == PadMode::Replicate ? src[p.W - 1]
                                  : p.mode == PadMode::Symmetric ? src[p.W - 1 - i]
                                                                 : src[p.W - 2 - i];
      }
    }
}

void copy_rows(const Context& ctx, const float* src, int64_t src_stride, float* dst,
               int64_t dst_stride, int64_t row_floats, int64_t count) {
#pragma omp parallel for num_threads(threads_for(ctx, row_floats * count))
  for (int64_t r = 0; r < count; ++r)
    std::memcpy(dst + r * dst_stride, src + r * src_stride, size_t(row_floats) * sizeof(float));
}

}  // namespace cpu
}  // namespace deblurcore
