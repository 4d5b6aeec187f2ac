// The Winograd F(6x6, 3x3) block kernel (conv_winograd.h), AVX-512 only, in namespace
// cpu::avx512 (the ODR rule of cpp/cpu/README.md: everything here is in namespace wino6).
//
// The same three steps as the F(4x4, 3x3) kernel of conv_winograd_impl.h, on 6x6 output tiles
// computed from 8x8 input tiles: 64 GEMMs of Cin per 36 outputs, 1.78 multiplies per output
// and channel pair against F(4x4, 3x3)'s 2.25 and the direct convolution's 9. A block is one
// vector of 16 consecutive tiles of the image in row-major order (Kernel::flat): those of one
// tile row, or the end of one and the start of the next as Block's two runs, so that no lanes
// are lost to rows that are not a multiple of 16 tiles (IFAN's 160-pixel rows are 27 tiles).
// Its V and M are 64 matrices of 16 tiles, as large as F(4x4, 3x3)'s 36 of 32 tiles (what L2
// holds). Tile t starts at input column 6t: the row's 96 floats are permuted into the 8 input
// columns (and back for the 6 output columns) by the permutes of `Permutes`.
//
// The matrices (interpolation points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity; Lavin & Gray
// 2016; tests/test_conv_winograd6.py checks them against F.conv2d in float64):
//   B^T = [ 1  0    -21/4  0     21/4  0    -1  0 ]   A^T = [ 1  1  1  1   1   1     1     0 ]
//         [ 0  1     1    -17/4 -17/4  1     1  0 ]         [ 0  1 -1  2  -2   1/2  -1/2   0 ]
//         [ 0 -1     1     17/4 -17/4 -1     1  0 ]         [ 0  1  1  4   4   1/4   1/4   0 ]
//         [ 0  1/2   1/4  -5/2  -5/4   2     1  0 ]         [ 0  1 -1  8  -8   1/8  -1/8   0 ]
//         [ 0 -1/2   1/4   5/2  -5/4  -2     1  0 ]         [ 0  1  1  16  16  1/16  1/16  0 ]
//         [ 0  2     4    -5/2  -5     1/2   1  0 ]         [ 0  1 -1  32 -32  1/32 -1/32  1 ]
//         [ 0 -2     4     5/2  -5    -1/2   1  0 ]
//         [ 0 -1     0     21/4  0    -21/4  0  1 ]
// and G in conv_winograd.cpp (kG6).
#define DEBLURCORE_ISA avx512
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "cpu/conv_winograd.h"
#include "cpu/simd.h"
#include "epilogue.h"

