// The Winograd F(4x4, 3x3) block kernel (conv_winograd.h), written once against the vector
// traits of cpu/simd.h and compiled per instruction set by conv_winograd_generic.cpp,
// conv_winograd_avx2.cpp and conv_winograd_avx512.cpp (see cpp/cpu/README.md).
//
// A block is up to kBlockTiles horizontally adjacent 4x4 output tiles of one tile row. Vector
// lanes run over tiles throughout:
//  1. input transform: per input channel, the 6 input rows under the tile row are copied with
//     their zero border and split into the 4 column phases (phase c holds columns c, c+4, ...),
//     so that input column c of every tile of a vector is one contiguous load (columns 4 and 5
//     are phases 0 and 1 one tile on); B^T d B then gives V[xi][ci][tile];
//  2. 36 GEMMs M[xi] = U[xi] V[xi]: kRows output channels x kNV vectors of tiles in
//     registers, the whole Cin reduction in one pass (no partial sums in memory);
//  3. output transform: A^T M A per output channel and vector of tiles, transposed back into
//     4 output rows, then the epilogue of epilogue.h on contiguous row vectors (with the
//     residual read in place) and one masked store (a non-temporal one for a large output,
//     see Block::stream_out).
#pragma once

#include <cstdint>
#include <cstring>

#include "cpu/conv_winograd.h"
#include "cpu/simd.h"
#include "epilogue.h"

