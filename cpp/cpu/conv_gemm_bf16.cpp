// The packing side of the bf16 convolution GEMM (conv_gemm_bf16.h): weights and input patches
// rounded to bfloat16 and paired over input channels, and the choice of the tile kernel.
#include "cpu/conv_gemm_bf16.h"

#include <algorithm>
#include <cstring>

#include "cpu/isa.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cpu {
namespace convgemm {

namespace {

// 32-bit words written into the float buffers the driver hands around.
typedef uint32_t __attribute__((may_alias)) word32;

// float -> bfloat16 bits, round to nearest, ties to even (what vcvtneps2bf16 does); a NaN stays
// a (quiet) NaN instead of rounding into an infinity.
inline uint32_t bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return (u & 0x7FFFFFFFu) > 0x7F800000u ? (u >> 16) | 0x40u : rounded;
}

inline uint32_t bf16_pair(float lo, float hi) { return bf16_bits(lo) | (bf16_bits(hi) << 16); }

}  // namespace

uint32_t bf16_pair_word(float lo, float hi) { return bf16_pair(lo, hi); }

const TileKernel* bf16_tile_kernel_or_null() {
#if defined(DEBLURCORE_X86_ISA)
  if (cpu_supports_bf16()) return &avx512bf16::conv_gemm_bf16_kernel;
#endif
  return nullptr;
}

const TileKernel& select_bf16_tile_kernel(const Context& ctx) {
  const TileKernel* kern = ctx.isa() == Isa::AVX512 ? bf16_tile_kernel_or_null() : nullptr;
  check(kern != nullptr,
        "precision 'bf16' needs a CPU with AVX512_BF16 and instruction set avx512");
  return *kern;
}

void pack_a_bf16_pairs(int mr, int64_t Cout, int64_t Cin, int64_t taps, const float* w,
                       int64_t w_co, int64_t w_ci, const int64_t* w_tap, float* a) {
  word32* out = reinterpret_cast<word32*>(a);
  const int64_t pairs = (Cin + 1) / 2, K = pairs * taps;
  const int64_t panels = (Cout + mr - 1) / mr;
  for (int64_t i = 0; i < panels; ++i)
    for (int64_t cp = 0; cp < pairs; ++cp)
      for (int64_t t = 0; t < taps; ++t)
        for (int r = 0; r < mr; ++r) {
          const int64_t co = i * mr + r, c0 = 2 * cp, c1 = c0 + 1;
          const float lo = co < Cout ? w[co * w_co + c0 * w_ci + w_tap[t]] : 0.f;
          const float hi = co < Cout && c1 < Cin ? w[co * w_co + c1 * w_ci + w_tap[t]] : 0.f;
          out[(i * K + cp * taps + t) * mr + r] = bf16_pair(lo, hi);
        }
}

void pack_patch_bf16_pairs(const TileKernel& kern, const ConvGeometry& g, const float* x,
                           int64_t cp0, int64_t npairs, int64_t iy0, int64_t rows, int64_t ix0,
                           int64_t Wq, int64_t cpitch, float* buf) {
  const int64_t sx = g.sx, rowpitch = sx * Wq;
  word32* out = reinterpret_cast<word32*>(buf);
  for (int64_t c = 0; c < npairs; ++c) {
    const int64_t c0 = 2 * (cp0 + c), c1 = c0 + 1;
    for (int64_t r = 0; r < rows; ++r) {
      word32* drow = out + c * cpitch + r * rowpitch;
      const int64_t iy = iy0 + r;
      if (iy < 0 || iy >= g.H) {
        std::memset(drow, 0, size_t(rowpitch) * sizeof(uint32_t));
        continue;
      }
      const float* src0 = x + (c0 * g.H + iy) * g.W;
      const float* src1 = c1 < g.Cin ? x + (c1 * g.H + iy) * g.W : nullptr;
      for (int64_t f = 0; f < sx; ++f) {
        word32* d = drow + f * Wq;
        const int64_t first = ix0 + f;  // input column of u = 0
        // u in [lo, hi) reads inside the row: 0 <= first + u*sx < W.
        const int64_t lo = std::min(Wq, first >= 0 ? 0 : (-first + sx - 1) / sx);
        const int64_t hi =
            std::max(lo, std::min(Wq, first >= g.W ? 0 : (g.W - 1 - first) / sx + 1));
        for (int64_t u = 0; u < lo; ++u) d[u] = 0;
        if (src1 && sx == 1) {
          // Contiguous, vectorised: as a scalar loop this was 4.5% of STFAN's bf16 frame at
          // 720p (perf), now 3.1%, most of it the first touch of the input.
          kern.pair_run(src0 + first + lo, src1 + first + lo, hi - lo, d + lo);
        } else if (src1) {
          for (int64_t u = lo; u < hi; ++u)
            d[u] = bf16_pair(src0[first + u * sx], src1[first + u * sx]);
        } else {
          for (int64_t u = lo; u < hi; ++u) d[u] = bf16_pair(src0[first + u * sx], 0.f);
        }
        for (int64_t u = hi; u < Wq; ++u) d[u] = 0;
      }
    }
  }
}

}  // namespace convgemm
}  // namespace cpu
}  // namespace deblurcore
