// Scalar reference kernel of deform_conv2d_backward: the executable spec of the gradients (see
// cpp/cpu/README.md). Written for clarity, accumulating in double; parallel over its outer loops.
//
// With col[n,ci,k,pix] = m * s, s the bilinear sample of tap k at pixel pix and m its mask:
//   grad_weight[co,ci,k] = sum_{n,pix} grad_out[n,co,pix] * col[n,ci,k,pix]
//   grad_bias[co]        = sum_{n,pix} grad_out[n,co,pix]
//   gcol[n,ci,k,pix]     = sum_co weight[co,ci,k] * grad_out[n,co,pix]
//   grad_mask[n,g,k,pix] = sum_{ci in g} gcol * s
//   grad_offset (dy, dx) = sum_{ci in g} gcol * m * (ds/dpy, ds/dpx)
//   grad_x: gcol * m * (bilinear weight of each corner), added to the four corners.
#include <cmath>
#include <vector>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

namespace {

// The four corners of a bilinear sample at (py, px) with the forward's zero padding; `inside`
// is false when the whole sample is 0 (py <= -1, py >= H, px <= -1 or px >= W).
struct Corners {
  bool inside;
  int64_t y0, x0;
  double ly, lx;
};

Corners locate(int64_t H, int64_t W, double py, double px) {
  Corners c{};
  c.inside = py > -1.0 && px > -1.0 && py < double(H) && px < double(W);
  if (!c.inside) return c;
  const double fy = std::floor(py), fx = std::floor(px);
  c.y0 = static_cast<int64_t>(fy), c.x0 = static_cast<int64_t>(fx);
  c.ly = py - fy, c.lx = px - fx;
  return c;
}

// Value of the plane at (y, x), 0 outside it.
double at(const float* plane, int64_t H, int64_t W, int64_t y, int64_t x) {
  return (y < 0 || y >= H || x < 0 || x >= W) ? 0.0 : double(plane[y * W + x]);
}

}  // namespace

