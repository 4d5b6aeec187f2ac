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
// block's stores. Threads take (image, row tile, channel chunk) work items dynamically, which
// also balances a machine shared with others.
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

inline float epilogue_scalar(const TileArgs& t, float v, float bias, const float* res) {
  v += bias;
  if (res && t.residual_before) v += *res;
  if (t.act == Activation::ReLU) v = v > 0.f ? v : 0.f;
  if (t.act == Activation::LeakyReLU) v = v > 0.f ? v : v * t.slope;
  if (res && !t.residual_before) v += *res;
  return v;
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
            v = epilogue_scalar(t, v, t.bias ? t.bias[i0 + r] : 0.f, res);
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

struct VirtualConv {
  int64_t Cin, H, W;                // input image
  int64_t Cout;
  int64_t Qh, Qw;                   // output grid computed by the GEMM
  int64_t sy, sx;                   // input step per output grid step
  std::vector<int64_t> offy, offx;  // input offset of each kernel tap
  int64_t Hout, Wout;               // output plane
  int64_t oy0, ox0, ssy, ssx;       // grid point (qy, qx) -> output (oy0+ssy*qy, ox0+ssx*qx)

  int64_t taps() const { return int64_t(offy.size() * offx.size()); }
  int64_t K() const { return Cin * taps(); }
  bool dense_output() const {
    return ssy == 1 && ssx == 1 && oy0 == 0 && ox0 == 0 && Qh == Hout && Qw == Wout;
  }
};

// A run of consecutive output grid points of one grid row inside a pixel tile.
struct Segment {
  int64_t qy, qx0, len, col;  // col: first column of the run in the output tile
};

void tile_segments(const VirtualConv& v, int64_t p0, int64_t np, std::vector<Segment>& segs) {
  segs.clear();
  int64_t qy = p0 / v.Qw, qx = p0 % v.Qw, col = 0;
  while (col < np) {
    const int64_t len = std::min(v.Qw - qx, np - col);
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
void pack_patch(const VirtualConv& v, const float* x, int64_t ci0, int64_t nch, int64_t iy0,
                int64_t rows, int64_t ix0, int64_t Wq, int64_t cpitch, float* buf) {
  const int64_t sx = v.sx, rowpitch = sx * Wq;
  for (int64_t c = 0; c < nch; ++c)
    for (int64_t r = 0; r < rows; ++r) {
      float* drow = buf + c * cpitch + r * rowpitch;
      const int64_t iy = iy0 + r;
      if (iy < 0 || iy >= v.H) {
        std::memset(drow, 0, size_t(rowpitch) * sizeof(float));
        continue;
      }
      const float* src = x + ((ci0 + c) * v.H + iy) * v.W;
      for (int64_t f = 0; f < sx; ++f) {
        float* d = drow + f * Wq;
        const int64_t first = ix0 + f;  // input column of u = 0
        // u in [lo, hi) reads inside the row: 0 <= first + u*sx < W.
        const int64_t lo = std::min(Wq, first >= 0 ? 0 : (-first + sx - 1) / sx);
        const int64_t hi = std::max(lo, std::min(Wq, first >= v.W ? 0 : (v.W - 1 - first) / sx + 1));
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

// Runs one virtual convolution for all N images. `apack` holds A packed by pack_a.
//
// A pixel tile is R whole grid rows. Per K block (a group of input channels) the input patch
// those rows read, with its zero border, is copied once (or used in place when no tap leaves
// the image and the column step is 1, e.g. 1x1 convolutions). Im2col row (ci, jy, jx) of
// grid row r is then the patch at a fixed offset plus r times a row step: the tile kernel
// reads B through that row-offset table, so every input value is copied once per tile
// instead of kh*kw times, and no im2col matrix is ever built.
void run(const Context& ctx, const Kernel& kern, const VirtualConv& v, int64_t N,
         const float* x, const float* apack, const float* bias, const float* residual,
         float* out, const EpilogueParams& epi) {
  const int64_t P = v.Qh * v.Qw;
  if (P == 0 || N == 0) return;
  const int64_t K = v.K(), taps = v.taps(), Jy = int64_t(v.offy.size());
  const int64_t Jx = int64_t(v.offx.size());
  const int64_t in_image = v.Cin * v.H * v.W, out_image = v.Cout * v.Hout * v.Wout;
  const int64_t out_plane = v.Hout * v.Wout;
  const bool dense = v.dense_output() && K > 0;

  const int64_t R = std::min(v.Qh, std::max<int64_t>(1, kTargetNC / v.Qw));
  const int64_t nc = R * v.Qw, ntiles = (v.Qh + R - 1) / R;

  // Patch geometry and the offset of each im2col row of a K block inside the patch.
  int64_t cb = 1, nkb = 0, cpitch = 0, Wq = 0, rowpitch = 0, rstep = 0, span_y = 0;
  int64_t miny = 0, minx = 0;
  bool alias = false;
  std::vector<int64_t> boff;
  if (K > 0) {
    miny = *std::min_element(v.offy.begin(), v.offy.end());
    minx = *std::min_element(v.offx.begin(), v.offx.end());
    const int64_t maxy = *std::max_element(v.offy.begin(), v.offy.end());
    const int64_t maxx = *std::max_element(v.offx.begin(), v.offx.end());
    span_y = maxy - miny;
    cb = std::min(v.Cin, std::max<int64_t>(1, kTargetKC / taps));
    nkb = (v.Cin + cb - 1) / cb;
    alias = v.sx == 1 && miny >= 0 && (v.Qh - 1) * v.sy + maxy < v.H && minx >= 0 &&
            v.Qw - 1 + maxx < v.W;
    if (alias) {
      Wq = rowpitch = v.W;
      cpitch = v.H * v.W;
    } else {
      Wq = v.Qw + (maxx - minx) / v.sx;
      rowpitch = v.sx * Wq;
      cpitch = ((R - 1) * v.sy + span_y + 1) * rowpitch;
    }
    rstep = v.sy * rowpitch;
    boff.resize(size_t(cb * taps));
    for (int64_t c = 0; c < cb; ++c)
      for (int64_t jy = 0; jy < Jy; ++jy)
        for (int64_t jx = 0; jx < Jx; ++jx) {
          const int64_t dx = v.offx[size_t(jx)] - minx;
          boff[size_t((c * Jy + jy) * Jx + jx)] = c * cpitch +
                                                  (v.offy[size_t(jy)] - miny) * rowpitch +
                                                  (dx % v.sx) * Wq + dx / v.sx;
        }
  }
  const int64_t bsize = (K == 0 || alias) ? 0 : cb * cpitch;
  const int64_t ldt = round_up(nc, 16) + 16;  // row pitch of the non-dense output tile
  const int64_t panels = (v.Cout + kern.mr - 1) / kern.mr;

  int threads = ctx.num_threads();
  if (double(N) * P * v.Cout * std::max<int64_t>(K, 1) < kParallelMacs) threads = 1;
  // Split the output channels when there are too few pixel tiles to keep the threads busy.
  int64_t chunks = 1;
  if (N * ntiles < 4 * threads)
    chunks = std::min(panels, (4 * threads + N * ntiles - 1) / (N * ntiles));
  const int64_t chunk_panels = (panels + chunks - 1) / chunks;
  chunks = (panels + chunk_panels - 1) / chunk_panels;
  const int64_t items = N * ntiles * chunks;
  threads = int(std::min<int64_t>(threads, items));

  const TileArgs base{nullptr, K * kern.mr, nullptr, boff.data(), nullptr, 0, nullptr, nullptr,
                      0, 0, 0, false, false, epi.activation, epi.negative_slope,
                      epi.residual_before_activation};

#pragma omp parallel num_threads(threads)
  {
    AlignedBuffer bbuf{size_t(bsize)};
    AlignedBuffer cbuf{dense ? 0 : size_t(chunk_panels * kern.mr * ldt)};
    std::vector<Segment> segs;
    segs.reserve(size_t(R));

#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t n = item / (ntiles * chunks);
      const int64_t tile = (item / chunks) % ntiles;
      const int64_t chunk = item % chunks;
      const int64_t qy0 = tile * R, Rt = std::min(R, v.Qh - qy0);
      const int64_t p0 = qy0 * v.Qw, np = Rt * v.Qw;
      const int64_t co0 = chunk * chunk_panels * kern.mr;
      const int64_t M = std::min(chunk_panels * kern.mr, v.Cout - co0);
      const float* xn = x + n * in_image;
      const float* a_chunk = apack + (co0 / kern.mr) * K * kern.mr;

      TileArgs t = base;
      t.M = M;
      t.n = v.Qw;
      float* c0;
      const float* r0 = nullptr;
      if (dense) {
        c0 = out + n * out_image + co0 * out_plane + p0;
        t.ldc = out_plane;
        r0 = residual ? residual + n * out_image + co0 * out_plane + p0 : nullptr;
        t.bias = bias ? bias + co0 : nullptr;
      } else {
        c0 = cbuf.data();
        t.ldc = ldt;
        if (K == 0)
          for (int64_t m = 0; m < M; ++m) std::memset(c0 + m * ldt, 0, size_t(np) * sizeof(float));
      }

      for (int64_t kb = 0; kb < nkb; ++kb) {
        const int64_t ci0 = kb * cb, nch = std::min(cb, v.Cin - ci0);
        const int64_t iy0 = qy0 * v.sy + miny;
        const float* patch;
        if (alias) {
          patch = xn + (ci0 * v.H + iy0) * v.W + minx;
        } else {
          pack_patch(v, xn, ci0, nch, iy0, (Rt - 1) * v.sy + span_y + 1, minx, Wq, cpitch,
                     bbuf.data());
          patch = bbuf.data();
        }
        t.a = a_chunk + ci0 * taps * kern.mr;
        t.kc = nch * taps;
        t.accumulate = kb > 0;
        t.last = dense && kb == nkb - 1;
        for (int64_t r = 0; r < Rt; ++r) {
          t.b = patch + r * rstep;
          t.c = c0 + r * v.Qw;
          t.residual = r0 ? r0 + r * v.Qw : nullptr;
          kern.tile(t);
        }
      }
      if (!dense) {
        // Scatter the tile to its strided output positions, applying the epilogue.
        tile_segments(v, p0, np, segs);
        for (int64_t m = 0; m < M; ++m) {
          const int64_t co = co0 + m;
          const float b = bias ? bias[co] : 0.f;
          const float* cm = c0 + m * ldt;
          float* om = out + n * out_image + co * out_plane;
          const float* rm = residual ? residual + n * out_image + co * out_plane : nullptr;
          for (const Segment& s : segs) {
            const int64_t row = (v.oy0 + v.ssy * s.qy) * v.Wout + v.ox0 + v.ssx * s.qx0;
            for (int64_t u = 0; u < s.len; ++u) {
              const int64_t o = row + u * v.ssx;
              om[o] = epilogue_scalar(t, cm[s.col + u], b, rm ? rm + o : nullptr);
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
  VirtualConv v;
  v.Cin = p.Cin, v.H = p.H, v.W = p.W, v.Cout = p.Cout;
  v.Qh = p.Hout, v.Qw = p.Wout, v.sy = p.sh, v.sx = p.sw;
  for (int64_t ky = 0; ky < p.kh; ++ky) v.offy.push_back(ky * p.dh - p.ph);
  for (int64_t kx = 0; kx < p.kw; ++kx) v.offx.push_back(kx * p.dw - p.pw);
  v.Hout = p.Hout, v.Wout = p.Wout, v.oy0 = 0, v.ox0 = 0, v.ssy = 1, v.ssx = 1;

  const int64_t K = v.K();
  AlignedBuffer a(size_t(round_up(p.Cout, kern.mr) * K));
  // Weight (Cout, Cin, kh, kw) is already A row-major with k = (ci*kh + ky)*kw + kx.
  pack_a(kern.mr, p.Cout, K, [&](int64_t co, int64_t k) { return w[co * K + k]; }, a.data());
  run(ctx, kern, v, p.N, x, a.data(), bias, residual, out, p.epilogue);
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
  for (int64_t cy = 0; cy < p.sh; ++cy) {
    const PhaseDim py = phase_dim(cy, p.sh, p.ph, p.dh, p.kh, p.Hout);
    if (py.count == 0) continue;
    for (int64_t cx = 0; cx < p.sw; ++cx) {
      const PhaseDim px = phase_dim(cx, p.sw, p.pw, p.dw, p.kw, p.Wout);
      if (px.count == 0) continue;
      VirtualConv v;
      v.Cin = p.Cin, v.H = p.H, v.W = p.W, v.Cout = p.Cout;
      v.Qh = py.count, v.Qw = px.count, v.sy = 1, v.sx = 1;
      v.offy = py.offs, v.offx = px.offs;
      v.Hout = p.Hout, v.Wout = p.Wout;
      v.oy0 = py.first, v.ox0 = px.first, v.ssy = p.sh, v.ssx = p.sw;

      const int64_t K = v.K();
      const int64_t Jy = int64_t(py.taps.size()), Jx = int64_t(px.taps.size());
      AlignedBuffer a(size_t(round_up(p.Cout, kern.mr) * std::max<int64_t>(K, 1)));
      // Weight (Cin, Cout, kh, kw); k = (ci*Jy + jy)*Jx + jx picks tap (taps_y[jy], taps_x[jx]).
      pack_a(kern.mr, p.Cout, K,
             [&](int64_t co, int64_t k) {
               const int64_t ci = k / (Jy * Jx), jy = (k / Jx) % Jy, jx = k % Jx;
               return w[((ci * p.Cout + co) * p.kh + py.taps[size_t(jy)]) * p.kw +
                        px.taps[size_t(jx)]];
             },
             a.data());
      run(ctx, kern, v, p.N, x, a.data(), bias, residual, out, p.epilogue);
    }
  }
}

}  // namespace cpu
}  // namespace deblurcore
