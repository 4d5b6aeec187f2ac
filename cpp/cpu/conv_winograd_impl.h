// The Winograd F(4x4, 3x3) block kernel (conv_winograd.h), written once against the vector
// traits of cpu/simd.h and compiled per instruction set by conv_winograd_generic.cpp,
// conv_winograd_avx2.cpp and conv_winograd_avx512.cpp (see cpp/cpu/README.md).
//
// A block is up to kBlockTiles horizontally adjacent 4x4 output tiles of one tile row, or two
// such runs of two tile rows that fit in one vector together (the short last blocks of two
// rows, see Block). Vector lanes run over tiles throughout:
//  1. input transform: per input channel, each of the 6 input rows under the tile row (read in
//     place, or copied with its zero border at the image's edges) is split in registers into
//     the 4 column phases (phase c holds columns c, c+4, ...), so that input column c of every
//     tile of a vector is one vector (columns 4 and 5 are phases 0 and 1 shifted by a tile);
//     B^T d B then gives V[xi][ci][tile];
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

// Where a run of tiles (tiles [tx0, ...) of tile row ty) reads its input rows.
struct TileRun {
  int64_t iy0, ix0;  // input row and column of the run's first tile (with the padding)
  int64_t lo, hi;    // columns [lo, hi) of its row buffer lie inside the image
  bool inside;       // the whole row buffer can be read in place from the image
  TileRun(const winograd::Block& b, int64_t ty, int64_t tx0) {
    constexpr int T = kBlockTiles;
    iy0 = ty * kTile - b.pad_top, ix0 = tx0 * kTile - b.pad_left;
    lo = ix0 < 0 ? -ix0 : 0;
    const int64_t hi0 = b.W - ix0;
    hi = hi0 < lo ? lo : hi0 > kRowFloats ? kRowFloats : hi0;
    inside = ix0 >= 0 && ix0 + kTile * (T + V) <= b.W;
  }
};

// Asks for the input rows channel ci of a run reads to be brought into L2. The transform
// reads 6 rows of ~130 floats per channel, 6 * Cin short runs per block that the hardware
// prefetcher does not follow; it asks one channel ahead. Measured with the register-direct
// transform below (a C++ loop over conv2d with a prepared weight, 2 threads, the two builds
// alternating, medians of 3): 32->32 at 1280x720 38.8-44.8 -> 32.6-33.7 ms, 64->64 at 640x360
// 29.3 -> 25.8, 128->128 at 320x180 26.3 -> 23.7, at 160x90 6.78 -> 6.44 (both changes);
// inputs that stay in cache lost nothing (3->32 at 1280x720 9.0-9.5 ms either way, 128->128
// at 80x45 5.46). Two channels ahead or into L1 was slower (1 thread, transform alone).
inline void prefetch_run(const winograd::Block& b, const TileRun& run, int64_t ci) {
  if (run.hi <= run.lo) return;
  for (int r = 0; r < kAlpha; ++r) {
    const int64_t iy = run.iy0 + r;
    if (iy < 0 || iy >= b.H) continue;
    const float* src = b.x + (ci * b.H + iy) * b.W + run.ix0;
    prefetch_l2(src + run.lo, src + run.hi);
  }
}

// rp[r] = input row r of the run in channel ci, from its first column: the image row itself
// where the run's columns lie inside it, else a copy in rows[r] with zeros outside the image.
inline void run_rows(const winograd::Block& b, const TileRun& run, int64_t ci,
                     float (*rows)[kTile * (kBlockTiles + V)], const float** rp) {
  constexpr int n = kTile * (kBlockTiles + V);
  for (int r = 0; r < kAlpha; ++r) {
    const int64_t iy = run.iy0 + r;
    if (iy < 0 || iy >= b.H || run.hi <= run.lo) {
      std::memset(rows[r], 0, sizeof(float) * n);
      rp[r] = rows[r];
      continue;
    }
    const float* src = b.x + (ci * b.H + iy) * b.W + run.ix0;
    if (run.inside) {
      rp[r] = src;
      continue;
    }
    for (int64_t i = 0; i < run.lo; ++i) rows[r][i] = 0.f;
    std::memcpy(rows[r] + run.lo, src + run.lo, size_t(run.hi - run.lo) * sizeof(float));
    for (int64_t i = run.hi; i < n; ++i) rows[r][i] = 0.f;
    rp[r] = rows[r];
  }
}

