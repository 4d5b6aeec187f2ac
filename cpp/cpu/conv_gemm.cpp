// The driver of the fast CPU conv2d and conv_transpose2d: packed GEMM with an implicit im2col.
//
// Both ops are reduced to one "virtual convolution": output grid point (qy, qx) of channel co
// is sum over (ci, jy, jx) of A[co, (ci, jy, jx)] * x[ci, qy*sy + offy[jy], qx*sx + offx[jx]]
// (zero outside the image), stored at output (oy0 + ssy*qy, ox0 + ssx*qx).
//  * conv2d: offy[ky] = ky*dh - ph, sy = stride, stored densely (ssy = 1).
//  * conv_transpose2d: split into stride_h x stride_w output phases (sub-pixel
//    decomposition). The outputs of one phase are a strided sub-grid of the output that only
//    some taps reach, each through a fixed input offset, so every phase is a dense stride-1
//    convolution with a subset of the taps; no multiply by an inserted zero is wasted.
//
// GEMM view: C (Cout x pixels) = A (Cout x K) * B (K x pixels), K = Cin * taps. A (the
// weights) is packed once per call into MR-row panels. B (im2col) is never materialised: for
// a tile of whole output rows and one block of input channels, the input patch those rows
// read is copied once with its zero border (columns split by phase for strided convs), and
// the tile kernel of the instruction set (conv_gemm_tile.h) reads every im2col row straight from it through a
// table of row offsets. The epilogue (bias, residual, activation) is fused into the last K
// block's stores. The phases of a transposed convolution run in the same work item: they
// share one patch, and their outputs, computed into a tile buffer with the epilogue applied,
// interleave into output rows that are still in cache (two phases of alternate columns
// together, by vectorizable interleaving loops); a residual of such an output is gathered into
// tiles first, so that the tile kernel applies the whole epilogue everywhere. Threads take
// (image, row tile, channel chunk) work items dynamically, which also balances a machine shared
// with others; their scratch comes from the Context (reused by a model's caching allocator).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu/conv_gemm.h"
#include "cpu/conv_gemm_bf16.h"
#include "cpu/isa.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cpu {
namespace convgemm {

const TileKernel& select_tile_kernel(const Context& ctx) {
  if (ctx.precision() == Precision::BF16) return select_bf16_tile_kernel(ctx);
  const IsaTable<const TileKernel*> table{&generic::conv_gemm_kernel,
                                          DEBLURCORE_ISA_ENTRY(&avx2::conv_gemm_kernel),
                                          DEBLURCORE_ISA_ENTRY(&avx512::conv_gemm_kernel)};
  return *select_isa(ctx, table);
}

namespace {

// The epilogue of one value of tile row m (channel co0 + m of the tile's image), for outputs
// the tile kernel leaves unfinished (scattered residual positions).
inline float epilogue_scalar(const TileArgs& t, float v, int64_t m, const float* res) {
  return apply_epilogue<ScalarEpilogueMath<float>>(t.epi, v, t.bias ? t.bias[m] : 0.f,
                                                   t.scale ? t.scale[m] : 1.f,
                                                   t.shift ? t.shift[m] : 0.f, ScalarResidual{res});
}

// Blocking: a tile covers about kTargetNC output pixels (whole rows) and a K block about
// kTargetKC im2col rows (whole input channels), so the patch of a block (~100-300 KB) stays
// in L2 and the weights of a block (Cout x KC) mostly in L1/L2.
constexpr int64_t kTargetNC = 384;
// With at most mr/2 output channels (the tile kernels' few-channel path, e.g. a last conv to
// RGB) the output tile is small and the patch copy weighs as much as the GEMM: rows of ~4096
// pixels copy each input row of a 3x3 conv ~1.7 times instead of 3 (1280-wide rows, 3 output
// channels: 27 ms of CPU time per call instead of 37, R = 2 to 4 measured alike).
constexpr int64_t kTargetNCFewChannels = 4096;
constexpr int64_t kTargetKC = 128;
// Below this many multiply-adds a parallel region costs more than it saves.
constexpr double kParallelMacs = 1 << 20;

// A run of consecutive output grid points of one grid row inside a pixel tile.
struct Segment {
  int64_t qy, qx0, len, col;  // col: first column of the run in the output tile
};

void tile_segments(int64_t Qw, int64_t p0, int64_t np, std::vector<Segment>& segs) {
  segs.clear();
  int64_t qy = p0 / Qw, qx = p0 % Qw, col = 0;
  while (col < np) {
    const int64_t len = std::min(Qw - qx, np - col);
    segs.push_back({qy, qx, len, col});
    col += len;
    ++qy;
    qx = 0;
  }
}

// Copies channels [ci0, ci0+nch) of image x, input rows [iy0, iy0+rows), to buf (channel
// pitch cpitch, row pitch sx*Wq), zero outside the image. Columns are split by phase: phase f
// of a patch row holds input columns ix0 + f + u*sx for u < Wq, so that a tap of a strided
// convolution reads consecutive floats too.
void pack_patch(const ConvGeometry& g, const float* x, int64_t ci0, int64_t nch, int64_t iy0,
                int64_t rows, int64_t ix0, int64_t Wq, int64_t cpitch, float* buf) {
  const int64_t sx = g.sx, rowpitch = sx * Wq;
  for (int64_t c = 0; c < nch; ++c)
    for (int64_t r = 0; r < rows; ++r) {
      float* drow = buf + c * cpitch + r * rowpitch;
      const int64_t iy = iy0 + r;
      if (iy < 0 || iy >= g.H) {
        std::memset(drow, 0, size_t(rowpitch) * sizeof(float));
        continue;
      }
      const float* src = x + ((ci0 + c) * g.H + iy) * g.W;
      for (int64_t f = 0; f < sx; ++f) {
        float* d = drow + f * Wq;
        const int64_t first = ix0 + f;  // input column of u = 0
        // u in [lo, hi) reads inside the row: 0 <= first + u*sx < W.
        const int64_t lo = std::min(Wq, first >= 0 ? 0 : (-first + sx - 1) / sx);
        const int64_t hi =
            std::max(lo, std::min(Wq, first >= g.W ? 0 : (g.W - 1 - first) / sx + 1));
        for (int64_t u = 0; u < lo; ++u) d[u] = 0.f;
        if (sx == 1) {
          std::memcpy(d + lo, src + first + lo, size_t(hi - lo) * sizeof(float));
        } else if (sx == 2) {  // a constant stride: the compiler vectorizes this gather
          const float* s2 = src + first;
          for (int64_t u = lo; u < hi; ++u) d[u] = s2[2 * u];
        } else {
          for (int64_t u = lo; u < hi; ++u) d[u] = src[first + u * sx];
        }
        for (int64_t u = hi; u < Wq; ++u) d[u] = 0.f;
      }
    }
}

// Writes `len` tile values c[u] to out[u*step], applying the epilogue unless the tile kernel
// already did (`fused`, the usual case: a per-element activation branch here mispredicts on
// half the outputs and once took as long as the GEMM itself).
void scatter_run(const TileArgs& t, bool fused, const float* c, int64_t len, int64_t m, float* out,
                 const float* res, int64_t step) {
  if (fused) {
    for (int64_t u = 0; u < len; ++u) out[u * step] = c[u];
    return;
  }
  for (int64_t u = 0; u < len; ++u)
    out[u * step] = epilogue_scalar(t, c[u], m, res ? res + u * step : nullptr);
}

}  // namespace

void pack_weights(const TileKernel& kern, int64_t Cout, int64_t Cin, int64_t taps, const float* w,
                  int64_t w_co, int64_t w_ci, const int64_t* w_tap, float* a) {
  if (kern.k_pack == 2) {
    pack_a_bf16_pairs(kern.mr, Cout, Cin, taps, w, w_co, w_ci, w_tap, a);
    return;
  }
  pack_a(
      kern.mr, Cout, Cin * taps,
      [&](int64_t co, int64_t k) { return w[co * w_co + (k / taps) * w_ci + w_tap[k % taps]]; }, a);
}

// Runs a convolution given as one or more phases (virtual convolutions that share the input
// and write disjoint output points) for all N images. A work item is a tile of grid rows of
// every phase, so the input patch is copied once for all phases and the output rows the
// phases interleave into are written while they are in cache.
//
// A pixel tile is R whole grid rows. Per K block (a group of input channels) the input patch
// those rows read, with its zero border, is copied once. (Even where no tap leaves the image,
// e.g. 1x1 convolutions, the copy pays: read in place, the rows of a K block lie an image
// plane apart, often a multiple of 1 KB, so they share a few L1 sets and evict each other
// before the next panel of weights reuses them.) Im2col row (ci, jy, jx) of
// grid row r is then the patch at a fixed offset plus r times a row step: the tile kernel
// reads B through that row-offset table, so every input value is copied once per tile
// instead of kh*kw times, and no im2col matrix is ever built.
void run(const Context& ctx, const TileKernel& kern, const ConvGeometry& g,
         const std::vector<Phase>& phases, int64_t N, const float* x, const float* bias,
         const float* residual, float* out, const EpilogueParams& epi) {
  const int64_t nph = int64_t(phases.size());
  // paired[p]: phases p and p+1 fill alternate columns of the same output rows (stride 2
  // across, the same grid, both with taps), so their tiles interleave into output rows and
  // the residual de-interleaves into them with constant-stride loops the compiler vectorizes
  // (a stride-2 transposed conv: each output value costs a scalar strided store otherwise).
  // 1: phase p has the first column, 2: phase p+1 has.
  std::vector<char> paired(size_t(nph), 0);
  for (int64_t p = 0; p + 1 < nph; ++p) {
    const Phase &a = phases[size_t(p)], &b = phases[size_t(p + 1)];
    const bool pair = g.ssx == 2 && a.oy0 == b.oy0 && a.Qh == b.Qh && a.Qw == b.Qw &&
                      g.Cin * a.taps() > 0 && g.Cin * b.taps() > 0;
    paired[size_t(p)] = !pair ? 0 : b.ox0 == a.ox0 + 1 ? 1 : a.ox0 == b.ox0 + 1 ? 2 : 0;
    if (paired[size_t(p)]) ++p;
  }
  int64_t Qh = 0, Qw = 0, macs_per_image = 0, taps_max = 0;
  for (const Phase& ph : phases) {
    Qh = std::max(Qh, ph.Qh);
    Qw = std::max(Qw, ph.Qw);
    macs_per_image += ph.Qh * ph.Qw * g.Cout * std::max<int64_t>(g.Cin * ph.taps(), 1);
    taps_max = std::max(taps_max, ph.taps());
  }
  if (Qh == 0 || Qw == 0 || N == 0) return;
  const int64_t in_image = g.Cin * g.H * g.W, out_image = g.Cout * g.Hout * g.Wout;
  const int64_t out_plane = g.Hout * g.Wout;
  const bool any_k = g.Cin > 0 && taps_max > 0;
  // Channels as the kernel sees them: channel pairs for k_pack 2 (see TileKernel).
  const int64_t Cin_k = (g.Cin + kern.k_pack - 1) / kern.k_pack;
  const bool dense = nph == 1 && phases[0].dense_output(g) && any_k;

  const int64_t target_nc = 2 * g.Cout <= kern.mr ? kTargetNCFewChannels : kTargetNC;
  const int64_t R = std::min(Qh, std::max<int64_t>(1, target_nc / Qw));
  const int64_t ntiles = (Qh + R - 1) / R;

  // Patch geometry (covering the taps of every phase) and the offset of each im2col row of
  // a K block inside the patch, per phase.
  int64_t cb = 1, nkb = 0, cpitch = 0, Wq = 0, rowpitch = 0, rstep = 0, span_y = 0;
  int64_t miny = 0, minx = 0;
  std::vector<std::vector<int64_t>> boff(static_cast<size_t>(nph));
  if (any_k) {
    int64_t maxy = 0, maxx = 0;
    bool first = true;
    for (const Phase& ph : phases) {
      if (ph.taps() == 0) continue;
      const auto [y0, y1] = std::minmax_element(ph.offy.begin(), ph.offy.end());
      const auto [x0, x1] = std::minmax_element(ph.offx.begin(), ph.offx.end());
      miny = first ? *y0 : std::min(miny, *y0);
      maxy = first ? *y1 : std::max(maxy, *y1);
      minx = first ? *x0 : std::min(minx, *x0);
      maxx = first ? *x1 : std::max(maxx, *x1);
      first = false;
    }
    span_y = maxy - miny;
    // Channels per K block: at most kTargetKC / taps, split evenly (no short last block).
    nkb = (Cin_k + std::max<int64_t>(1, kTargetKC / taps_max) - 1) /
          std::max<int64_t>(1, kTargetKC / taps_max);
    cb = (Cin_k + nkb - 1) / nkb;
    Wq = Qw + (maxx - minx) / g.sx;
    rowpitch = g.sx * Wq;
    cpitch = ((R - 1) * g.sy + span_y + 1) * rowpitch;
    rstep = g.sy * rowpitch;
    for (int64_t p = 0; p < nph; ++p) {
      const Phase& ph = phases[size_t(p)];
      const int64_t Jy = int64_t(ph.offy.size()), Jx = int64_t(ph.offx.size());
      std::vector<int64_t>& bo = boff[size_t(p)];
      bo.resize(size_t(cb * ph.taps()));
      for (int64_t c = 0; c < cb; ++c)
        for (int64_t jy = 0; jy < Jy; ++jy)
          for (int64_t jx = 0; jx < Jx; ++jx) {
            const int64_t dx = ph.offx[size_t(jx)] - minx;
            bo[size_t((c * Jy + jy) * Jx + jx)] =
                c * cpitch + (ph.offy[size_t(jy)] - miny) * rowpitch + (dx % g.sx) * Wq + dx / g.sx;
          }
    }
  }
  const int64_t bsize = any_k ? cb * cpitch : 0;
  const int64_t ldt = round_up(R * Qw, 16) + 16;  // row pitch of the non-dense output tile
  const int64_t panels = (g.Cout + kern.mr - 1) / kern.mr;

  int threads = ctx.num_threads();
  if (double(N) * macs_per_image < kParallelMacs) threads = 1;
  // Split the output channels when there are too few pixel tiles to keep the threads busy.
  int64_t chunks = 1;
  if (N * ntiles < 4 * threads)
    chunks = std::min(panels, (4 * threads + N * ntiles - 1) / (N * ntiles));
  const int64_t chunk_panels = (panels + chunks - 1) / chunks;
  chunks = (panels + chunk_panels - 1) / chunk_panels;
  const int64_t items = N * ntiles * chunks;
  threads = int(std::min<int64_t>(threads, items));
  const int64_t phase_tile = chunk_panels * kern.mr * ldt;  // cbuf floats of one phase

  TileArgs base{};
  base.epi = epi;

  // Each thread's scratch (its input patch, and for scattered outputs its output tile and
  // gathered residual tile) comes from the Context, allocated here, outside the parallel
  // region: an allocation failure must reach the caller as an exception, which cannot leave an
  // OpenMP region. (A model's caching allocator hands the same blocks back every call; fresh
  // host memory each call cost page faults, with transparent huge pages zeroing 2 MiB at a
  // time.) A scattered output's residual is gathered into a tile laid out like the output tile,
  // so that the tile kernel applies the whole epilogue there too.
  const bool gather_residual = !dense && residual != nullptr;
  const int64_t csize = dense ? 0 : nph * phase_tile, rsize = gather_residual ? csize : 0;
  const int64_t per_thread = round_up(bsize, 16) + round_up(csize, 16) + round_up(rsize, 16);
  Tensor scratch = ctx.empty({int64_t(threads), std::max<int64_t>(per_thread, 16)});

#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const int64_t me = omp_get_thread_num();
#else
    const int64_t me = 0;
#endif
    // Zeroed (every read of a buffer is written first; zero keeps a stray read harmless).
    float* const bbuf = scratch.data() + me * std::max<int64_t>(per_thread, 16);
    std::memset(bbuf, 0, size_t(per_thread) * sizeof(float));
    float* const cbuf = bbuf + round_up(bsize, 16);
    float* const rbuf = cbuf + round_up(csize, 16);
    std::vector<Segment> segs;
    segs.reserve(size_t(R));

#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t n = item / (ntiles * chunks);
      const int64_t tile = (item / chunks) % ntiles;
      const int64_t chunk = item % chunks;
      const int64_t qy0 = tile * R, Rt = std::min(R, Qh - qy0);
      const int64_t co0 = chunk * chunk_panels * kern.mr;
      const int64_t M = std::min(chunk_panels * kern.mr, g.Cout - co0);
      const float* xn = x + n * in_image;

      TileArgs t = base;
      t.M = M;
      t.bias = bias ? bias + co0 : nullptr;
      t.scale = epi.scale ? epi.scale + n * g.Cout + co0 : nullptr;
      t.shift = epi.shift ? epi.shift + n * g.Cout + co0 : nullptr;
      const float* r0 = nullptr;
      float* c0 = nullptr;
      if (dense) {
        const int64_t p0 = qy0 * Qw;
        c0 = out + n * out_image + co0 * out_plane + p0;
        t.ldc = out_plane;
        r0 = residual ? residual + n * out_image + co0 * out_plane + p0 : nullptr;
      } else {
        t.ldc = ldt;
        for (int64_t p = 0; p < nph; ++p) {
          const Phase& ph = phases[size_t(p)];
          const int64_t np = std::max<int64_t>(0, std::min(R, ph.Qh - qy0)) * ph.Qw;
          if (g.Cin * ph.taps() == 0)
            for (int64_t m = 0; m < M; ++m)
              std::memset(cbuf + p * phase_tile + m * ldt, 0, size_t(np) * sizeof(float));
        }
        if (gather_residual)
          for (int64_t m = 0; m < M; ++m) {
            const float* rm = residual + n * out_image + (co0 + m) * out_plane;
            for (int64_t p = 0; p < nph; ++p) {
              const Phase& ph = phases[size_t(p)];
              const int64_t Rp = std::min(R, ph.Qh - qy0);
              if (Rp <= 0 || g.Cin * ph.taps() == 0) continue;
              tile_segments(ph.Qw, qy0 * ph.Qw, Rp * ph.Qw, segs);
              float* rb = rbuf + p * phase_tile + m * ldt;
              for (const Segment& s : segs) {
                const float* src = rm + (ph.oy0 + g.ssy * s.qy) * g.Wout + ph.ox0 + g.ssx * s.qx0;
                if (paired[size_t(p)]) {
                  const bool swap = paired[size_t(p)] == 2;  // phase p+1 has the first column
                  float* r0 = rb + s.col + (swap ? phase_tile : 0);
                  float* r1 = rb + s.col + (swap ? 0 : phase_tile);
                  if (swap) --src;
                  for (int64_t u = 0; u < s.len; ++u) {
                    r0[u] = src[2 * u];
                    r1[u] = src[2 * u + 1];
                  }
                } else {
                  for (int64_t u = 0; u < s.len; ++u) rb[s.col + u] = src[u * g.ssx];
                }
              }
              if (paired[size_t(p)]) ++p;
            }
          }
      }

      for (int64_t kb = 0; kb < nkb; ++kb) {
        const int64_t ci0 = kb * cb, nch = std::min(cb, Cin_k - ci0);
        const int64_t iy0 = qy0 * g.sy + miny;
        if (kern.k_pack == 2)
          pack_patch_bf16_pairs(kern, g, xn, ci0, nch, iy0, (Rt - 1) * g.sy + span_y + 1, minx, Wq,
                                cpitch, bbuf);
        else
          pack_patch(g, xn, ci0, nch, iy0, (Rt - 1) * g.sy + span_y + 1, minx, Wq, cpitch, bbuf);
        const float* patch = bbuf;
        t.accumulate = kb > 0;
        // The tile kernel applies the epilogue on the last K block (a scattered output's
        // residual from its gathered tile).
        t.last = kb == nkb - 1;
        for (int64_t p = 0; p < nph; ++p) {
          const Phase& ph = phases[size_t(p)];
          const int64_t taps = ph.taps(), Rp = std::min(R, ph.Qh - qy0);
          if (taps == 0 || Rp <= 0) continue;
          float* cp = dense ? c0 : cbuf + p * phase_tile;
          const float* rp = dense ? r0 : gather_residual ? rbuf + p * phase_tile : nullptr;
          t.a = ph.apack + (co0 / kern.mr) * Cin_k * taps * kern.mr + ci0 * taps * kern.mr;
          t.a_panel_stride = Cin_k * taps * kern.mr;
          t.boff = boff[size_t(p)].data();
          t.kc = nch * taps;
          t.n = ph.Qw;
          for (int64_t r = 0; r < Rp; ++r) {
            t.b = patch + r * rstep;
            t.c = cp + r * ph.Qw;
            t.residual = rp ? rp + r * ph.Qw : nullptr;
            kern.tile(t);
          }
        }
      }
      if (!dense) {
        // Scatter the tile of each phase to its strided output positions, applying the
        // epilogue; the phases of a tile fill the same output rows, which stay in cache.
        for (int64_t m = 0; m < M; ++m) {
          const int64_t co = co0 + m;
          float* om = out + n * out_image + co * out_plane;
          const float* rm = residual ? residual + n * out_image + co * out_plane : nullptr;
          for (int64_t p = 0; p < nph; ++p) {
            const Phase& ph = phases[size_t(p)];
            const int64_t Rp = std::min(R, ph.Qh - qy0);
            if (Rp <= 0) continue;
            tile_segments(ph.Qw, qy0 * ph.Qw, Rp * ph.Qw, segs);
            const float* cm = cbuf + p * phase_tile + m * ldt;
            for (const Segment& s : segs) {
              const int64_t row = (ph.oy0 + g.ssy * s.qy) * g.Wout + ph.ox0 + g.ssx * s.qx0;
              if (paired[size_t(p)]) {
                const bool swap = paired[size_t(p)] == 2;  // phase p+1 has the first column
                const float* c0 = cm + s.col + (swap ? phase_tile : 0);
                const float* c1 = cm + s.col + (swap ? 0 : phase_tile);
                float* o = om + row - (swap ? 1 : 0);
                for (int64_t u = 0; u < s.len; ++u) {
                  o[2 * u] = c0[u];
                  o[2 * u + 1] = c1[u];
                }
              } else {
                scatter_run(t, g.Cin * ph.taps() > 0, cm + s.col, s.len, m, om + row,
                            rm ? rm + row : nullptr, g.ssx);
              }
            }
            if (paired[size_t(p)]) ++p;
          }
        }
      }
    }
  }
}

}  // namespace convgemm
}  // namespace cpu
}  // namespace deblurcore