namespace deblurcore {
namespace cpu {
namespace avx512 {
namespace wino6 {

using winograd::kPanel;
using winograd::kSkew;

constexpr int V = 16;
constexpr int kAlpha = 8;  // input tile side
constexpr int kTile = 6;   // output tile side
constexpr int kPoints = kAlpha * kAlpha;
constexpr int kBlockTiles = V;
constexpr int kRowFloats = kTile * kBlockTiles + 2;  // input columns a block reads (98)
constexpr int kRowBuffer = 7 * V;                    // whole vectors holding them

// z -> B^T z for eight vectors (in place).
inline void input_transform8(__m512* z) {
  const __m512 c525 = _mm512_set1_ps(5.25f), c425 = _mm512_set1_ps(4.25f);
  const __m512 c125 = _mm512_set1_ps(1.25f), c25 = _mm512_set1_ps(2.5f);
  const __m512 c4 = _mm512_set1_ps(4.f), c2 = _mm512_set1_ps(2.f);
  const __m512 c05 = _mm512_set1_ps(0.5f), c025 = _mm512_set1_ps(0.25f);
  const __m512 z0 = z[0], z1 = z[1], z2 = z[2], z3 = z[3], z4 = z[4], z5 = z[5], z6 = z[6],
               z7 = z[7];
  z[0] = _mm512_fmadd_ps(c525, _mm512_sub_ps(z4, z2), _mm512_sub_ps(z0, z6));
  z[7] = _mm512_fmadd_ps(c525, _mm512_sub_ps(z3, z5), _mm512_sub_ps(z7, z1));
  __m512 a = _mm512_fnmadd_ps(c425, z4, _mm512_add_ps(z2, z6));  // z2 + z6 - 4.25 z4
  __m512 b = _mm512_fnmadd_ps(c425, z3, _mm512_add_ps(z1, z5));  // z1 + z5 - 4.25 z3
  z[1] = _mm512_add_ps(a, b);
  z[2] = _mm512_sub_ps(a, b);
  a = _mm512_fmadd_ps(c025, z2, _mm512_fnmadd_ps(c125, z4, z6));  // z6 + z2/4 - 1.25 z4
  b = _mm512_fmadd_ps(c2, z5,
                      _mm512_fmsub_ps(c05, z1, _mm512_mul_ps(c25, z3)));  // z1/2 - 2.5 z3 + 2 z5
  z[3] = _mm512_add_ps(a, b);
  z[4] = _mm512_sub_ps(a, b);
  a = _mm512_fmadd_ps(c4, _mm512_fnmadd_ps(c125, z4, z2), z6);  // z6 + 4 (z2 - 1.25 z4)
  b = _mm512_fmadd_ps(c05, z5,
                      _mm512_fmsub_ps(c2, z1, _mm512_mul_ps(c25, z3)));  // 2 z1 - 2.5 z3 + z5/2
  z[5] = _mm512_add_ps(a, b);
  z[6] = _mm512_sub_ps(a, b);
}

// Eight vectors z -> the six A^T z.
inline void output_transform8(const __m512* z, __m512* y) {
  const __m512 a = _mm512_add_ps(z[1], z[2]), b = _mm512_sub_ps(z[1], z[2]);
  const __m512 c = _mm512_add_ps(z[3], z[4]), d = _mm512_sub_ps(z[3], z[4]);
  const __m512 e = _mm512_add_ps(z[5], z[6]), f = _mm512_sub_ps(z[5], z[6]);
  y[0] = _mm512_add_ps(_mm512_add_ps(z[0], a), _mm512_add_ps(c, e));
  y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.f), d, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), f, b));
  y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.f), c, _mm512_fmadd_ps(_mm512_set1_ps(0.25f), e, a));
  y[3] = _mm512_fmadd_ps(_mm512_set1_ps(8.f), d, _mm512_fmadd_ps(_mm512_set1_ps(0.125f), f, b));
  y[4] = _mm512_fmadd_ps(_mm512_set1_ps(16.f), c, _mm512_fmadd_ps(_mm512_set1_ps(0.0625f), e, a));
  y[5] = _mm512_add_ps(
      _mm512_fmadd_ps(_mm512_set1_ps(32.f), d, _mm512_fmadd_ps(_mm512_set1_ps(0.03125f), f, b)),
      z[7]);
}