void deform_conv2d_backward(const Context& ctx, const DeformConv2dParams& p, const float* grad_out,
                            const float* x, const float* offset, const float* mask,
                            const float* weight, float* grad_x, float* grad_offset,
                            float* grad_mask, float* grad_weight, float* grad_bias) {
  const int64_t taps = p.kh * p.kw, G = p.offset_groups, cpg = p.Cin / G;
  const int64_t P = p.Hout * p.Wout, K = p.Cin * taps, HW = p.H * p.W;

  // The position tap k of group g of output pixel pix samples in image n.
  auto position = [&](int64_t n, int64_t g, int64_t k, int64_t pix, double* py, double* px) {
    const int64_t oy = pix / p.Wout, ox = pix % p.Wout, ky = k / p.kw, kx = k % p.kw;
    const float* off = offset + (n * G + g) * 2 * taps * P;
    *py = double(oy * p.sh - p.ph + ky * p.dh) + off[(2 * k) * P + pix];
    *px = double(ox * p.sw - p.pw + kx * p.dw) + off[(2 * k + 1) * P + pix];
  };
  auto mask_at = [&](int64_t n, int64_t g, int64_t k, int64_t pix) {
    return mask ? double(mask[((n * G + g) * taps + k) * P + pix]) : 1.0;
  };

  // grad_x, grad_offset, grad_mask: image n reads and writes only its own slices.
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n) {
    std::vector<double> gx(p.Cin * HW, 0.0), goff(G * 2 * taps * P, 0.0), gm(G * taps * P, 0.0);
    for (int64_t pix = 0; pix < P; ++pix)
      for (int64_t ci = 0; ci < p.Cin; ++ci)
        for (int64_t k = 0; k < taps; ++k) {
          double gcol = 0.0;
          for (int64_t co = 0; co < p.Cout; ++co)
            gcol += double(weight[co * K + ci * taps + k]) *
                    double(grad_out[(n * p.Cout + co) * P + pix]);
          const int64_t g = ci / cpg;
          double py, px;
          position(n, g, k, pix, &py, &px);
          const Corners c = locate(p.H, p.W, py, px);
          if (!c.inside) continue;
          const float* plane = x + (n * p.Cin + ci) * HW;
          const double v00 = at(plane, p.H, p.W, c.y0, c.x0);
          const double v01 = at(plane, p.H, p.W, c.y0, c.x0 + 1);
          const double v10 = at(plane, p.H, p.W, c.y0 + 1, c.x0);
          const double v11 = at(plane, p.H, p.W, c.y0 + 1, c.x0 + 1);
          const double hy = 1.0 - c.ly, hx = 1.0 - c.lx;
          const double s = hy * hx * v00 + hy * c.lx * v01 + c.ly * hx * v10 + c.ly * c.lx * v11;
          const double m = mask_at(n, g, k, pix);
          gm[(g * taps + k) * P + pix] += gcol * s;
          const double gs = gcol * m;  // gradient of the loss with respect to the sample s
          const int64_t oi = (g * 2 * taps + 2 * k) * P + pix;
          goff[oi] += gs * (hx * (v10 - v00) + c.lx * (v11 - v01));      // d/dpy
          goff[oi + P] += gs * (hy * (v01 - v00) + c.ly * (v11 - v10));  // d/dpx
          const double wts[4] = {hy * hx, hy * c.lx, c.ly * hx, c.ly * c.lx};
          for (int corner = 0; corner < 4; ++corner) {
            const int64_t yy = c.y0 + corner / 2, xx = c.x0 + corner % 2;
            if (yy < 0 || yy >= p.H || xx < 0 || xx >= p.W) continue;
            gx[ci * HW + yy * p.W + xx] += gs * wts[corner];
          }
        }
    for (int64_t i = 0; i < p.Cin * HW; ++i) grad_x[n * p.Cin * HW + i] = float(gx[i]);
    for (int64_t i = 0; i < G * 2 * taps * P; ++i)
      grad_offset[n * G * 2 * taps * P + i] = float(goff[i]);
    if (grad_mask)
      for (int64_t i = 0; i < G * taps * P; ++i) grad_mask[n * G * taps * P + i] = float(gm[i]);
  }

  // grad_weight and grad_bias: one output channel per iteration.
#pragma omp parallel for num_threads(ctx.num_threads())
  for (int64_t co = 0; co < p.Cout; ++co) {
    for (int64_t ci = 0; ci < p.Cin; ++ci)
      for (int64_t k = 0; k < taps; ++k) {
        const int64_t g = ci / cpg;
        double acc = 0.0;
        for (int64_t n = 0; n < p.N; ++n) {
          const float* plane = x + (n * p.Cin + ci) * HW;
          for (int64_t pix = 0; pix < P; ++pix) {
            double py, px;
            position(n, g, k, pix, &py, &px);
            const Corners c = locate(p.H, p.W, py, px);
            if (!c.inside) continue;
            const double hy = 1.0 - c.ly, hx = 1.0 - c.lx;
            const double s = hy * hx * at(plane, p.H, p.W, c.y0, c.x0) +
                             hy * c.lx * at(plane, p.H, p.W, c.y0, c.x0 + 1) +
                             c.ly * hx * at(plane, p.H, p.W, c.y0 + 1, c.x0) +
                             c.ly * c.lx * at(plane, p.H, p.W, c.y0 + 1, c.x0 + 1);
            acc += double(grad_out[(n * p.Cout + co) * P + pix]) * mask_at(n, g, k, pix) * s;
          }
        }
        grad_weight[co * K + ci * taps + k] = float(acc);
      }
    if (grad_bias) {
      double acc = 0.0;
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t pix = 0; pix < P; ++pix) acc += grad_out[(n * p.Cout + co) * P + pix];
      grad_bias[co] = float(acc);
    }
  }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
