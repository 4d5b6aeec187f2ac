// Scalar reference kernels of the iterative adaptive convolution (IFAN's IAC) and its
// backward: the executable spec (semantics and filter layout in IacParams, op_params.h).
// The whole chain of iterations runs in double and is rounded to float once at the end, so
// these kernels are at least as accurate as the fast ones. Parallel over (n, c) planes only:
// the iterations never mix channels.
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

namespace {

int64_t clampi(int64_t v, int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

// Filter planes of one (n, c) plane and one iteration.
struct IterFilters {
  const float* v;  // vertical taps: k planes
  const float* h;  // horizontal taps: k planes
  const float* b;  // bias plane
};

IterFilters iter_filters(const IacParams& p, const float* filters, int64_t n, int64_t c,
                         int64_t i) {
  const int64_t HW = p.H * p.W;
  const float* base = filters + n * p.filter_channels * HW;
  IterFilters f;
  f.v = base + (p.vertical_channel(i) + c * p.k) * HW;
  f.h = base + (p.horizontal_channel(i) + c * p.k) * HW;
  f.b = base + (p.bias_channel(i) + c) * HW;
  return f;
}

bool activated(const IacParams& p, int64_t i) { return i + 1 < p.iterations || p.final_activation; }

// One iteration without its activation: v (vertical pass) and z = u + b from input f.
void iteration(const IacParams& p, const IterFilters& F, const std::vector<double>& f,
               std::vector<double>& v, std::vector<double>& z) {
  const int64_t H = p.H, W = p.W, HW = H * W, r = (p.k - 1) / 2;
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      double acc = 0.0;
      for (int64_t t = 0; t < p.k; ++t)
        acc += double(F.v[t * HW + y * W + x]) * f[clampi(y + t - r, H - 1) * W + x];
      v[y * W + x] = acc;
    }
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      double acc = 0.0;
      for (int64_t t = 0; t < p.k; ++t)
        acc += double(F.h[t * HW + y * W + x]) * v[y * W + clampi(x + t - r, W - 1)];
      z[y * W + x] = acc + double(F.b[y * W + x]);
    }
}

}  // namespace

void iac(const Context& ctx, const IacParams& p, const float* x, const float* filters, float* out) {
  const int64_t HW = p.H * p.W;
  const double slope = p.negative_slope;
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      const int64_t plane = (n * p.C + c) * HW;
      std::vector<double> f(x + plane, x + plane + HW), v(HW), z(HW);
      for (int64_t i = 0; i < p.iterations; ++i) {
        iteration(p, iter_filters(p, filters, n, c, i), f, v, z);
        const bool act = activated(p, i);
        for (int64_t j = 0; j < HW; ++j) f[j] = (act && z[j] <= 0.0) ? slope * z[j] : z[j];
      }
      for (int64_t j = 0; j < HW; ++j) out[plane + j] = static_cast<float>(f[j]);
    }
}

void iac_backward(const Context& ctx, const IacParams& p, const float* grad_out, const float* x,
                  const float* filters, float* grad_x, float* grad_filters) {
  const int64_t H = p.H, W = p.W, HW = H * W, r = (p.k - 1) / 2, k = p.k;
  const double slope = p.negative_slope;
  std::memset(grad_filters, 0, sizeof(float) * p.N * p.filter_channels * HW);
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      const int64_t plane = (n * p.C + c) * HW;
      // Forward, keeping the input of every iteration.
      std::vector<std::vector<double>> X(p.iterations, std::vector<double>(HW));
      std::vector<double> v(HW), z(HW);
      X[0].assign(x + plane, x + plane + HW);
      for (int64_t i = 0; i + 1 < p.iterations; ++i) {
        iteration(p, iter_filters(p, filters, n, c, i), X[i], v, z);
        for (int64_t j = 0; j < HW; ++j) X[i + 1][j] = z[j] <= 0.0 ? slope * z[j] : z[j];
      }
      // Backward through the iterations, last first. g: gradient of the iteration's output.
      std::vector<double> g(grad_out + plane, grad_out + plane + HW), gz(HW), gv(HW);
      std::vector<double> gfv(k * HW), gfh(k * HW);
      for (int64_t i = p.iterations - 1; i >= 0; --i) {
        const IterFilters F = iter_filters(p, filters, n, c, i);
        iteration(p, F, X[i], v, z);
        const bool act = activated(p, i);
        for (int64_t j = 0; j < HW; ++j) gz[j] = (act && z[j] <= 0.0) ? slope * g[j] : g[j];
        // Horizontal pass u[y,x] = sum_t Fh[t][y,x] * v[y, clamp(x+t-r)].
        std::fill(gv.begin(), gv.end(), 0.0);
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x)
            for (int64_t t = 0; t < k; ++t) {
              const int64_t src = y * W + clampi(x + t - r, W - 1);
              gfh[t * HW + y * W + x] = gz[y * W + x] * v[src];
              gv[src] += double(F.h[t * HW + y * W + x]) * gz[y * W + x];
            }
        // Vertical pass v[y,x] = sum_t Fv[t][y,x] * f[clamp(y+t-r), x].
        std::fill(g.begin(), g.end(), 0.0);
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x)
            for (int64_t t = 0; t < k; ++t) {
              const int64_t src = clampi(y + t - r, H - 1) * W + x;
              gfv[t * HW + y * W + x] = gv[y * W + x] * X[i][src];
              g[src] += double(F.v[t * HW + y * W + x]) * gv[y * W + x];
            }
        // Write this (n, c, i)'s gradients; no other plane or iteration writes them.
        float* gbase = grad_filters + n * p.filter_channels * HW;
        float* gf1 = gbase + (p.vertical_channel(i) + c * k) * HW;
        for (int64_t j = 0; j < k * HW; ++j)
          gf1[j] = static_cast<float>(p.reuse_vertical_filter ? gfv[j] + gfh[j] : gfv[j]);
        if (!p.reuse_vertical_filter) {
          float* gf2 = gbase + (p.horizontal_channel(i) + c * k) * HW;
          for (int64_t j = 0; j < k * HW; ++j) gf2[j] = static_cast<float>(gfh[j]);
        }
        float* gb = gbase + (p.bias_channel(i) + c) * HW;
        for (int64_t j = 0; j < HW; ++j) gb[j] = static_cast<float>(gz[j]);
      }
      for (int64_t j = 0; j < HW; ++j) grad_x[plane + j] = static_cast<float>(g[j]);
    }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