// The permutations between a row of 16 tiles (96 consecutive floats: tile t at 6t) and its
// six column vectors (lane t of vector c holds column 6t + c), in two levels: each half of
// 8 tiles (48 floats, three vectors) is permuted into three vectors holding two columns each
// (lanes 0-7 column 2k, lanes 8-15 column 2k + 1), then the halves are merged: 18 permutes per
// direction. A first version gathered each column (vgatherdps) and scattered the output
// (vscatterdps): its input transform alone took 21% of a 128->128 layer at 320x180 (perf, one
// thread), three times F(4x4, 3x3)'s share.
struct Permutes {
  __m512i split_lo[3], split_hi[3];  // level 1: from (S0, S1), then S2 where split_mask
  __mmask16 split_mask[3];
  __m512i merge_even, merge_odd;   // level 2: columns 2k and 2k + 1 of the two halves
  __m512i join_lo[3], join_hi[3];  // the inverse of level 1: (A0, A1), then A2 where join_mask
  __mmask16 join_mask[3];
  Permutes() {
    alignas(64) int32_t lo[16], hi[16], elo[16], ehi[16];
    for (int k = 0; k < 3; ++k) {
      __mmask16 m = 0, jm = 0;
      for (int l = 0; l < 16; ++l) {
        const int pos = kTile * (l % 8) + 2 * k + l / 8;  // in the half's 48 floats
        lo[l] = pos < 32 ? pos : 0;
        hi[l] = pos < 32 ? 0 : pos - 32;
        if (pos >= 32) m = __mmask16(m | (1u << l));
        // Inverse: float 16k + l of the half comes from column c of tile t, which level 1 put
        // in vector c / 2, lane 8 (c % 2) + t.
        const int q = 16 * k + l, t = q / kTile, c = q % kTile, lane = 8 * (c % 2) + t;
        elo[l] = c / 2 == 0 ? lane : c / 2 == 1 ? 16 + lane : 0;
        ehi[l] = lane;
        if (c / 2 == 2) jm = __mmask16(jm | (1u << l));
      }
      split_lo[k] = _mm512_load_si512(lo), split_hi[k] = _mm512_load_si512(hi);
      split_mask[k] = m;
      join_lo[k] = _mm512_load_si512(elo), join_hi[k] = _mm512_load_si512(ehi);
      join_mask[k] = jm;
    }
    merge_even = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    merge_odd = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  }
};

// Level 1 of one half: its 48 floats at p -> three vectors of two columns.
inline void split_half(const Permutes& pm, const float* p, __m512* a) {
  const __m512 s0 = _mm512_loadu_ps(p), s1 = _mm512_loadu_ps(p + 16), s2 = _mm512_loadu_ps(p + 32);
  for (int k = 0; k < 3; ++k)
    a[k] = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(s0, pm.split_lo[k], s1),
                                      pm.split_mask[k], pm.split_hi[k], s2);
}

// z[c] = column c (0..7) of the 16 tiles whose input row starts at p (98 floats).
inline void load_columns(const Permutes& pm, const float* p, __m512* z) {
  __m512 a[3], b[3];
  split_half(pm, p, a);
  split_half(pm, p + 48, b);
  for (int k = 0; k < 3; ++k) {
    z[2 * k] = _mm512_permutex2var_ps(a[k], pm.merge_even, b[k]);
    z[2 * k + 1] = _mm512_permutex2var_ps(a[k], pm.merge_odd, b[k]);
  }
  // Columns 6 and 7 are columns 0 and 1 of the next tile.
  z[6] = Vec::next_lane(z[0], _mm512_set1_ps(p[96]));
  z[7] = Vec::next_lane(z[1], _mm512_set1_ps(p[97]));
}

// The inverse: six column vectors o[c] of 16 tiles -> their 96 floats at p.
inline void store_columns(const Permutes& pm, const __m512* o, float* p) {
  __m512 a[3], b[3];
  for (int k = 0; k < 3; ++k) {
    a[k] = _mm512_permutex2var_ps(o[2 * k], pm.merge_even, o[2 * k + 1]);
    b[k] = _mm512_permutex2var_ps(o[2 * k], pm.merge_odd, o[2 * k + 1]);
  }
  for (int k = 0; k < 3; ++k) {
    _mm512_storeu_ps(p + 16 * k,
                     _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(a[0], pm.join_lo[k], a[1]),
                                                pm.join_mask[k], pm.join_hi[k], a[2]));
    _mm512_storeu_ps(p + 48 + 16 * k,
                     _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(b[0], pm.join_lo[k], b[1]),
                                                pm.join_mask[k], pm.join_hi[k], b[2]));
  }
}