namespace deblurcore {
namespace cpu {
namespace DEBLURCORE_ISA {
namespace wino {

using winograd::kAlpha;
using winograd::kPanel;
using winograd::kPoints;
using winograd::kSkew;
using winograd::kTile;

constexpr int V = Vec::V;
// GEMM register blocking: AVX-512 8 channels x 2 vectors (16 zmm accumulators, as the direct
// convolution's tile); AVX2 4 x 3 (12 of 16 ymm); generic 4 x 4. A panel of 8 channels is
// run as 8 / kRows calls.
constexpr int kRows = V == 16 ? 8 : 4;
constexpr int kNV = V == 16 ? 2 : V == 8 ? 3 : 4;
constexpr int kCols = kNV * V;
constexpr int kBlockTiles = kCols;  // measured: 2 * kCols ran 25% slower (L2 misses on V and M)
constexpr int kRowFloats = kTile * kBlockTiles + 2;  // input columns a block reads

// z -> B^T z for six vectors (in place). Written for both kinds of floating-point pipes (on
// Zen 4 two for multiplies and FMAs, two for adds): 7 multiplies/FMAs and 6 adds, where the
// same sums with a - b written as -1 * b + a ran all 14 ops on the first two. Every output
// is rounded as before (4 z is exact, so 4 z4 - z2 rounds once either way); rows 0 and 5 keep
// their two FMAs, as a third rounding there measurably raised IFAN's error at 720p
// (1.2e-4 -> 1.5e-4 on uniform-noise frames against PyTorch).
inline void input_transform6(Vec::v* z) {
  const Vec::v four = Vec::set1(4.f), m5 = Vec::set1(-5.f), two = Vec::set1(2.f);
  const Vec::v z0 = z[0], z1 = z[1], z2 = z[2], z3 = z[3], z4 = z[4], z5 = z[5];
  const Vec::v p = Vec::fmsub(four, z4, z2);         // 4 z4 - z2
  const Vec::v q = Vec::fmsub(four, z3, z1);         // 4 z3 - z1
  const Vec::v e = Vec::sub(z1, z3);                 // z1 - z3
  const Vec::v f = Vec::mul(two, Vec::sub(z2, z4));  // 2 (z2 - z4)
  z[0] = Vec::fmadd(four, z4, Vec::fmadd(m5, z2, z0));
  z[1] = Vec::add(p, q);
  z[2] = Vec::sub(p, q);
  z[3] = Vec::add(f, e);
  z[4] = Vec::sub(f, e);
  z[5] = Vec::fmadd(four, z5, Vec::fmadd(m5, z3, z1));
}

// Six vectors z -> the four A^T z.
inline void output_transform6(const Vec::v* z, Vec::v* y) {
  const Vec::v s12 = Vec::add(z[1], z[2]), s34 = Vec::add(z[3], z[4]);
  // The differences as FMAs, so that this transform's 10 ops are split 5 / 5 between the
  // FMA and add pipes (as true subtractions 3 / 7).
  const Vec::v minus_one = Vec::set1(-1.f);
  const Vec::v d12 = Vec::fmadd(minus_one, z[2], z[1]), d34 = Vec::fmadd(minus_one, z[4], z[3]);
  y[0] = Vec::add(Vec::add(z[0], s12), s34);
  y[1] = Vec::fmadd(Vec::set1(0.5f), d34, d12);
  y[2] = Vec::fmadd(Vec::set1(0.25f), s34, s12);
  y[3] = Vec::add(Vec::fmadd(Vec::set1(0.125f), d34, d12), z[5]);
}

// Step 1: the transformed input of the block's tiles (tiles past nt see zeros or real input;
// their results are never stored), handed to `sink(ci, xi, t0, value)`: value holds
// (B^T d B)[xi] of input channel ci for tiles t0 .. t0 + V - 1. Channels come in order, and
// all of a channel before the next one.
template <class Sink>
inline void transform_input(const winograd::Block& b, Sink&& sink) {
  constexpr int T = kBlockTiles;
  // Vectors of tiles that hold the block's nt tiles (a narrower last block of a row computes
  // only those).
  const int tiles = int((b.nt + V - 1) / V) * V;
  // One input row of the block, input columns ix0 .. ix0 + kRowFloats - 1 (and zeros up to
  // the one extra group of V tiles that columns 4 and 5 of the last tiles need).
  alignas(64) float row[kTile * (T + V)];
  // phase[r][c][t] = input (row r, column 4t + c) of the block, t <= T.
  alignas(64) float phase[kAlpha][kTile][T + V];
  const int64_t iy0 = b.ty * kTile - b.pad_top, ix0 = b.tx0 * kTile - b.pad_left;
  // Input columns [lo, hi) of the row buffer lie inside the image.
  const int64_t lo = ix0 < 0 ? -ix0 : 0;
  const int64_t hi0 = b.W - ix0;
  const int64_t hi = hi0 < lo ? lo : hi0 > kRowFloats ? kRowFloats : hi0;
  // Whether the whole row buffer can be read in place from the image.
  const bool inside = ix0 >= 0 && ix0 + kTile * (T + V) <= b.W;
  for (int64_t ci = 0; ci < b.Cin; ++ci) {
    for (int r = 0; r < kAlpha; ++r) {
      const int64_t iy = iy0 + r;
      const float* rp = row;
      if (iy < 0 || iy >= b.H || hi <= lo) {
        std::memset(row, 0, sizeof(row));
      } else {
        const float* src = b.x + (ci * b.H + iy) * b.W + ix0;
        if (inside) {
          rp = src;
        } else {
          for (int64_t i = 0; i < lo; ++i) row[i] = 0.f;
          std::memcpy(row + lo, src + lo, size_t(hi - lo) * sizeof(float));
          for (int64_t i = hi; i < kTile * (T + V); ++i) row[i] = 0.f;
        }
      }
      for (int t0 = 0; t0 <= tiles; t0 += V) {
        Vec::v ph[kTile];
        Vec::deinterleave4(rp + kTile * t0, ph);
        for (int c = 0; c < kTile; ++c) Vec::store(&phase[r][c][t0], ph[c]);
      }
    }
    for (int t0 = 0; t0 < tiles; t0 += V) {
      Vec::v z[kAlpha][kAlpha];
      for (int r = 0; r < kAlpha; ++r) {
        for (int c = 0; c < kAlpha; ++c) z[r][c] = Vec::load(&phase[r][c % kTile][t0 + c / kTile]);
        input_transform6(z[r]);  // d B along the row
      }
      for (int c = 0; c < kAlpha; ++c) {
        Vec::v col[kAlpha];
        for (int r = 0; r < kAlpha; ++r) col[r] = z[r][c];
        input_transform6(col);  // B^T along the column
        for (int r = 0; r < kAlpha; ++r) sink(ci, r * kAlpha + c, t0, col[r]);
      }
    }
  }
}

// Part xi of 36 of the residual rows the output transform will read (4 per output channel),
// prefetched into L2 by the GEMM of point xi: a row is ~130 floats, too short a run for the
// hardware prefetcher, and the epilogue waited on each. Measured (2 threads, a C++ loop over
// the 720p 32->32 conv with a residual two layers old, as in a ResnetBlock): 45.5 -> 40.4 ms,
// the time without a residual; prefetching into L1 instead: 42 ms.
inline void prefetch_residual(const winograd::Block& b, int xi) {
  if (!b.residual) return;
  const int64_t rows = b.Cout * kTile;
  const int64_t oy0 = b.ty * kTile, ox0 = b.tx0 * kTile;
  const int64_t width0 = b.Wout - ox0, wmax = kTile * b.nt;
  const int64_t width = width0 < wmax ? width0 : wmax;  // no std::min here (ODR rule, README)
  for (int64_t row = rows * xi / kPoints; row < rows * (xi + 1) / kPoints; ++row) {
    const int64_t oy = oy0 + row % kTile;
    if (oy >= b.Hout) continue;
    const float* r = b.residual + (row / kTile * b.Hout + oy) * b.Wout + ox0;
    prefetch_l2(r, r + width);
  }
}

// Step 2: M[xi][co][t] = sum_ci U[xi][co][ci] V[xi][ci][t] for all 36 xi, over the first NV
// vectors of tiles (kBlockTiles = kNV vectors is one register block).
template <int NV>
inline void gemm_vectors(const winograd::Block& b) {
  constexpr int T = kBlockTiles;
  static_assert(kCols == T && NV >= 1 && NV <= kNV, "one register block per block of tiles");
  const int64_t panels = (b.Cout + kPanel - 1) / kPanel, Cin = b.Cin;
  for (int xi = 0; xi < kPoints; ++xi) {
    prefetch_residual(b, xi);
    const float* vx = b.v + xi * (Cin * T + kSkew);
    for (int64_t p = 0; p < panels; ++p) {
      const float* up = b.u + (xi * panels + p) * Cin * kPanel;
      for (int half = 0; half < kPanel; half += kRows) {
        Vec::v acc[kRows][NV];
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[r][v] = Vec::zero();
#pragma GCC unroll 2
        for (int64_t ci = 0; ci < Cin; ++ci) {
          const float* bk = vx + ci * T;
          Vec::v bv[NV];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) bv[v] = Vec::load(bk + V * v);
          const float* ak = up + ci * kPanel + half;
#pragma GCC unroll 8
          for (int r = 0; r < kRows; ++r) {
            const Vec::v av = Vec::set1(ak[r]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[r][v] = Vec::fmadd(av, bv[v], acc[r][v]);
          }
        }
        float* mo = b.m + xi * (panels * kPanel * T + kSkew) + (p * kPanel + half) * T;
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) Vec::store(mo + r * T + V * v, acc[r][v]);
      }
    }
  }
}

// Runs `Gemm<NV>` with the fewest vectors NV <= kNV that hold the block's nt tiles: the last
// block of a tile row is often narrower (a 320-pixel row is 80 tiles, 2.5 blocks of 32 on
// AVX-512), and computing its empty columns was up to a third of such a layer's GEMM work.
template <template <int> class Gemm, int NV = kNV>
inline void for_block_width(const winograd::Block& b) {
  if constexpr (NV > 1) {
    if (b.nt <= int64_t(NV - 1) * V) return for_block_width<Gemm, NV - 1>(b);
  }
  Gemm<NV>::run(b);
}

template <int NV>
struct FloatGemm {
  static void run(const winograd::Block& b) { gemm_vectors<NV>(b); }
};

inline void gemm(const winograd::Block& b) { for_block_width<FloatGemm>(b); }

// Step 3: output tiles A^T M A, the epilogue, and the stores (rows and columns past the
// output are dropped).
inline void transform_output(const winograd::Block& b) {
  constexpr int T = kBlockTiles;
  alignas(64) float rows[kTile][kTile * T];
  const int64_t panels = (b.Cout + kPanel - 1) / kPanel;
  const int64_t xi_stride = panels * kPanel * T + kSkew;
  const int64_t oy0 = b.ty * kTile, ox0 = b.tx0 * kTile;
  const int64_t width0 = b.Wout - ox0;
  const int64_t wmax = kTile * b.nt;
  const int64_t width = width0 < wmax ? width0 : wmax;  // output columns of the block
  const int64_t plane = b.Hout * b.Wout;
  const int tvecs = int((b.nt + V - 1) / V);
  for (int64_t co = 0; co < b.Cout; ++co) {
    const float* mc = b.m + co * T;
    for (int tv = 0; tv < tvecs; ++tv) {
      const int t0 = tv * V;
      Vec::v tmp[kTile][kAlpha];
      for (int c = 0; c < kAlpha; ++c) {
        Vec::v z[kAlpha], o[kTile];
        for (int r = 0; r < kAlpha; ++r) z[r] = Vec::load(mc + (r * kAlpha + c) * xi_stride + t0);
        output_transform6(z, o);  // A^T along the column
        for (int i = 0; i < kTile; ++i) tmp[i][c] = o[i];
      }
      for (int i = 0; i < kTile; ++i) {
        Vec::v o[kTile];
        output_transform6(tmp[i], o);  // along the row
        Vec::interleave4(o, &rows[i][kTile * t0]);
      }
    }
    const Vec::v bias = Vec::set1(b.bias ? b.bias[co] : 0.f);
    const Vec::v scale = Vec::set1(b.scale ? b.scale[co] : 1.f);
    const Vec::v shift = Vec::set1(b.shift ? b.shift[co] : 0.f);
    for (int i = 0; i < kTile; ++i) {
      const int64_t oy = oy0 + i;
      if (oy >= b.Hout) break;
      float* orow = b.out + co * plane + oy * b.Wout + ox0;
      const float* rrow = b.residual ? b.residual + co * plane + oy * b.Wout + ox0 : nullptr;
      for (int64_t x = 0; x < width; x += V) {
        const Vec::mask mask = Vec::tail_mask(int(width - x));
        const Vec::v val = apply_epilogue<Vec>(b.epi, Vec::load(&rows[i][x]), bias, scale, shift,
                                               VecResidual{rrow ? rrow + x : nullptr, mask});
        if (b.stream_out && width - x >= V &&
            reinterpret_cast<uintptr_t>(orow + x) % Vec::kStreamAlign == 0)
          Vec::stream(orow + x, val);
        else
          Vec::store(orow + x, mask, val);
      }
    }
  }
}

inline void run_block(const winograd::Block& b) {
  // V[xi][ci][t]: the 36 matrices (Cin x T), kSkew floats apart.
  const int64_t vstride = b.Cin * kBlockTiles + kSkew;
  transform_input(b, [&](int64_t ci, int xi, int t0, Vec::v value) {
    Vec::store(b.v + xi * vstride + ci * kBlockTiles + t0, value);
  });
  gemm(b);
  transform_output(b);
  if (b.stream_out) Vec::stream_fence();
}

}  // namespace wino

#ifndef DEBLURCORE_WINOGRAD_NO_FP32_ENTRY
// This instruction set's entry of the dispatch table (conv_winograd.h).
extern const winograd::Kernel conv_winograd_kernel{wino::kBlockTiles, &wino::run_block};
#endif

}  // namespace DEBLURCORE_ISA
}  // namespace cpu
}  // namespace deblurcore
