// Per-instruction-set loops of the ops built on exp (sigmoid, softmax; exp_kernels_impl.h),
// dispatched from sigmoid.cpp and softmax.cpp through isa.h. They work on one thread's share;
// the callers split the work across threads (ISA code calls nothing of Context or OpenMP).
#pragma once

#include <cstdint>

namespace deblurcore {
namespace cpu {

// Positions of one softmax work item: the block's maxima and sums stay in L1.
constexpr int64_t kSoftmaxBlock = 512;

// out[i] = 1 / (1 + exp(-x[i])) for i < n.
using SigmoidSpanFn = void (*)(const float* x, float* out, int64_t n);
// Softmax over C channels, `stride` floats apart, of positions [0, len) (len <= kSoftmaxBlock).
using SoftmaxBlockFn = void (*)(const float* x, float* out, int64_t C, int64_t stride, int64_t len);

#define DEBLURCORE_DECLARE_EXP_KERNELS(isa)                                               \
  namespace isa {                                                                         \
  void sigmoid_span(const float* x, float* out, int64_t n);                               \
  void softmax_block(const float* x, float* out, int64_t C, int64_t stride, int64_t len); \
  }
DEBLURCORE_DECLARE_EXP_KERNELS(generic)
DEBLURCORE_DECLARE_EXP_KERNELS(avx2)
DEBLURCORE_DECLARE_EXP_KERNELS(avx512)
#undef DEBLURCORE_DECLARE_EXP_KERNELS

}  // namespace cpu
}  // namespace deblurcore