// Where a run of tiles (tiles [tx0, tx0 + nt) of tile row ty) reads its input rows.
struct TileRun {
  int64_t iy0, ix0;  // input row and column of the run's first tile (with the padding)
  int64_t lo, hi;    // columns [lo, hi) of the run's 6 nt + 2 lie inside the image
  TileRun(const winograd::Block& b, int64_t ty, int64_t tx0, int64_t nt) {
    iy0 = ty * kTile - b.pad_top, ix0 = tx0 * kTile - b.pad_left;
    const int64_t n = kTile * nt + 2;
    lo = ix0 < 0 ? -ix0 : 0;
    const int64_t hi0 = b.W - ix0;
    hi = hi0 < lo ? lo : hi0 > n ? n : hi0;
  }
};

// Copies input row r of channel ci of a run into dst (its 6 nt + 2 floats, zeros outside the
// image).
inline void copy_run_row(const winograd::Block& b, const TileRun& run, int64_t ci, int r,
                         int64_t nt, float* dst) {
  const int64_t n = kTile * nt + 2, iy = run.iy0 + r;
  if (iy < 0 || iy >= b.H || run.hi <= run.lo) {
    std::memset(dst, 0, sizeof(float) * size_t(n));
    return;
  }
  const float* src = b.x + (ci * b.H + iy) * b.W + run.ix0;
  for (int64_t i = 0; i < run.lo; ++i) dst[i] = 0.f;
  std::memcpy(dst + run.lo, src + run.lo, size_t(run.hi - run.lo) * sizeof(float));
  for (int64_t i = run.hi; i < n; ++i) dst[i] = 0.f;
}

// Asks for the input rows of channel ci of a run to be brought into L2 (as
// conv_winograd_impl.h's prefetch_run, one channel ahead: 8 short rows per channel that the
// hardware prefetcher does not follow).
inline void prefetch_run(const winograd::Block& b, const TileRun& run, int64_t ci) {
  if (run.hi <= run.lo) return;
  for (int r = 0; r < kAlpha; ++r) {
    const int64_t iy = run.iy0 + r;
    if (iy < 0 || iy >= b.H) continue;
    const float* src = b.x + (ci * b.H + iy) * b.W + run.ix0;
    prefetch_l2(src + run.lo, src + run.hi);
  }
}

// Step 1: V[xi][ci][t] = (B^T d B)[xi] of input channel ci for the block's tiles: the first
// run's in lanes [0, nt), the second's (the next tile row's first tiles) from lane nt on.
inline void transform_input(const Permutes& pm, const winograd::Block& b, float* v,
                            int64_t vstride) {
  alignas(64) float rows[kAlpha][kRowBuffer];
  const TileRun run(b, b.ty, b.tx0, b.nt), run2(b, b.ty2, b.tx02, b.nt2);
  // The whole row of a single run inside the image is read in place.
  const bool inside = b.nt2 == 0 && run.ix0 >= 0 && run.ix0 + kRowFloats <= b.W;
  for (int64_t ci = 0; ci < b.Cin; ++ci) {
    if (ci + 1 < b.Cin) {
      prefetch_run(b, run, ci + 1);
      if (b.nt2 > 0) prefetch_run(b, run2, ci + 1);
    }
    __m512 rowt[kAlpha][kAlpha];  // d B of each input row
    for (int r = 0; r < kAlpha; ++r) {
      const int64_t iy = run.iy0 + r;
      const float* p;
      float seam6 = 0.f, seam7 = 0.f;  // columns 6 and 7 of the first run's last tile
      if (inside && iy >= 0 && iy < b.H) {
        p = b.x + (ci * b.H + iy) * b.W + run.ix0;
      } else {
        copy_run_row(b, run, ci, r, b.nt, rows[r]);
        if (b.nt2 > 0) {
          seam6 = rows[r][kTile * b.nt], seam7 = rows[r][kTile * b.nt + 1];
          copy_run_row(b, run2, ci, r, b.nt2, rows[r] + kTile * b.nt);
        }
        for (int64_t i = kTile * (b.nt + b.nt2) + 2; i < kRowBuffer; ++i) rows[r][i] = 0.f;
        p = rows[r];
      }
      __m512 z[kAlpha];
      load_columns(pm, p, z);
      if (b.nt2 > 0) {  // the first run's last tile reads its own row, not the second run's
        const __mmask16 last = __mmask16(1u << (b.nt - 1));
        z[6] = _mm512_mask_mov_ps(z[6], last, _mm512_set1_ps(seam6));
        z[7] = _mm512_mask_mov_ps(z[7], last, _mm512_set1_ps(seam7));
      }
      input_transform8(z);  // d B along the row
      for (int c = 0; c < kAlpha; ++c) rowt[r][c] = z[c];
    }
    for (int c = 0; c < kAlpha; ++c) {
      __m512 z[kAlpha];
      for (int r = 0; r < kAlpha; ++r) z[r] = rowt[r][c];
      input_transform8(z);  // B^T along the column
      for (int r = 0; r < kAlpha; ++r)
        _mm512_storeu_ps(v + (r * kAlpha + c) * vstride + ci * kBlockTiles, z[r]);
    }
  }
}

