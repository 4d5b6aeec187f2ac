// Fast CPU kernel of softmax over the channels: channel-strided data, so a block of kBlock
// positions of one batch item is taken through all C channels at a time (every access a
// contiguous run, the block's maxima and sums in L1), blocks shared out across threads; exp is
// the vectorised one of vector_exp.h (plain portable C++, no ISA variants).
#include "backends.h"
#include "cpu/parallel.h"
#include "cpu/vector_exp.h"

namespace deblurcore {
namespace cpu {

namespace {
constexpr int64_t kBlock = 512;  // positions per work item
}  // namespace

void softmax(const Context& ctx, const SoftmaxParams& p, const float* x, float* out) {
  const int64_t blocks = (p.inner + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(threads_for(ctx, p.outer* p.C* p.inner)) schedule(static)
  for (int64_t item = 0; item < p.outer * blocks; ++item) {
    const int64_t o = item / blocks, begin = (item % blocks) * kBlock;
    const int64_t len = begin + kBlock < p.inner ? kBlock : p.inner - begin;
    const float* xs = x + o * p.C * p.inner + begin;
    float* ys = out + o * p.C * p.inner + begin;
    float m[kBlock], sum[kBlock];
    for (int64_t i = 0; i < len; ++i) m[i] = xs[i];
    for (int64_t c = 1; c < p.C; ++c) {
      const float* __restrict xc = xs + c * p.inner;
      for (int64_t i = 0; i < len; ++i) m[i] = xc[i] > m[i] ? xc[i] : m[i];
    }
    for (int64_t i = 0; i < len; ++i) sum[i] = 0.f;
    for (int64_t c = 0; c < p.C; ++c) {
      const float* __restrict xc = xs + c * p.inner;
      float* __restrict yc = ys + c * p.inner;
      for (int64_t i = 0; i < len; ++i) {
        const float e = vector_exp(xc[i] - m[i]);
        yc[i] = e;
        sum[i] += e;
      }
    }
    for (int64_t c = 0; c < p.C; ++c) {
      float* __restrict yc = ys + c * p.inner;
      for (int64_t i = 0; i < len; ++i) yc[i] = yc[i] / sum[i];
    }
  }
}

}  // namespace cpu
}  // namespace deblurcore
