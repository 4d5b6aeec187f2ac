// Fast CPU kernel of softmax over the channels: channel-strided data, so a block of
// kSoftmaxBlock positions of one batch item is taken through all C channels at a time (every
// access a contiguous run, the block's maxima and sums in L1), blocks shared out across
// threads; the block loop is compiled per instruction set (exp_kernels.h), with the
// vectorised exp of vector_exp.h.
#include "backends.h"
#include "cpu/exp_kernels.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

void softmax(const Context& ctx, const SoftmaxParams& p, const float* x, float* out) {
  const IsaTable<SoftmaxBlockFn> table{&generic::softmax_block,
                                       DEBLURCORE_ISA_ENTRY(&avx2::softmax_block),
                                       DEBLURCORE_ISA_ENTRY(&avx512::softmax_block)};
  const SoftmaxBlockFn block = select_isa(ctx, table);
  const int64_t blocks = (p.inner + kSoftmaxBlock - 1) / kSoftmaxBlock;
#pragma omp parallel for num_threads(threads_for(ctx, p.outer* p.C* p.inner)) schedule(static)
  for (int64_t item = 0; item < p.outer * blocks; ++item) {
    const int64_t o = item / blocks, begin = (item % blocks) * kSoftmaxBlock;
    const int64_t len = begin + kSoftmaxBlock < p.inner ? kSoftmaxBlock : p.inner - begin;
    const int64_t offset = o * p.C * p.inner + begin;
    block(x + offset, out + offset, p.C, p.inner, len);
  }
}

}  // namespace cpu
}  // namespace deblurcore
