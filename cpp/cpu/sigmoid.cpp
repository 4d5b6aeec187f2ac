// Fast CPU kernel of sigmoid: 1 / (1 + exp(-x)) in float32 with the vectorised exp of
// vector_exp.h, per instruction set (exp_kernels.h), split across threads in large contiguous
// chunks.
#include "backends.h"
#include "cpu/exp_kernels.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

void sigmoid(const Context& ctx, const float* x, float* out, int64_t n) {
  const IsaTable<SigmoidSpanFn> table{&generic::sigmoid_span,
                                      DEBLURCORE_ISA_ENTRY(&avx2::sigmoid_span),
                                      DEBLURCORE_ISA_ENTRY(&avx512::sigmoid_span)};
  const SigmoidSpanFn span = select_isa(ctx, table);
  const int threads = threads_for(ctx, n);
  if (threads == 1) return span(x, out, n);
  // One contiguous chunk per thread, cut at multiples of 64 floats (whole cache lines).
  const int64_t per = ((n + threads - 1) / threads + 63) / 64 * 64;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = t * per < n ? t * per : n;
    const int64_t end = begin + per < n ? begin + per : n;
    if (begin < end) span(x + begin, out + begin, end - begin);
  }
}

}  // namespace cpu
}  // namespace deblurcore
