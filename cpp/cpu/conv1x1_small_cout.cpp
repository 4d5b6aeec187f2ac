// The small-Cout 1x1 convolution (conv1x1_small_cout.h): which layers it runs, and the blocks of
// pixels shared out across threads.
#include "cpu/conv1x1_small_cout.h"

#include "cpu/isa.h"

namespace deblurcore {
namespace cpu {
namespace conv1x1 {

bool small_cout_applies(const Conv2dParams& p) {
  return p.kh == 1 && p.kw == 1 && p.sh == 1 && p.sw == 1 && p.ph == 0 && p.pw == 0 &&
         p.Hout == p.H && p.Wout == p.W && p.Cout >= 1 && p.Cout <= kMaxCout && p.Cin >= 1;
}

void small_cout(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
                const float* bias, const float* residual, float* out) {
  const IsaTable<BlockFn> table{&generic::small_cout_block,
                                DEBLURCORE_ISA_ENTRY(&avx2::small_cout_block),
                                DEBLURCORE_ISA_ENTRY(&avx512::small_cout_block)};
  const BlockFn block = select_isa(ctx, table);
  const int64_t plane = p.H * p.W, blocks = (plane + kBlock - 1) / kBlock;
  const int64_t items = p.N * blocks;
  // Below ~64 Ki input floats a parallel region costs more than it saves.
  const int threads = p.N * p.Cin * plane < (int64_t(1) << 16) || items < 2 ? 1 : ctx.num_threads();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t n = item / blocks, begin = (item % blocks) * kBlock;
    block(p, x, w, bias, residual, out, n, begin, begin + kBlock < plane ? kBlock : plane - begin);
  }
}

}  // namespace conv1x1
}  // namespace cpu
}  // namespace deblurcore
