// Plain scalar reference kernels: the executable spec of every op. They are written for
// clarity, accumulate in double (so they are at least as accurate as any fast kernel) and are
// parallel only over their outermost loop so the tests stay quick. Fast kernels are tested
// against them.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

namespace {

// The convolutions' epilogue (epilogue.h) on a double accumulator: everything before the
// activation in double, then rounded once to float.
float epilogue(const EpilogueParams& e, double acc, const float* bias, int64_t n, int64_t co,
               int64_t cout, const float* residual, int64_t o) {
  return apply_epilogue_scalar<ScalarEpilogueMath<double>>(
      e, acc, bias ? bias + co : nullptr, n * cout + co, residual ? residual + o : nullptr);
}

}  // namespace

void conv2d(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
            const float* bias, const float* residual, float* out) {
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t co = 0; co < p.Cout; ++co)
      for (int64_t oy = 0; oy < p.Hout; ++oy)
        for (int64_t ox = 0; ox < p.Wout; ++ox) {
          double acc = 0.0;
          for (int64_t ci = 0; ci < p.Cin; ++ci)
            for (int64_t ky = 0; ky < p.kh; ++ky) {
              const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
              if (iy < 0 || iy >= p.H) continue;
              for (int64_t kx = 0; kx < p.kw; ++kx) {
                const int64_t ix = ox * p.sw - p.pw + kx * p.dw;
                if (ix < 0 || ix >= p.W) continue;
                acc += double(w[((co * p.Cin + ci) * p.kh + ky) * p.kw + kx]) *
                       x[((n * p.Cin + ci) * p.H + iy) * p.W + ix];
              }
            }
          const int64_t o = ((n * p.Cout + co) * p.Hout + oy) * p.Wout + ox;
          out[o] = epilogue(p.epilogue, acc, bias, n, co, p.Cout, residual, o);
        }
}

// Written in gather form: output (oy, ox) receives input (iy, ix) through tap (ky, kx) when
// oy = iy*sh - ph + ky*dh, i.e. iy = (oy + ph - ky*dh) / sh with no remainder.
void conv_transpose2d(const Context& ctx, const ConvTranspose2dParams& p, const float* x,
                      const float* w, const float* bias, const float* residual, float* out) {
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t co = 0; co < p.Cout; ++co)
      for (int64_t oy = 0; oy < p.Hout; ++oy)
        for (int64_t ox = 0; ox < p.Wout; ++ox) {
          double acc = 0.0;
          for (int64_t ky = 0; ky < p.kh; ++ky) {
            const int64_t ty = oy + p.ph - ky * p.dh;
            if (ty < 0 || ty % p.sh) continue;
            const int64_t iy = ty / p.sh;
            if (iy >= p.H) continue;
            for (int64_t kx = 0; kx < p.kw; ++kx) {
              const int64_t tx = ox + p.pw - kx * p.dw;
              if (tx < 0 || tx % p.sw) continue;
              const int64_t ix = tx / p.sw;
              if (ix >= p.W) continue;
              for (int64_t ci = 0; ci < p.Cin; ++ci)
                acc += double(w[((ci * p.Cout + co) * p.kh + ky) * p.kw + kx]) *
                       x[((n * p.Cin + ci) * p.H + iy) * p.W + ix];
            }
          }
          const int64_t o = ((n * p.Cout + co) * p.Hout + oy) * p.Wout + ox;
          out[o] = epilogue(p.epilogue, acc, bias, n, co, p.Cout, residual, o);
        }
}

static inline int64_t clamp_index(int64_t v, int64_t size) {
  return std::min(std::max<int64_t>(v, 0), size - 1);
}

void fac(const Context& ctx, const FacParams& p, const float* x, const float* kernel,
         float* out) {
  const int64_t k = p.k, r = (k - 1) / 2, plane = p.H * p.W;
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      const float* xc = x + (n * p.C + c) * plane;
      const float* kc = kernel + (n * p.C + c) * k * k * plane;
      for (int64_t y = 0; y < p.H; ++y)
        for (int64_t xx = 0; xx < p.W; ++xx) {
          double acc = 0.0;
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t sy = clamp_index(y + ky - r, p.H), sx = clamp_index(xx + kx - r, p.W);
              acc += double(xc[sy * p.W + sx]) * kc[(ky * k + kx) * plane + y * p.W + xx];
            }
          out[(n * p.C + c) * plane + y * p.W + xx] = static_cast<float>(acc);
        }
    }
}