// phase[r][c][t] = the input of channel ci at (row r, column 4t + c) of the run, for t <= tiles
// (a multiple of V), zeros outside the image; `rows` as for run_rows.
inline void load_phases(const winograd::Block& b, const TileRun& run, int64_t ci, int tiles,
                        float (*rows)[kTile * (kBlockTiles + V)],
                        float (*phase)[kTile][kBlockTiles + V]) {
  const float* rp[kAlpha];
  run_rows(b, run, ci, rows, rp);
  for (int r = 0; r < kAlpha; ++r)
    for (int t0 = 0; t0 <= tiles; t0 += V) {
      Vec::v ph[kTile];
      Vec::deinterleave4(rp[r] + kTile * t0, ph);
      for (int c = 0; c < kTile; ++c) Vec::store(&phase[r][c][t0], ph[c]);
    }
}

// B^T d B of the vector of tiles whose 6x6 inputs are z (z[r][c]: row r, column c), handed to
// the sink as the 36 points.
template <class Sink>
inline void transform_tiles(Vec::v (*z)[kAlpha], int64_t ci, int t0, Sink& sink) {
  for (int r = 0; r < kAlpha; ++r) input_transform6(z[r]);  // d B along the row
  for (int c = 0; c < kAlpha; ++c) {
    Vec::v col[kAlpha];
    for (int r = 0; r < kAlpha; ++r) col[r] = z[r][c];
    input_transform6(col);  // B^T along the column
    for (int r = 0; r < kAlpha; ++r) sink(ci, r * kAlpha + c, t0, col[r]);
  }
}

// Step 1: the transformed input of the block's tiles (tiles past its lanes see zeros or real
// input; their results are never stored), handed to `sink(ci, xi, t0, value)`: value holds
// (B^T d B)[xi] of input channel ci for tiles t0 .. t0 + V - 1. Channels come in order, and
// all of a channel before the next one.
template <class Sink>
inline void transform_input(const winograd::Block& b, Sink&& sink) {
  constexpr int T = kBlockTiles;
  const TileRun run(b, b.ty, b.tx0);
  if (b.nt2 > 0) {
    // Two runs in one vector of tiles: the first run's tiles in lanes [0, nt), the second's
    // from lane nt on. Their 6 input columns are gathered per lane (column 4 and 5 of a tile are
    // the next tile's phases 0 and 1, which across the seam belong to the other run).
    alignas(64) float rows[kAlpha][kTile * (T + V)];
    alignas(64) float phase[kAlpha][kTile][T + V], phase2[kAlpha][kTile][T + V];
    alignas(64) float cols[kAlpha][kAlpha][2 * V];
    const TileRun run2(b, b.ty2, b.tx02);
    for (int64_t ci = 0; ci < b.Cin; ++ci) {
      load_phases(b, run, ci, V, rows, phase);
      load_phases(b, run2, ci, V, rows, phase2);
      Vec::v z[kAlpha][kAlpha];
      for (int r = 0; r < kAlpha; ++r)
        for (int c = 0; c < kAlpha; ++c) {
          Vec::store(&cols[r][c][0], Vec::load(&phase[r][c % kTile][c / kTile]));
          Vec::store(&cols[r][c][b.nt], Vec::load(&phase2[r][c % kTile][c / kTile]));
          z[r][c] = Vec::load(&cols[r][c][0]);
        }
      transform_tiles(z, ci, 0, sink);
    }
    return;
  }
  // Vectors of tiles that hold the block's nt tiles (a narrower last block of a row computes
  // only those).
  const int tiles = int((b.nt + V - 1) / V) * V;
  alignas(64) float rows[kAlpha][kTile * (T + V)];
  for (int64_t ci = 0; ci < b.Cin; ++ci) {
    if (ci + 1 < b.Cin) prefetch_run(b, run, ci + 1);
    const float* rp[kAlpha];
    run_rows(b, run, ci, rows, rp);
    for (int t0 = 0; t0 < tiles; t0 += V) {
      // Columns 0-3 of the V tiles split from the row in registers; columns 4 and 5 are
      // columns 0 and 1 one tile on: the same vectors shifted by a lane, the last lane from
      // the next tile's first two inputs. (Staging the split rows in a buffer and loading
      // columns 4 and 5 one float on cost ~30% more: the transform's compute, input in cache,
      // 131 -> 101 ns per channel and 16 tiles, 1 thread.)
      Vec::v z[kAlpha][kAlpha];
      for (int r = 0; r < kAlpha; ++r) {
        const float* p = rp[r] + kTile * t0;
        Vec::deinterleave4(p, z[r]);
        z[r][4] = Vec::next_lane(z[r][0], Vec::set1(p[kTile * V]));
        z[r][5] = Vec::next_lane(z[r][1], Vec::set1(p[kTile * V + 1]));
      }
      transform_tiles(z, ci, t0, sink);
    }
  }
}

