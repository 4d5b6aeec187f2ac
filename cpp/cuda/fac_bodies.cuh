// The per-element computations of fac and fac_backward on CUDA (see device_common.cuh).
#pragma once

#include "cuda/device_common.cuh"

namespace deblurcore {
namespace cuda {
namespace detail {
// ---- filter adaptive convolution --------------------------------------------------------
// xc: the (H, W) plane of channel c; kc: its k*k filter planes (tap t at kc + t*plane).

// out[y, x], summed as the official kernel does: from 0.0f, ky outer, kx inner, one fmaf per
// tap (the first tap therefore contributes the rounded product).
DBC_HD float fac_at(const float* xc, const float* kc, int H, int W, int k, int64_t plane, int y,
                    int x) {
  const int r = (k - 1) / 2;
  const int pix = y * W + x;
  float acc = 0.f;
  for (int ky = 0; ky < k; ++ky) {
    const float* xrow = xc + clamp_int(y + ky - r, 0, H - 1) * W;
    for (int kx = 0; kx < k; ++kx) {
      const float xv = xrow[clamp_int(x + kx - r, 0, W - 1)];
      const float kv = kc[static_cast<int64_t>(ky * k + kx) * plane + pix];
      acc = fmaf(xv, kv, acc);
    }
  }
  return acc;
}

// grad_kernel[t, y, x] = x[clamp(y+ky-r), clamp(x+kx-r)] * g[y, x]: one rounded product, which
// equals the reference's double product rounded to float.
DBC_HD float fac_grad_kernel_at(const float* xc, const float* gc, int H, int W, int k, int t, int y,
                                int x) {
  const int r = (k - 1) / 2;
  const int ky = t / k, kx = t - ky * k;
  const int sy = clamp_int(y + ky - r, 0, H - 1), sx = clamp_int(x + kx - r, 0, W - 1);
  return xc[sy * W + sx] * gc[y * W + x];
}

// grad_x[sy, sx] as a gather (race-free, deterministic). In the padded frame (H+2r, W+2r) the
// official backward computes, per padded position (Y, X),
//   gXp[Y, X] = sum_{ky, kx} kernel[ky*k+kx, Y-ky, X-kx] * g[Y-ky, X-kx]  (taps inside the image)
// from 0.0f with ky outer / kx inner fmaf, and the replicate padding's backward then adds onto
// each unpadded pixel the gXp of every padded position that copies it: rows Y with
// clamp(Y-r, 0, H-1) = sy (likewise columns). Interior pixels have exactly one such position, so
// their value is the official one bit for bit; border pixels add their positions row by row.
DBC_HD float fac_grad_x_at(const float* gc, const float* kc, int H, int W, int k, int64_t plane,
                           int sy, int sx) {
  const int r = (k - 1) / 2;
  const int y_lo = sy == 0 ? 0 : sy + r, y_hi = sy == H - 1 ? H - 1 + 2 * r : sy + r;
  const int x_lo = sx == 0 ? 0 : sx + r, x_hi = sx == W - 1 ? W - 1 + 2 * r : sx + r;
  float total = 0.f;
  for (int Y = y_lo; Y <= y_hi; ++Y)
    for (int X = x_lo; X <= x_hi; ++X) {
      float acc = 0.f;
      for (int ky = 0; ky < k; ++ky) {
        const int y = Y - ky;
        if (y < 0 || y >= H) continue;
        for (int kx = 0; kx < k; ++kx) {
          const int x = X - kx;
          if (x < 0 || x >= W) continue;
          const int pix = y * W + x;
          acc = fmaf(kc[static_cast<int64_t>(ky * k + kx) * plane + pix], gc[pix], acc);
        }
      }
      total += acc;
    }
  return total;
}

}  // namespace detail
}  // namespace cuda
}  // namespace deblurcore