// grad_kernel[c*k*k + ky*k + kx, y, x] = x[c, clamp(y+ky-r), clamp(x+kx-r)] * g[c, y, x]
// grad_x[c, sy, sx] = sum over (y, x, ky, kx) whose clamped tap lands on (sy, sx) of
//                     kernel[c*k*k + ky*k + kx, y, x] * g[c, y, x]
// Written as a scatter over each channel plane (one thread per channel, so no races).
void fac_backward(const Context& ctx, const FacParams& p, const float* grad_out, const float* x,
                  const float* kernel, float* grad_x, float* grad_kernel) {
  const int64_t k = p.k, r = (k - 1) / 2, plane = p.H * p.W;
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      const int64_t nc = n * p.C + c;
      const float* xc = x + nc * plane;
      const float* gc = grad_out + nc * plane;
      const float* kc = kernel + nc * k * k * plane;
      float* gkc = grad_kernel + nc * k * k * plane;
      std::vector<double> gx(plane, 0.0);
      for (int64_t y = 0; y < p.H; ++y)
        for (int64_t xx = 0; xx < p.W; ++xx) {
          const double g = gc[y * p.W + xx];
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t sy = clamp_index(y + ky - r, p.H), sx = clamp_index(xx + kx - r, p.W);
              const int64_t t = (ky * k + kx) * plane + y * p.W + xx;
              gkc[t] = static_cast<float>(double(xc[sy * p.W + sx]) * g);
              gx[sy * p.W + sx] += double(kc[t]) * g;
            }
        }
      for (int64_t i = 0; i < plane; ++i) grad_x[nc * plane + i] = static_cast<float>(gx[i]);
    }
}

void activation(const Context& ctx, Activation act, float slope, const float* x, float* out,
                int64_t n) {
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (act == Activation::ReLU)
      out[i] = v < 0.f ? 0.f : v;  // as torch.relu: -0 and NaN pass through
    else if (act == Activation::LeakyReLU)
      out[i] = v > 0.f ? v : v * slope;
    else
      out[i] = v;
  }
}

void sigmoid(const Context& ctx, const float* x, float* out, int64_t n) {
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double(x[i]))));
}

void clamp(const Context& ctx, const float* x, float* out, int64_t n, float lo, float hi) {
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    out[i] = std::isnan(v) ? v : std::min(std::max(v, lo), hi);
  }
}

void add(const Context& ctx, const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void softmax(const Context& ctx, const SoftmaxParams& p, const float* x, float* out) {
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t i = 0; i < p.inner; ++i) {
      const float* xs = x + o * p.C * p.inner + i;
      float* ys = out + o * p.C * p.inner + i;
      double m = xs[0];
      for (int64_t c = 1; c < p.C; ++c) m = std::max(m, double(xs[c * p.inner]));
      double sum = 0.0;
      for (int64_t c = 0; c < p.C; ++c) sum += std::exp(double(xs[c * p.inner]) - m);
      for (int64_t c = 0; c < p.C; ++c)
        ys[c * p.inner] = static_cast<float>(std::exp(double(xs[c * p.inner]) - m) / sum);
    }
}

// Source index along one dimension for output index o of a padded dimension.
static int64_t pad_source(int64_t o, int64_t before, int64_t size, PadMode mode) {
  int64_t i = o - before;
  if (i >= 0 && i < size) return i;
  switch (mode) {
    case PadMode::Zeros: return -1;
    case PadMode::Replicate: return clamp_index(i, size);
    case PadMode::Reflect: return i < 0 ? -i : 2 * (size - 1) - i;
    case PadMode::Symmetric: return i < 0 ? -i - 1 : 2 * size - 1 - i;
  }
  return -1;
}

void pad(const Context& ctx, const PadParams& p, const float* x, float* out) {
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      const float* xc = x + (n * p.C + c) * p.H * p.W;
      float* oc = out + (n * p.C + c) * p.Hout * p.Wout;
      for (int64_t oy = 0; oy < p.Hout; ++oy) {
        const int64_t sy = pad_source(oy, p.top, p.H, p.mode);
        for (int64_t ox = 0; ox < p.Wout; ++ox) {
          const int64_t sx = pad_source(ox, p.left, p.W, p.mode);
          oc[oy * p.Wout + ox] = (sy < 0 || sx < 0) ? p.value : xc[sy * p.W + sx];
        }
      }
    }
}

void copy_rows(const Context& ctx, const float* src, int64_t src_stride, float* dst,
               int64_t dst_stride, int64_t row_floats, int64_t count) {
  (void)ctx;
  for (int64_t r = 0; r < count; ++r)
    for (int64_t i = 0; i < row_floats; ++i) dst[r * dst_stride + i] = src[r * src_stride + i];
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
