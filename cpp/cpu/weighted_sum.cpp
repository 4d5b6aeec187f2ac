// Fast CPU weighted_sum: a memory-bound blend the compiler vectorises (plain portable C++).
//
// Each (n, c) plane is cut into blocks of kBlock floats, and a block's output is accumulated
// over all B inputs while it stays in L1: every input and weight plane is streamed from
// memory once and the output written once (summing plane by plane instead rereads and
// rewrites the whole output plane B times). For B = 4 (ASPDC) the four products are summed in
// one pass.
#include <vector>

#include "backends.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

namespace {

constexpr int64_t kBlock = 2048;  // floats: 8 KiB of output per block, far inside L1

// o[i] = w[0][i] * x[0][i] + w[1][i] * x[1][i] + ..., products rounded before each addition
// (no fused multiply-add) and summed left to right, as a framework computing the products
// tensor by tensor does.
void blend_block(const float* const* x, const float* const* w, int64_t B, float* __restrict o,
                 int64_t len) {
  if (B == 4) {
    const float* __restrict x0 = x[0];
    const float* __restrict x1 = x[1];
    const float* __restrict x2 = x[2];
    const float* __restrict x3 = x[3];
    const float* __restrict w0 = w[0];
    const float* __restrict w1 = w[1];
    const float* __restrict w2 = w[2];
    const float* __restrict w3 = w[3];
    for (int64_t i = 0; i < len; ++i) {
      const float p0 = w0[i] * x0[i], p1 = w1[i] * x1[i], p2 = w2[i] * x2[i], p3 = w3[i] * x3[i];
      o[i] = ((p0 + p1) + p2) + p3;
    }
    return;
  }
  {
    const float* __restrict x0 = x[0];
    const float* __restrict w0 = w[0];
    for (int64_t i = 0; i < len; ++i) o[i] = w0[i] * x0[i];
  }
  for (int64_t b = 1; b < B; ++b) {
    const float* __restrict xb = x[b];
    const float* __restrict wb = w[b];
    for (int64_t i = 0; i < len; ++i) {
      const float prod = wb[i] * xb[i];
      o[i] = o[i] + prod;
    }
  }
}

}  // namespace

void weighted_sum(const Context& ctx, const WeightedSumParams& p, const float* const* inputs,
                  const float* weights, float* out) {
  const int64_t blocks = (p.HW + kBlock - 1) / kBlock;
  const int64_t items = p.N * p.C * blocks;
  const int threads = items > 1 ? threads_for(ctx, p.N * p.C * p.HW * (p.B + 1)) : 1;
#pragma omp parallel num_threads(threads)
  {
    // Per-thread pointer arrays for the block at hand (B is small: the models use 4).
    constexpr int kMaxStack = 16;
    const float* xs_stack[kMaxStack];
    const float* ws_stack[kMaxStack];
    std::vector<const float*> xs_heap, ws_heap;
    const float** xs = xs_stack;
    const float** ws = ws_stack;
    if (p.B > kMaxStack) {
      xs_heap.resize(p.B), ws_heap.resize(p.B);
      xs = xs_heap.data(), ws = ws_heap.data();
    }
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t nc = item / blocks, n = nc / p.C;
      const int64_t begin = (item % blocks) * kBlock;
      const int64_t len = begin + kBlock < p.HW ? kBlock : p.HW - begin;
      for (int64_t b = 0; b < p.B; ++b) {
        xs[b] = inputs[b] + nc * p.HW + begin;
        ws[b] = weights + (n * p.B + b) * p.HW + begin;
      }
      blend_block(xs, ws, p.B, out + nc * p.HW + begin, len);
    }
  }
}

}  // namespace cpu
}  // namespace deblurcore