// Part xi of 36 of the residual rows the output transform will read (4 per output channel),
// prefetched into L2 by the GEMM of point xi: a row is ~130 floats, too short a run for the
// hardware prefetcher, and the epilogue waited on each. Measured (2 threads, a C++ loop over
// the 720p 32->32 conv with a residual two layers old, as in a ResnetBlock): 45.5 -> 40.4 ms,
// the time without a residual; prefetching into L1 instead: 42 ms.
inline void prefetch_residual_run(const winograd::Block& b, int xi, int64_t ty, int64_t tx0,
                                  int64_t nt) {
  const int64_t rows = b.Cout * kTile;
  const int64_t oy0 = ty * kTile, ox0 = tx0 * kTile;
  const int64_t width0 = b.Wout - ox0, wmax = kTile * nt;
  const int64_t width = width0 < wmax ? width0 : wmax;  // no std::min here (ODR rule, README)
  for (int64_t row = rows * xi / kPoints; row < rows * (xi + 1) / kPoints; ++row) {
    const int64_t oy = oy0 + row % kTile;
    if (oy >= b.Hout) continue;
    const float* r = b.residual + (row / kTile * b.Hout + oy) * b.Wout + ox0;
    prefetch_l2(r, r + width);
  }
}

inline void prefetch_residual(const winograd::Block& b, int xi) {
  if (!b.residual) return;
  prefetch_residual_run(b, xi, b.ty, b.tx0, b.nt);
  if (b.nt2 > 0) prefetch_residual_run(b, xi, b.ty2, b.tx02, b.nt2);
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
    if (b.nt + b.nt2 <= int64_t(NV - 1) * V) return for_block_width<Gemm, NV - 1>(b);
  }
  Gemm<NV>::run(b);
}

template <int NV>
struct FloatGemm {
  static void run(const winograd::Block& b) { gemm_vectors<NV>(b); }
};

inline void gemm(const winograd::Block& b) { for_block_width<FloatGemm>(b); }

// The epilogue and the stores of output channel co for a run of nt tiles (tile row ty, tiles
// from tx0) whose transformed rows start at column `first` of `rows` (rows and columns past
// the output are dropped).
inline void store_run(const winograd::Block& b, int64_t co, int64_t ty, int64_t tx0, int64_t nt,
                      const float (*rows)[kTile * kBlockTiles], int64_t first, Vec::v bias,
                      Vec::v scale, Vec::v shift) {
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
      const Vec::v val = apply_epilogue<Vec>(b.epi, Vec::load(&rows[i][first + x]), bias, scale,
                                             shift, VecResidual{rrow ? rrow + x : nullptr, mask});
      if (b.stream_out && width - x >= V &&
          reinterpret_cast<uintptr_t>(orow + x) % Vec::kStreamAlign == 0)
        Vec::stream(orow + x, val);
      else
        Vec::store(orow + x, mask, val);
    }
  }
}

// Step 3: output tiles A^T M A, the epilogue, and the stores.
inline void transform_output(const winograd::Block& b) {
  constexpr int T = kBlockTiles;
  alignas(64) float rows[kTile][kTile * T];
  const int64_t panels = (b.Cout + kPanel - 1) / kPanel;
  const int64_t xi_stride = panels * kPanel * T + kSkew;
  const int tvecs = int((b.nt + b.nt2 + V - 1) / V);
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
    store_run(b, co, b.ty, b.tx0, b.nt, rows, 0, bias, scale, shift);
    if (b.nt2 > 0) store_run(b, co, b.ty2, b.tx02, b.nt2, rows, kTile * b.nt, bias, scale, shift);
  }
}

inline void run_block(const winograd::Block& b) {
  // V[xi][ci][t]: the 36 matrices (Cin x T), kSkew floats apart.
  const int64_t vstride = b.Cin * kBlockTiles + kSkew;
  // The pointer is captured by value: a store through b.v might, for all the compiler knows,
  // change b itself, and it reloaded b.v before every store.
  float* const v = b.v;
  transform_input(b, [v, vstride](int64_t ci, int xi, int t0, Vec::v value) {
    Vec::store(v + xi * vstride + ci * kBlockTiles + t0, value);
  });
  gemm(b);
  transform_output(b);
  if (b.stream_out) Vec::stream_fence();
}

}  // namespace wino

#ifndef DEBLURCORE_WINOGRAD_NO_FP32_ENTRY
// This instruction set's entry of the dispatch table (conv_winograd.h).
extern const winograd::Kernel conv_winograd_kernel{wino::kBlockTiles, &wino::run_block, wino::V};
#endif

}  // namespace DEBLURCORE_ISA
}  // namespace cpu
}  // namespace deblurcore
