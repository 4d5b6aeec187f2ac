// Fast CPU conv2d and conv_transpose2d: packed GEMM with an implicit im2col.
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
// the ISA tile kernel (conv_gemm_*.cpp) reads every im2col row straight from it through a
// table of row offsets. The epilogue (bias, residual, activation) is fused into the last K
// block's stores. The phases of a transposed convolution run in the same work item: they
// share one patch, and their outputs, computed into a tile buffer with the epilogue applied,
// interleave into output rows that are still in cache. Threads take (image, row tile,
// channel chunk) work items dynamically, which also balances a machine shared with others.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backends.h"
#include "cpu/conv_gemm.h"

namespace deblurcore {
namespace cpu {

namespace {

using convgemm::TileArgs;

// ---- generic tile kernel (any x86-64 / any CPU; the compiler vectorises the inner loops) ---

using Math = ScalarEpilogueMath<float>;

// The epilogue of tile row m (channel co0 + m of the tile's image).
inline float epilogue_scalar(const TileArgs& t, float v, int64_t m, const float* res) {
  return apply_epilogue<Math>(t.epi, v, t.bias ? t.bias[m] : 0.f, t.scale ? t.scale[m] : 1.f,
                              t.shift ? t.shift[m] : 0.f, ScalarResidual{res});
}

void tile_generic(const TileArgs& t) {
  constexpr int MR = convgemm::kMrGeneric, NR = convgemm::kNrGeneric;
  for (int64_t j0 = 0; j0 < t.n; j0 += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, t.n - j0));
    for (int64_t i0 = 0; i0 < t.M; i0 += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, t.M - i0));
      const float* a = t.a + (i0 / MR) * t.a_panel_stride;
      float* c = t.c + i0 * t.ldc + j0;
      float acc[MR][NR] = {};
      if (t.accumulate)
        for (int r = 0; r < mr; ++r)
          for (int j = 0; j < nr; ++j) acc[r][j] = c[r * t.ldc + j];
      for (int64_t k = 0; k < t.kc; ++k) {
        const float* bk = t.b + t.boff[k] + j0;
        const float* ak = a + k * MR;
        if (nr == NR) {
          for (int r = 0; r < MR; ++r)
            for (int j = 0; j < NR; ++j) acc[r][j] += ak[r] * bk[j];
        } else {
          for (int r = 0; r < MR; ++r)
            for (int j = 0; j < nr; ++j) acc[r][j] += ak[r] * bk[j];
        }
      }
      for (int r = 0; r < mr; ++r)
        for (int j = 0; j < nr; ++j) {
          float v = acc[r][j];
          if (t.last) {
            const float* res = t.residual ? t.residual + (i0 + r) * t.ldc + j0 + j : nullptr;
            v = epilogue_scalar(t, v, i0 + r, res);
          }
          c[r * t.ldc + j] = v;
        }
    }
  }
}

struct Kernel {
  int mr, nr;
  void (*tile)(const TileArgs&);
};

Kernel select_kernel(Isa isa) {
  switch (isa) {
    case Isa::AVX512: return {convgemm::kMrAvx512, convgemm::kNrAvx512, convgemm::tile_avx512};
    case Isa::AVX2: return {convgemm::kMrAvx2, convgemm::kNrAvx2, convgemm::tile_avx2};
    case Isa::Generic: break;
  }
  return {convgemm::kMrGeneric, convgemm::kNrGeneric, tile_generic};
}

// Blocking: a tile covers about kTargetNC output pixels (whole rows) and a K block about
// kTargetKC im2col rows (whole input channels), so the patch of a block (~100-300 KB) stays
// in L2 and the weights of a block (Cout x KC) mostly in L1/L2.
constexpr int64_t kTargetNC = 384;
constexpr int64_t kTargetKC = 128;
// Below this many multiply-adds a parallel region costs more than it saves.
constexpr double kParallelMacs = 1 << 20;

// 64-byte aligned float scratch.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t n) : storage_(n + 16, 0.f) {
    const auto addr = reinterpret_cast<uintptr_t>(storage_.data());
    data_ = storage_.data() + ((64 - addr % 64) % 64) / sizeof(float);
  }
  float* data() { return data_; }

 private:
  std::vector<float> storage_;
  float* data_;
};

