// Fast CPU kernel of deform_conv2d_backward (plain portable C++; the loops that carry the work
// run along contiguous rows so the compiler vectorises them). Formulas: cpu/ref/
// deform_conv2d_backward.cpp. The output pixels of one image are taken in chunks; per chunk:
//   A. (threads over pixels) gcol = weight^T grad_out, pixel-major (chunk x Cin*kh*kw); the
//      modulated samples col, same layout; grad_offset and grad_mask of these pixels;
//   B. (threads over input channels) grad_x: each gcol * mask spread onto its four corners;
//      a thread owns whole channels, so no two threads write the same element;
//   C. (threads over output channels) grad_weight += grad_out col^T, grad_bias += grad_out,
//      summed per chunk in float and across chunks in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends.h"

namespace deblurcore {
namespace cpu {

namespace {

// Floats per scratch matrix (colT, gcolT): bounds the chunk to a few MB.
constexpr int64_t kScratchFloats = int64_t(1) << 20;

struct Sample {
  bool inside;
  int64_t y0, x0;
  float ly, lx;
};

inline Sample locate(int64_t H, int64_t W, float py, float px) {
  Sample s{};
  s.inside = py > -1.f && px > -1.f && py < float(H) && px < float(W);
  if (!s.inside) return s;
  const float fy = std::floor(py), fx = std::floor(px);
  s.y0 = static_cast<int64_t>(fy), s.x0 = static_cast<int64_t>(fx);
  s.ly = py - fy, s.lx = px - fx;
  return s;
}

// The four corner values of `s` in `plane` (0 outside the image): v00, v01, v10, v11.
inline void corners(const float* plane, int64_t H, int64_t W, const Sample& s, float v[4]) {
  const bool y0ok = s.y0 >= 0, y1ok = s.y0 + 1 < H, x0ok = s.x0 >= 0, x1ok = s.x0 + 1 < W;
  const int64_t i00 = s.y0 * W + s.x0;  // may be negative: only indexed when inside
  v[0] = (y0ok && x0ok) ? plane[i00] : 0.f;
  v[1] = (y0ok && x1ok) ? plane[i00 + 1] : 0.f;
  v[2] = (y1ok && x0ok) ? plane[i00 + W] : 0.f;
  v[3] = (y1ok && x1ok) ? plane[i00 + W + 1] : 0.f;
}

}  // namespace

void deform_conv2d_backward(const Context& ctx, const DeformConv2dParams& p, const float* grad_out,
                            const float* x, const float* offset, const float* mask,
                            const float* weight, float* grad_x, float* grad_offset,
                            float* grad_mask, float* grad_weight, float* grad_bias) {
  const int64_t taps = p.kh * p.kw, G = p.offset_groups, cpg = p.Cin / G;
  const int64_t P = p.Hout * p.Wout, K = p.Cin * taps, HW = p.H * p.W;
  const int threads = ctx.num_threads();
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(P, kScratchFloats / K));
  Tensor colT_buf = ctx.empty({chunk * K}), gcolT_buf = ctx.empty({chunk * K});
  float* colT = colT_buf.data();
  float* gcolT = gcolT_buf.data();
  std::vector<double> gw(p.Cout * K, 0.0), gb(p.Cout, 0.0);

  auto position = [&](int64_t n, int64_t g, int64_t k, int64_t pix, float* py, float* px) {
    const int64_t oy = pix / p.Wout, ox = pix % p.Wout, ky = k / p.kw, kx = k % p.kw;
    const float* off = offset + (n * G + g) * 2 * taps * P;
    *py = float(oy * p.sh - p.ph + ky * p.dh) + off[(2 * k) * P + pix];
    *px = float(ox * p.sw - p.pw + kx * p.dw) + off[(2 * k + 1) * P + pix];
  };

