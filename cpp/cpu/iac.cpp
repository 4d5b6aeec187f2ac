// Fast CPU iterative adaptive convolution (IFAN's IAC) and its backward.
//
// The iterations never mix channels, so every (n, c) plane runs its whole chain of
// iterations on one thread, in a plane buffer that stays in cache; the filters are streamed
// once, row by row. When there are fewer planes than threads, each iteration is instead one
// parallel loop over (plane, row). Within a row, every tap is one branch-free pass over the
// row: the vertical pass reads clamped source rows, the horizontal pass reads the vertical
// result from a row buffer padded by replication. Products are rounded before they are
// summed, taps left to right, as the official code computes (torch.mul then torch.sum), so
// the forward matches it bit for bit (the library is compiled without FMA contraction).
//
// The backward keeps the input of every iteration of the plane it works on (n-1 planes per
// thread; the first is x itself) and walks the iterations backwards, recomputing each
// iteration's vertical pass and pre-activation from its input.
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends.h"
#include "cpu/leaky_relu.h"

namespace deblurcore {
namespace cpu {

namespace {

inline int64_t clampi(int64_t v, int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

// Pointers to row 0 of tap 0 of the vertical and horizontal filters and of the bias of
// iteration i on plane (n, c); tap t is t*HW floats further.
struct IterFilters {
  const float* v;
  const float* h;
  const float* b;
};

inline IterFilters iter_filters(const IacParams& p, const float* filters, int64_t n, int64_t c,
                                int64_t i) {
  const int64_t HW = p.H * p.W;
  const float* base = filters + n * p.filter_channels * HW;
  IterFilters f;
  f.v = base + (p.vertical_channel(i) + c * p.k) * HW;
  f.h = base + (p.horizontal_channel(i) + c * p.k) * HW;
  f.b = base + (p.bias_channel(i) + c) * HW;
  return f;
}

inline bool activated(const IacParams& p, int64_t i) {
  return i + 1 < p.iterations || p.final_activation;
}

// Vertical pass of row y into vp[r .. r+W), replicated into the r columns on each side:
//   v[x] = sum_t fv[t][y, x] * in[clamp(y+t-r), x].
inline void vertical_row(const float* __restrict in, const float* __restrict fv,
                         float* __restrict vp, int64_t H, int64_t W, int64_t HW, int64_t k,
                         int64_t y) {
  const int64_t r = (k - 1) / 2;
  float* __restrict v = vp + r;
  {
    const float* __restrict s = in + clampi(y - r, H - 1) * W;
    const float* __restrict f = fv + y * W;
    for (int64_t x = 0; x < W; ++x) v[x] = f[x] * s[x];
  }
  for (int64_t t = 1; t < k; ++t) {
    const float* __restrict s = in + clampi(y + t - r, H - 1) * W;
    const float* __restrict f = fv + t * HW + y * W;
    for (int64_t x = 0; x < W; ++x) {
      const float prod = f[x] * s[x];
      v[x] = v[x] + prod;
    }
  }
  for (int64_t j = 0; j < r; ++j) {
    vp[j] = v[0];
    v[W + j] = v[W - 1];
  }
}

// Horizontal pass of row y plus bias (no activation): z[x] = sum_t fh[t][y,x] * vp[x+t] + b.
inline void horizontal_row(const float* __restrict vp, const float* __restrict fh,
                           const float* __restrict b, float* __restrict z, int64_t W, int64_t HW,
                           int64_t k, int64_t y) {
  {
    const float* __restrict f = fh + y * W;
    for (int64_t x = 0; x < W; ++x) z[x] = f[x] * vp[x];
  }
  for (int64_t t = 1; t < k; ++t) {
    const float* __restrict f = fh + t * HW + y * W;
    const float* __restrict s = vp + t;
    for (int64_t x = 0; x < W; ++x) {
      const float prod = f[x] * s[x];
      z[x] = z[x] + prod;
    }
  }
  const float* __restrict br = b + y * W;
  for (int64_t x = 0; x < W; ++x) z[x] = z[x] + br[x];
}

inline void leaky_row(float* __restrict z, int64_t W, float slope) {
  for (int64_t x = 0; x < W; ++x) z[x] = leaky_relu(z[x], slope);
}

// One iteration, one row: out_row = act(horizontal(vertical(in)) + b).
inline void iteration_row(const IacParams& p, const IterFilters& F, bool act,
                          const float* __restrict in, float* __restrict out_row,
                          float* __restrict vp, int64_t y) {
  const int64_t HW = p.H * p.W;
  vertical_row(in, F.v, vp, p.H, p.W, HW, p.k, y);
  horizontal_row(vp, F.h, F.b, out_row, p.W, HW, p.k, y);
  if (act) leaky_row(out_row, p.W, p.negative_slope);
}

}  // namespace

void iac(const Context& ctx, const IacParams& p, const float* x, const float* filters, float* out) {
  const int64_t HW = p.H * p.W, NC = p.N * p.C, pad = p.k - 1;
  const int threads = ctx.num_threads();
  if (NC >= threads) {
    // A whole chain per plane.
#pragma omp parallel num_threads(threads)
    {
      std::vector<float> vp(p.W + pad), tmp(p.iterations > 1 ? HW : 0);
#pragma omp for schedule(dynamic, 1)
      for (int64_t nc = 0; nc < NC; ++nc) {
        const int64_t n = nc / p.C, c = nc % p.C;
        float* dst_plane = out + nc * HW;
        // Ping-pong between tmp and the output plane, so that the last iteration writes out.
        const float* in = x + nc * HW;
        for (int64_t i = 0; i < p.iterations; ++i) {
          float* o = ((p.iterations - 1 - i) % 2 == 0) ? dst_plane : tmp.data();
          const IterFilters F = iter_filters(p, filters, n, c, i);
          const bool act = activated(p, i);
          for (int64_t y = 0; y < p.H; ++y) iteration_row(p, F, act, in, o + y * p.W, vp.data(), y);
          in = o;
        }
      }
    }
    return;
  }
  // Few planes: every iteration is a parallel loop over all rows of all planes, ping-ponging
  // between a scratch tensor and out.
  std::vector<float> tmp(static_cast<size_t>(p.iterations > 1 ? NC * HW : 0));
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> vp(p.W + pad);
    for (int64_t i = 0; i < p.iterations; ++i) {
      const float* in = i == 0 ? x : (((p.iterations - i) % 2 == 0) ? out : tmp.data());
      float* o = ((p.iterations - 1 - i) % 2 == 0) ? out : tmp.data();
      const bool act = activated(p, i);
#pragma omp for collapse(2) schedule(static)
      for (int64_t nc = 0; nc < NC; ++nc)
        for (int64_t y = 0; y < p.H; ++y) {
          const IterFilters F = iter_filters(p, filters, nc / p.C, nc % p.C, i);
          iteration_row(p, F, act, in + nc * HW, o + nc * HW + y * p.W, vp.data(), y);
        }
      // The implicit barrier of the loop orders the iterations.
    }
  }
}

void iac_backward(const Context& ctx, const IacParams& p, const float* grad_out, const float* x,
                  const float* filters, float* grad_x, float* grad_filters) {
  const int64_t H = p.H, W = p.W, HW = H * W, NC = p.N * p.C, k = p.k, r = (k - 1) / 2;
  const int threads = ctx.num_threads();
  const float slope = p.negative_slope;

  // Zero the filter channels the forward never reads (the rest is written below).
  const std::vector<char> used = p.channels_read();
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t ch = 0; ch < p.filter_channels; ++ch)
      if (!used[ch])
        std::memset(grad_filters + (n * p.filter_channels + ch) * HW, 0, sizeof(float) * HW);

#pragma omp parallel num_threads(threads)
  {
    std::vector<float> X(static_cast<size_t>((p.iterations - 1) * HW));  // inputs of iterations 1..
    std::vector<float> g0(HW), g1(HW), vp(W + 2 * r), z(W), gz(W), gvp(W + 2 * r), gv(W);
#pragma omp for schedule(dynamic, 1)
    for (int64_t nc = 0; nc < NC; ++nc) {
      const int64_t n = nc / p.C, c = nc % p.C;
      auto input_of = [&](int64_t i) { return i == 0 ? x + nc * HW : X.data() + (i - 1) * HW; };
      // Forward, keeping every iteration's input.
      for (int64_t i = 0; i + 1 < p.iterations; ++i) {
        const IterFilters F = iter_filters(p, filters, n, c, i);
        for (int64_t y = 0; y < H; ++y)
          iteration_row(p, F, true, input_of(i), X.data() + i * HW + y * W, vp.data(), y);
      }
      // Backward, last iteration first: g is the gradient of the iteration's output, gn
      // accumulates the gradient of its input.
      const float* g = grad_out + nc * HW;
      float* gbase = grad_filters + n * p.filter_channels * HW;
      for (int64_t i = p.iterations - 1; i >= 0; --i) {
        const IterFilters F = iter_filters(p, filters, n, c, i);
        const bool act = activated(p, i);
        const float* in = input_of(i);
        float* gn = (i == 0) ? grad_x + nc * HW : ((g == g0.data()) ? g1.data() : g0.data());
        std::memset(gn, 0, sizeof(float) * HW);
        float* gfv = gbase + (p.vertical_channel(i) + c * k) * HW;
        float* gfh = gbase + (p.horizontal_channel(i) + c * k) * HW;
        float* gb = gbase + (p.bias_channel(i) + c) * HW;
        for (int64_t y = 0; y < H; ++y) {
          // Recompute the vertical pass and the pre-activation of this row.
          vertical_row(in, F.v, vp.data(), H, W, HW, k, y);
          horizontal_row(vp.data(), F.h, F.b, z.data(), W, HW, k, y);
          const float* __restrict gr = g + y * W;
          float* __restrict gzr = gz.data();
          if (act)
            for (int64_t xx = 0; xx < W; ++xx) gzr[xx] = z[xx] > 0.f ? gr[xx] : gr[xx] * slope;
          else
            std::memcpy(gzr, gr, sizeof(float) * W);
          std::memcpy(gb + y * W, gzr, sizeof(float) * W);
          // Horizontal pass: gradient of its taps, and of v (padded, then folded onto the
          // border columns the padding replicates).
          float* __restrict gvpp = gvp.data();
          std::fill(gvp.begin(), gvp.end(), 0.f);
          for (int64_t t = 0; t < k; ++t) {
            const float* __restrict fh = F.h + t * HW + y * W;
            const float* __restrict vs = vp.data() + t;
            float* __restrict gh = gfh + t * HW + y * W;
            float* __restrict gvs = gvpp + t;
            for (int64_t xx = 0; xx < W; ++xx) {
              gh[xx] = gzr[xx] * vs[xx];
              gvs[xx] += fh[xx] * gzr[xx];
            }
          }
          float* __restrict gvr = gv.data();
          for (int64_t xx = 0; xx < W; ++xx) gvr[xx] = gvpp[xx + r];
          for (int64_t j = 0; j < r; ++j) {
            gvr[0] += gvpp[j];
            gvr[W - 1] += gvpp[W + r + j];
          }
          // Vertical pass: gradient of its taps (added to the horizontal one when the same
          // filter serves both passes) and of its input rows.
          for (int64_t t = 0; t < k; ++t) {
            const int64_t sy = clampi(y + t - r, H - 1);
            const float* __restrict fv = F.v + t * HW + y * W;
            const float* __restrict src = in + sy * W;
            float* __restrict gvt = gfv + t * HW + y * W;
            float* __restrict gns = gn + sy * W;
            if (p.reuse_vertical_filter)
              for (int64_t xx = 0; xx < W; ++xx) gvt[xx] += gvr[xx] * src[xx];
            else
              for (int64_t xx = 0; xx < W; ++xx) gvt[xx] = gvr[xx] * src[xx];
            for (int64_t xx = 0; xx < W; ++xx) gns[xx] += fv[xx] * gvr[xx];
          }
        }
        g = gn;
      }
    }
  }
}

}  // namespace cpu
}  // namespace deblurcore