// The image-level geometry shared by all phases of one convolution.
struct ConvGeometry {
  int64_t Cin, H, W;           // input image
  int64_t Cout;
  int64_t sy, sx;              // input step per output grid step
  int64_t Hout, Wout;          // output plane
  int64_t ssy, ssx;            // output step per grid step
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

// Packs A (Cout x K, element weight(co, k)) into MR-row panels: panel i holds, for each k, the
// MR values of rows i*MR .. i*MR+MR-1 (zero past Cout).
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

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

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
        const int64_t hi = std::max(lo, std::min(Wq, first >= g.W ? 0 : (g.W - 1 - first) / sx + 1));
        for (int64_t u = 0; u < lo; ++u) d[u] = 0.f;
        if (sx == 1) {
          std::memcpy(d + lo, src + first + lo, size_t(hi - lo) * sizeof(float));
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
void scatter_run(const TileArgs& t, bool fused, const float* c, int64_t len, int64_t m,
                 float* out, const float* res, int64_t step) {
  if (fused) {
    for (int64_t u = 0; u < len; ++u) out[u * step] = c[u];
    return;
  }
  for (int64_t u = 0; u < len; ++u)
    out[u * step] = epilogue_scalar(t, c[u], m, res ? res + u * step : nullptr);
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
void run(const Context& ctx, const Kernel& kern, const ConvGeometry& g,
         const std::vector<Phase>& phases, int64_t N, const float* x, const float* bias,
         const float* residual, float* out, const EpilogueParams& epi) {
  const int64_t nph = int64_t(phases.size());
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
  const bool dense = nph == 1 && phases[0].dense_output(g) && any_k;

  const int64_t R = std::min(Qh, std::max<int64_t>(1, kTargetNC / Qw));
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
    nkb = (g.Cin + std::max<int64_t>(1, kTargetKC / taps_max) - 1) /
          std::max<int64_t>(1, kTargetKC / taps_max);
    cb = (g.Cin + nkb - 1) / nkb;
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
            bo[size_t((c * Jy + jy) * Jx + jx)] = c * cpitch +
                                                  (ph.offy[size_t(jy)] - miny) * rowpitch +
                                                  (dx % g.sx) * Wq + dx / g.sx;
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

#pragma omp parallel num_threads(threads)
  {
    AlignedBuffer bbuf{size_t(bsize)};
    AlignedBuffer cbuf{dense ? 0 : size_t(nph * phase_tile)};
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
              std::memset(cbuf.data() + p * phase_tile + m * ldt, 0, size_t(np) * sizeof(float));
        }
      }

      for (int64_t kb = 0; kb < nkb; ++kb) {
        const int64_t ci0 = kb * cb, nch = std::min(cb, g.Cin - ci0);
        const int64_t iy0 = qy0 * g.sy + miny;
        pack_patch(g, xn, ci0, nch, iy0, (Rt - 1) * g.sy + span_y + 1, minx, Wq, cpitch,
                   bbuf.data());
        const float* patch = bbuf.data();
        t.accumulate = kb > 0;
        // The tile kernel applies the epilogue on the last K block, except where the residual
        // of a scattered output is needed (it is read at the strided output positions).
        t.last = (dense || !residual) && kb == nkb - 1;
        for (int64_t p = 0; p < nph; ++p) {
          const Phase& ph = phases[size_t(p)];
          const int64_t taps = ph.taps(), Rp = std::min(R, ph.Qh - qy0);
          if (taps == 0 || Rp <= 0) continue;
          float* cp = dense ? c0 : cbuf.data() + p * phase_tile;
          t.a = ph.apack + (co0 / kern.mr) * g.Cin * taps * kern.mr + ci0 * taps * kern.mr;
          t.a_panel_stride = g.Cin * taps * kern.mr;
          t.boff = boff[size_t(p)].data();
          t.kc = nch * taps;
          t.n = ph.Qw;
          for (int64_t r = 0; r < Rp; ++r) {
            t.b = patch + r * rstep;
            t.c = cp + r * ph.Qw;
            t.residual = r0 ? r0 + r * ph.Qw : nullptr;
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
            const float* cm = cbuf.data() + p * phase_tile + m * ldt;
            for (const Segment& s : segs) {
              const int64_t row = (ph.oy0 + g.ssy * s.qy) * g.Wout + ph.ox0 + g.ssx * s.qx0;
              scatter_run(t, !residual && g.Cin * ph.taps() > 0, cm + s.col, s.len, m, om + row,
                          rm ? rm + row : nullptr, g.ssx);
            }
          }
        }
      }
    }
  }
}

}  // namespace