  std::fill(grad_x, grad_x + p.N * p.Cin * HW, 0.f);
  for (int64_t n = 0; n < p.N; ++n) {
    const float* g_n = grad_out + n * p.Cout * P;
    for (int64_t p0 = 0; p0 < P; p0 += chunk) {
      const int64_t T = std::min(chunk, P - p0);

      // A: gcol and col of each pixel; grad_offset and grad_mask.
#pragma omp parallel for num_threads(threads) schedule(static)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t pix = p0 + t;
        float* gc = gcolT + t * K;
        float* cl = colT + t * K;
        std::fill(gc, gc + K, 0.f);
        for (int64_t co = 0; co < p.Cout; ++co) {
          const float go = g_n[co * P + pix];
          if (go == 0.f) continue;
          const float* wr = weight + co * K;
          for (int64_t i = 0; i < K; ++i) gc[i] += go * wr[i];
        }
        for (int64_t g = 0; g < G; ++g)
          for (int64_t k = 0; k < taps; ++k) {
            float py, px;
            position(n, g, k, pix, &py, &px);
            const Sample s = locate(p.H, p.W, py, px);
            const int64_t mi = ((n * G + g) * taps + k) * P + pix;
            const float m = mask ? mask[mi] : 1.f;
            float d_mask = 0.f, d_py = 0.f, d_px = 0.f;
            for (int64_t ci = g * cpg; ci < (g + 1) * cpg; ++ci) {
              const int64_t col = ci * taps + k;
              if (!s.inside) {
                cl[col] = 0.f;
                continue;
              }
              float v[4];
              corners(x + (n * p.Cin + ci) * HW, p.H, p.W, s, v);
              const float hy = 1.f - s.ly, hx = 1.f - s.lx;
              const float val = hy * (hx * v[0] + s.lx * v[1]) + s.ly * (hx * v[2] + s.lx * v[3]);
              cl[col] = m * val;
              d_mask += gc[col] * val;
              const float gs = gc[col] * m;
              d_py += gs * (hx * (v[2] - v[0]) + s.lx * (v[3] - v[1]));
              d_px += gs * (hy * (v[1] - v[0]) + s.ly * (v[3] - v[2]));
            }
            const int64_t oi = ((n * G + g) * 2 * taps + 2 * k) * P + pix;
            grad_offset[oi] = d_py;
            grad_offset[oi + P] = d_px;
            if (grad_mask) grad_mask[mi] = d_mask;
          }
      }

      // B: grad_x, one input channel per thread at a time.
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
      for (int64_t ci = 0; ci < p.Cin; ++ci) {
        const int64_t g = ci / cpg;
        float* gx = grad_x + (n * p.Cin + ci) * HW;
        for (int64_t t = 0; t < T; ++t) {
          const int64_t pix = p0 + t;
          for (int64_t k = 0; k < taps; ++k) {
            float py, px;
            position(n, g, k, pix, &py, &px);
            const Sample s = locate(p.H, p.W, py, px);
            if (!s.inside) continue;
            const float m = mask ? mask[((n * G + g) * taps + k) * P + pix] : 1.f;
            const float gs = gcolT[t * K + ci * taps + k] * m;
            if (gs == 0.f) continue;
            const float hy = 1.f - s.ly, hx = 1.f - s.lx;
            const bool y0ok = s.y0 >= 0, y1ok = s.y0 + 1 < p.H, x0ok = s.x0 >= 0,
                       x1ok = s.x0 + 1 < p.W;
            const int64_t i00 = s.y0 * p.W + s.x0;
            if (y0ok && x0ok) gx[i00] += gs * hy * hx;
            if (y0ok && x1ok) gx[i00 + 1] += gs * hy * s.lx;
            if (y1ok && x0ok) gx[i00 + p.W] += gs * s.ly * hx;
            if (y1ok && x1ok) gx[i00 + p.W + 1] += gs * s.ly * s.lx;
          }
        }
      }

      // C: grad_weight and grad_bias of this chunk.
#pragma omp parallel num_threads(threads)
      {
        std::vector<float> row(K);
#pragma omp for schedule(static)
        for (int64_t co = 0; co < p.Cout; ++co) {
          std::fill(row.begin(), row.end(), 0.f);
          float bias_sum = 0.f;
          for (int64_t t = 0; t < T; ++t) {
            const float go = g_n[co * P + p0 + t];
            bias_sum += go;
            if (go == 0.f) continue;
            const float* cl = colT + t * K;
            float* r = row.data();
            for (int64_t i = 0; i < K; ++i) r[i] += go * cl[i];
          }
          double* acc = gw.data() + co * K;
          for (int64_t i = 0; i < K; ++i) acc[i] += row[i];
          gb[co] += bias_sum;
        }
      }
    }
  }
  for (int64_t i = 0; i < p.Cout * K; ++i) grad_weight[i] = float(gw[i]);
  if (grad_bias)
    for (int64_t co = 0; co < p.Cout; ++co) grad_bias[co] = float(gb[co]);
}

}  // namespace cpu
}  // namespace deblurcore