// Step 2: M[xi][co][t] = sum_ci U[xi][co][ci] V[xi][ci][t], R output channels (one or two
// panels) per pass over the channels.
template <int R>
inline void gemm_rows(const float* vx, const float* up, int64_t up_stride, int64_t Cin, float* mo) {
  __m512 acc[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t ci = 0; ci < Cin; ++ci) {
    const __m512 bv = _mm512_loadu_ps(vx + ci * kBlockTiles);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const float* ak = up + (r / kPanel) * up_stride + ci * kPanel + r % kPanel;
      acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(*ak), bv, acc[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(mo + r * kBlockTiles, acc[r]);
}

// Part xi of 64 of the residual rows the output transform will read (6 per output channel and
// run), prefetched into L2 by the GEMM of point xi, as conv_winograd_impl.h's
// prefetch_residual does for F(4x4, 3x3) (short rows the hardware prefetcher does not follow).
inline void prefetch_residual_run(const winograd::Block& b, int xi, int64_t ty, int64_t tx0,
                                  int64_t nt) {
  const int64_t rows = b.Cout * kTile;
  const int64_t oy0 = ty * kTile, ox0 = tx0 * kTile;
  const int64_t width0 = b.Wout - ox0, wmax = kTile * nt;
  const int64_t width = width0 < wmax ? width0 : wmax;
  for (int64_t row = rows * xi / kPoints; row < rows * (xi + 1) / kPoints; ++row) {
    const int64_t oy = oy0 + row % kTile;
    if (oy >= b.Hout) continue;
    const float* r = b.residual + (row / kTile * b.Hout + oy) * b.Wout + ox0;
    prefetch_l2(r, r + width);
  }
}

inline void gemm(const winograd::Block& b, int64_t vstride, int64_t mstride) {
  const int64_t panels = (b.Cout + kPanel - 1) / kPanel, Cin = b.Cin;
  for (int xi = 0; xi < kPoints; ++xi) {
    if (b.residual) {
      prefetch_residual_run(b, xi, b.ty, b.tx0, b.nt);
      if (b.nt2 > 0) prefetch_residual_run(b, xi, b.ty2, b.tx02, b.nt2);
    }
    const float* vx = b.v + xi * vstride;
    const float* ux = b.u + xi * panels * Cin * kPanel;
    float* mx = b.m + xi * mstride;
    int64_t p = 0;
    for (; p + 2 <= panels; p += 2)
      gemm_rows<2 * kPanel>(vx, ux + p * Cin * kPanel, Cin * kPanel, Cin,
                            mx + p * kPanel * kBlockTiles);
    if (p < panels)
      gemm_rows<kPanel>(vx, ux + p * Cin * kPanel, Cin * kPanel, Cin,
                        mx + p * kPanel * kBlockTiles);
  }
}

// The epilogue and the stores of output channel co for a run of nt tiles (tile row ty, tiles
// from tx0) whose rows start at column `first` of `rows` (rows and columns past the output are
// dropped).
inline void store_run(const winograd::Block& b, int64_t co, int64_t ty, int64_t tx0, int64_t nt,
                      const float (*rows)[kRowBuffer], int64_t first, __m512 bias, __m512 scale,
                      __m512 shift) {
  const int64_t oy0 = ty * kTile, ox0 = tx0 * kTile;
  const int64_t width0 = b.Wout - ox0, wmax = kTile * nt;
  const int64_t width = width0 < wmax ? width0 : wmax;  // output columns of the run
  const int64_t plane = b.Hout * b.Wout;
  for (int i = 0; i < kTile; ++i) {
    const int64_t oy = oy0 + i;
    if (oy >= b.Hout) break;
    float* orow = b.out + co * plane + oy * b.Wout + ox0;
    const float* rrow = b.residual ? b.residual + co * plane + oy * b.Wout + ox0 : nullptr;
    for (int64_t x = 0; x < width; x += V) {
      const Vec::mask mask = Vec::tail_mask(int(width - x));
      const __m512 val =
          apply_epilogue<Vec>(b.epi, _mm512_loadu_ps(&rows[i][first + x]), bias, scale, shift,
                              VecResidual{rrow ? rrow + x : nullptr, mask});
      _mm512_mask_storeu_ps(orow + x, mask, val);
    }
  }
}

// Step 3: output tiles A^T M A, the epilogue, and the stores.
inline void transform_output(const Permutes& pm, const winograd::Block& b, int64_t mstride) {
  alignas(64) float rows[kTile][kRowBuffer];
  for (int64_t co = 0; co < b.Cout; ++co) {
    const float* mc = b.m + co * kBlockTiles;
    __m512 tmp[kTile][kAlpha];
    for (int c = 0; c < kAlpha; ++c) {
      __m512 z[kAlpha], o[kTile];
      for (int r = 0; r < kAlpha; ++r) z[r] = _mm512_loadu_ps(mc + (r * kAlpha + c) * mstride);
      output_transform8(z, o);  // A^T along the column
      for (int i = 0; i < kTile; ++i) tmp[i][c] = o[i];
    }
    for (int i = 0; i < kTile; ++i) {
      __m512 o[kTile];
      output_transform8(tmp[i], o);  // along the row
      store_columns(pm, o, rows[i]);
    }
    const __m512 bias = _mm512_set1_ps(b.bias ? b.bias[co] : 0.f);
    const __m512 scale = _mm512_set1_ps(b.scale ? b.scale[co] : 1.f);
    const __m512 shift = _mm512_set1_ps(b.shift ? b.shift[co] : 0.f);
    store_run(b, co, b.ty, b.tx0, b.nt, rows, 0, bias, scale, shift);
    if (b.nt2 > 0) store_run(b, co, b.ty2, b.tx02, b.nt2, rows, kTile * b.nt, bias, scale, shift);
  }
}

inline void run_block(const winograd::Block& b) {
  const int64_t vstride = b.Cin * kBlockTiles + kSkew;
  const int64_t mstride = (b.Cout + kPanel - 1) / kPanel * kPanel * kBlockTiles + kSkew;
  static const Permutes pm;  // built once, not per block
  transform_input(pm, b, b.v, vstride);
  gemm(b, vstride, mstride);
  transform_output(pm, b, mstride);
}

}  // namespace wino6

// The dispatch entry (conv_winograd.h).
extern const winograd::Kernel conv_winograd6_kernel{wino6::kBlockTiles, &wino6::run_block, wino6::V,
                                                    wino6::kTile,       wino6::kPoints,    true};

}  // namespace avx512
}  // namespace cpu
}  // namespace deblurcore