void conv2d(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
            const float* bias, const float* residual, float* out) {
  const Kernel kern = select_kernel(ctx.isa());
  const ConvGeometry g{p.Cin, p.H, p.W, p.Cout, p.sh, p.sw, p.Hout, p.Wout, 1, 1};
  std::vector<Phase> phases(1);
  Phase& ph = phases[0];
  ph.Qh = p.Hout, ph.Qw = p.Wout, ph.oy0 = 0, ph.ox0 = 0;
  for (int64_t ky = 0; ky < p.kh; ++ky) ph.offy.push_back(ky * p.dh - p.ph);
  for (int64_t kx = 0; kx < p.kw; ++kx) ph.offx.push_back(kx * p.dw - p.pw);

  const int64_t K = p.Cin * ph.taps();
  AlignedBuffer a(size_t(round_up(p.Cout, kern.mr) * K));
  // Weight (Cout, Cin, kh, kw) is already A row-major with k = (ci*kh + ky)*kw + kx.
  pack_a(kern.mr, p.Cout, K, [&](int64_t co, int64_t k) { return w[co * K + k]; }, a.data());
  ph.apack = a.data();
  run(ctx, kern, g, phases, p.N, x, bias, residual, out, p.epilogue);
}

namespace {

// One dimension of the sub-pixel decomposition of a transposed convolution: output index o
// receives input i through tap k when o = i*s - pad + k*d. Phase c collects the outputs with
// (o + pad) % s == c: the first is `first`, then every s-th (`count` of them), and output
// first + s*q reads input q + off for each tap k with k*d % s == c, off = (first+pad-k*d)/s.
struct PhaseDim {
  int64_t first = 0, count = 0;
  std::vector<int64_t> taps, offs;
};

PhaseDim phase_dim(int64_t c, int64_t s, int64_t pad, int64_t d, int64_t k, int64_t out) {
  PhaseDim ph;
  ph.first = ((c - pad) % s + s) % s;
  ph.count = ph.first < out ? (out - 1 - ph.first) / s + 1 : 0;
  for (int64_t t = 0; t < k; ++t)
    if ((t * d) % s == c) {
      ph.taps.push_back(t);
      ph.offs.push_back((ph.first + pad - t * d) / s);  // exact: both sides are = c mod s
    }
  return ph;
}

}  // namespace

void conv_transpose2d(const Context& ctx, const ConvTranspose2dParams& p, const float* x,
                      const float* w, const float* bias, const float* residual, float* out) {
  const Kernel kern = select_kernel(ctx.isa());
  const ConvGeometry g{p.Cin, p.H, p.W, p.Cout, 1, 1, p.Hout, p.Wout, p.sh, p.sw};
  // All stride_h x stride_w phases run in one pass over the output (see run()).
  std::vector<Phase> phases;
  std::vector<AlignedBuffer> packed;
  packed.reserve(size_t(p.sh * p.sw));
  for (int64_t cy = 0; cy < p.sh; ++cy) {
    const PhaseDim py = phase_dim(cy, p.sh, p.ph, p.dh, p.kh, p.Hout);
    if (py.count == 0) continue;
    for (int64_t cx = 0; cx < p.sw; ++cx) {
      const PhaseDim px = phase_dim(cx, p.sw, p.pw, p.dw, p.kw, p.Wout);
      if (px.count == 0) continue;
      Phase ph;
      ph.Qh = py.count, ph.Qw = px.count;
      ph.offy = py.offs, ph.offx = px.offs;
      ph.oy0 = py.first, ph.ox0 = px.first;

      const int64_t K = p.Cin * ph.taps();
      const int64_t Jy = int64_t(py.taps.size()), Jx = int64_t(px.taps.size());
      packed.emplace_back(size_t(round_up(p.Cout, kern.mr) * std::max<int64_t>(K, 1)));
      // Weight (Cin, Cout, kh, kw); k = (ci*Jy + jy)*Jx + jx picks tap (taps_y[jy], taps_x[jx]).
      pack_a(kern.mr, p.Cout, K,
             [&](int64_t co, int64_t k) {
               const int64_t ci = k / (Jy * Jx), jy = (k / Jx) % Jy, jx = k % Jx;
               return w[((ci * p.Cout + co) * p.kh + py.taps[size_t(jy)]) * p.kw +
                        px.taps[size_t(jx)]];
             },
             packed.back().data());
      ph.apack = packed.back().data();
      phases.push_back(std::move(ph));
    }
  }
  run(ctx, kern, g, phases, p.N, x, bias, residual, out, p.epilogue);
}

}  // namespace cpu
}  // namespace deblurcore
