// One Stockham pass of a mixed-radix plan: the dispatch to the butterfly kernels of the
// instruction set (stage_impl.h, compiled per ISA by cpu/fft_stage_*.cpp).
#include "cpu/fft/stage.h"

#include "cpu/isa.h"

namespace deblurcore {
namespace cpu {
namespace fft {

void run_stage(const Stage& st, bool inverse, int64_t n, const float* sr, const float* si,
               int64_t ss, float* dr, float* di, int64_t ds, int64_t batch, Isa isa) {
  const int dir = inverse ? 1 : 0;
  StageView v;
  v.radix = st.radix;
  v.Ns = st.Ns;
  v.inverse = inverse;
  v.tw_re = st.tw_re[dir].data();
  v.tw_im = st.tw_im[dir].data();
  v.cos_jk = st.cos_jk.data();
  v.sin_jk = st.sin_jk[dir].data();
  const IsaTable<FftStageFn> table{&generic::fft_stage, DEBLURCORE_ISA_ENTRY(&avx2::fft_stage),
                                   DEBLURCORE_ISA_ENTRY(&avx512::fft_stage)};
  select_isa(isa, table)(v, n, sr, si, ss, dr, di, ds, batch);
}

}  // namespace fft
}  // namespace cpu
}  // namespace deblurcore
