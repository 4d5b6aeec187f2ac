// Internal interface of the fast CPU convolutions (conv2d.cpp, conv_transpose2d.cpp): the
// driver in conv_gemm.cpp, and the GEMM tile kernel it runs, compiled per instruction set from
// conv_gemm_tile.h (conv_gemm_generic.cpp, conv_gemm_avx2.cpp, conv_gemm_avx512.cpp) and
// chosen through the dispatch table of isa.h. The ISA files include this header, so it holds no
// inline code they could call (see cpp/cpu/README.md).
#pragma once

#include <cstdint>
#include <vector>

#include "deblurcore/context.h"
#include "epilogue.h"

namespace deblurcore {
namespace cpu {
namespace convgemm {

// One GEMM tile: C[m, j] (+)= sum_{k < kc} A[m, k] * B[k, j] for m < M, j < n, followed on the
// last K block by the fused epilogue of the convolution:
// apply_epilogue (epilogue.h) with the bias, scale and shift of row m.
struct TileArgs {
  // Packed weights at the first k of this K block: panel i (rows i*MR .. i*MR+MR-1) starts at
  // a + i * a_panel_stride and holds kc groups of MR floats (k-major). Rows past M are zero.
  const float* a;
  int64_t a_panel_stride;
  // kc rows of n pixels: row k starts at b + boff[k] (any alignment; only the first n
  // floats of a row are read).
  const float* b;
  const int64_t* boff;
  float* c;  // row m at c + m * ldc
  int64_t ldc;
  const float* residual;  // laid out like c, or null; read only when `last`
  const float* bias;      // M values or null; read only when `last`
  const float* scale;     // M values (this image's row of the (N, Cout) scale) or null
  const float* shift;     // likewise
  int64_t M, n, kc;
  bool accumulate;     // add to the values already in C (K blocks after the first)
  bool last;           // apply the epilogue (the last K block)
  EpilogueParams epi;  // activation and residual position; epi.scale / epi.shift
                       // only say whether `scale` / `shift` are set
};

// A tile kernel and its register blocking: mr output channels x nr output pixels per
// micro-kernel call (fewer columns, masked, at the end of a row). Packed weights come in
// mr-row panels.
//
// k_pack: input channels per element of A and B. 1: one float. 2 (the bf16 kernels of
// conv_gemm_bf16.h): a 32-bit pair of bfloat16 values of input channels 2c and 2c+1 (the
// first in the low half) at the same tap, so that "row k" of A and B, TileArgs::kc and the
// patch channels all count channel pairs (an odd last channel is paired with zeros).
struct TileKernel {
  int mr, nr;
  void (*tile)(const TileArgs& t);
  int k_pack;
  // k_pack 2 only: out[j] = the bf16 pair word of (lo[j], hi[j]) for j < n (bf16_pair_word of
  // conv_gemm_bf16.h), vectorised for the kernel's instruction set; packs the input patch.
  void (*pair_run)(const float* lo, const float* hi, int64_t n, uint32_t* out) = nullptr;
};

// The tile kernel for ctx.isa() and ctx.precision().
const TileKernel& select_tile_kernel(const Context& ctx);

// Number of packed rows of A per output channel for Cin input channels and `taps` taps.
inline int64_t packed_k(const TileKernel& kern, int64_t Cin, int64_t taps) {
  return (Cin + kern.k_pack - 1) / kern.k_pack * taps;
}

// ---- the driver (conv_gemm.cpp) ---------------------------------------------------------

// The image-level geometry shared by all phases of one convolution.
struct ConvGeometry {
  int64_t Cin, H, W;  // input image
  int64_t Cout;
  int64_t sy, sx;      // input step per output grid step
  int64_t Hout, Wout;  // output plane
  int64_t ssy, ssx;    // output step per grid step
};

// One virtual convolution: a dense output grid and the taps that reach it.
struct Phase {
  int64_t Qh, Qw;                   // output grid computed by the GEMM
  std::vector<int64_t> offy, offx;  // input offset of each kernel tap
  int64_t oy0, ox0;                 // grid point (qy, qx) -> output (oy0+ssy*qy, ox0+ssx*qx)
  const float* apack = nullptr;     // A packed by pack_a (Cout x Cin*taps)

  int64_t taps() const { return int64_t(offy.size() * offx.size()); }
  bool dense_output(const ConvGeometry& g) const {
    return g.ssy == 1 && g.ssx == 1 && oy0 == 0 && ox0 == 0 && Qh == g.Hout && Qw == g.Wout;
  }
};

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Packs A (Cout x K, element weight(co, k)) into mr-row panels: panel i holds, for each k, the
// mr values of rows i*mr .. i*mr+mr-1 (zero past Cout).
template <class WeightAt>
void pack_a(int mr, int64_t Cout, int64_t K, WeightAt weight, float* a) {
  const int64_t panels = (Cout + mr - 1) / mr;
  for (int64_t i = 0; i < panels; ++i)
    for (int64_t k = 0; k < K; ++k)
      for (int r = 0; r < mr; ++r) {
        const int64_t co = i * mr + r;
        a[(i * K + k) * mr + r] = co < Cout ? weight(co, k) : 0.f;
      }
}

// pack_a for kernels with k_pack 2: weight(co, k), k = ci * taps + tap, rounded to bfloat16
// (nearest even) and paired over input channels (conv_gemm_bf16.cpp).
void pack_a_bf16_pairs(int mr, int64_t Cout, int64_t Cin, int64_t taps, const float* w,
                       int64_t w_co, int64_t w_ci, const int64_t* w_tap, float* a);

// Packs the weights for `kern`: A with K = Cin * taps, element weight(co, ci * taps + tap),
// into a buffer of round_up(Cout, mr) * packed_k(kern, Cin, taps) floats. The weight of
// (co, ci, tap) is read at w[co * w_co + ci * w_ci + w_tap[tap]].
void pack_weights(const TileKernel& kern, int64_t Cout, int64_t Cin, int64_t taps, const float* w,
                  int64_t w_co, int64_t w_ci, const int64_t* w_tap, float* a);

// Runs a convolution given as one or more phases (virtual convolutions that share the input
// and write disjoint output points) for all N images, with the epilogue `epi`.
void run(const Context& ctx, const TileKernel& kern, const ConvGeometry& g,
         const std::vector<Phase>& phases, int64_t N, const float* x, const float* bias,
         const float* residual, float* out, const EpilogueParams& epi);

}  // namespace convgemm

// The tile kernel of each instruction set (conv_gemm_tile.h).
namespace generic {
extern const convgemm::TileKernel conv_gemm_kernel;
}
namespace avx2 {
extern const convgemm::TileKernel conv_gemm_kernel;
}
namespace avx512 {
extern const convgemm::TileKernel conv_gemm_kernel;
}
}  // namespace cpu
}  // namespace deblurcore
