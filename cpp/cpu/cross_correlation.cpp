// Fast cross_correlation. Per sample: standardise each channel (double sums) and take its
// half spectrum once (C spectra, split complex, H x (W/2+1)). Then the pairs are spread over
// the threads; for pair (i, j) a thread, in blocks of columns that stay in cache, forms
// A_i conj(A_j), inverts it along H and keeps only the window's 2m+1 rows (mod H); the
// complex-to-real inverse along W then runs on those rows only, and the window's 2m+1
// columns (mod W) are written with their flipped copy. Memory per thread is one column
// block plus (W/2+1) x (2m+1) values: no full correlation map is ever formed.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "backends.h"
#include "cpu/fft/plane.h"

namespace deblurcore {
namespace cpu {

namespace {

// a = (x - mean) / (sigma sqrt(HW)) with the population sigma, or 0 where sigma < 1e-9.
void standardize_channel(const float* x, int64_t HW, float* a) {
  double s[8] = {0}, q[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= HW; i += 8)
    for (int l = 0; l < 8; ++l) s[l] += double(x[i + l]);
  for (; i < HW; ++i) s[0] += double(x[i]);
  double sum = 0;
  for (int l = 0; l < 8; ++l) sum += s[l];
  const double mean = sum / double(HW);
  for (i = 0; i + 8 <= HW; i += 8)
    for (int l = 0; l < 8; ++l) {
      const double d = double(x[i + l]) - mean;
      q[l] += d * d;
    }
  for (; i < HW; ++i) q[0] += (double(x[i]) - mean) * (double(x[i]) - mean);
  double sq = 0;
  for (int l = 0; l < 8; ++l) sq += q[l];
  const double sigma = std::sqrt(sq / double(HW));
  const double inv = sigma < 1e-9 ? 0.0 : 1.0 / (sigma * std::sqrt(double(HW)));
  for (int64_t k = 0; k < HW; ++k) a[k] = static_cast<float>((double(x[k]) - mean) * inv);
}

int64_t wrap(int64_t v, int64_t n) { return ((v % n) + n) % n; }

}  // namespace

void cross_correlation(const Context& ctx, const CrossCorrelationParams& p, const float* x,
                       float* out) {
  const int64_t H = p.H, W = p.W, HW = H * W, C = p.C, R = p.window, m = p.max_shift;
  const fft::PlaneFft plan(H, W);
  const fft::ComplexPlan& col = plan.columns();
  const fft::RealPlan& row = plan.rows();
  const int64_t Wc = plan.Wc(), HWc = H * Wc;
  const int64_t out_channels = p.pairs * (p.add_flips ? 2 : 1);
  const float scale = static_cast<float>(1.0 / (double(H) * double(W)));

  std::vector<std::pair<int, int>> pairs;  // i-major, i <= j: index = channel of the pair
  for (int i = 0; i < C; ++i)
    for (int j = i; j < C; ++j) pairs.emplace_back(i, j);
  // Window row r reads correlation row (r - m) mod H; window column c, (c - m) mod W.
  std::vector<int64_t> src_row(static_cast<size_t>(R)), src_col(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r)
    src_row[size_t(r)] = wrap(r - m, H), src_col[size_t(r)] = wrap(r - m, W);

  // Channel c's spectrum: re at 2c*HWc, im after it. From the context's allocator, so a
  // caching allocator hands the same block back on every call (no fresh pages to clear).
  Tensor spectra_t = ctx.empty({2 * C * HWc});
  float* const spectra = spectra_t.data();
  for (int64_t n = 0; n < p.N; ++n) {
#pragma omp parallel num_threads(ctx.num_threads())
    {
      std::vector<float> work(size_t(HW) + plan.workspace_floats());
#pragma omp for schedule(dynamic)
      for (int64_t c = 0; c < C; ++c) {
        standardize_channel(x + (n * C + c) * HW, HW, work.data());
        float* re = spectra + 2 * c * HWc;
        plan.forward(work.data(), re, re + HWc, work.data() + HW, ctx.isa());
      }
    }

    float* on = out + n * out_channels * R * R;
#pragma omp parallel num_threads(ctx.num_threads())
    {
      const int64_t B = fft::kColumnBlock;
      std::vector<float> block(size_t(2 * H * B));
      std::vector<float> rows(size_t(2 * Wc * R));  // the window rows, (Wc, R) split
      std::vector<float> real_rows(size_t(W * R));  // after the inverse along W, (W, R)
      std::vector<float> work(std::max(col.workspace_floats(B), row.workspace_floats(R)));
      float* pr = block.data();
      float* pi = pr + H * B;
      float* qr = rows.data();
      float* qi = qr + Wc * R;
#pragma omp for schedule(dynamic)
      for (int64_t pair = 0; pair < p.pairs; ++pair) {
        const float* ar = spectra + 2 * pairs[size_t(pair)].first * HWc;
        const float* ai = ar + HWc;
        const float* br = spectra + 2 * pairs[size_t(pair)].second * HWc;
        const float* bi = br + HWc;
        for (int64_t c0 = 0; c0 < Wc; c0 += B) {
          const int64_t nb = std::min(B, Wc - c0);
          for (int64_t y = 0; y < H; ++y) {
            const float* __restrict__ xr = ar + y * Wc + c0, * __restrict__ xi = ai + y * Wc + c0;
            const float* __restrict__ yr = br + y * Wc + c0, * __restrict__ yi = bi + y * Wc + c0;
            float* __restrict__ zr = pr + y * nb, * __restrict__ zi = pi + y * nb;
            for (int64_t b = 0; b < nb; ++b) {  // A_i * conj(A_j)
              zr[b] = xr[b] * yr[b] + xi[b] * yi[b];
              zi[b] = xi[b] * yr[b] - xr[b] * yi[b];
            }
          }
          col.transform({pr, pi, nb}, {pr, pi, nb}, nb, true, work.data(), ctx.isa());
          for (int64_t r = 0; r < R; ++r) {
            const float* sr = pr + src_row[size_t(r)] * nb;
            const float* si = pi + src_row[size_t(r)] * nb;
            for (int64_t b = 0; b < nb; ++b) {
              qr[(c0 + b) * R + r] = sr[b];
              qi[(c0 + b) * R + r] = si[b];
            }
          }
        }
        row.inverse({qr, qi, R}, real_rows.data(), R, R, work.data(), ctx.isa());
        float* dst = on + pair * R * R;
        float* flipped = on + (p.pairs + pair) * R * R;
        for (int64_t r = 0; r < R; ++r)
          for (int64_t c = 0; c < R; ++c) {
            const float v = real_rows[size_t(src_col[size_t(c)] * R + r)] * scale;
            dst[r * R + c] = v;
            if (p.add_flips) flipped[(R - 1 - r) * R + (R - 1 - c)] = v;
          }
      }
    }
  }
}

}  // namespace cpu
}  // namespace deblurcore
