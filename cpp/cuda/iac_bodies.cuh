// Per-element computations of the CUDA iterative adaptive convolution (IFAN's IAC), as
// __host__ __device__ functions: the kernels in iac.cu are thin loops around them, and the
// same code can be run on the host to check it without a GPU.
//
// Conventions: `in`, `g`, `gz`, `gv` point at one (n, c) plane of H*W floats; `fv`, `fh` at
// tap 0 of the vertical / horizontal filter of one (n, c, iteration), tap t being t*HW floats
// further; `b` at the bias plane. Row index y, column x.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#define IAC_HD __host__ __device__ __forceinline__

namespace deblurcore {
namespace cuda {
namespace iac_detail {

IAC_HD int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Products rounded before they are summed, and never contracted into an FMA: the official
// code's torch.mul followed by torch.sum.
IAC_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
IAC_HD float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

// The vertical pass at (y, xs): sum_s fv[s][y, xs] * in[clamp(y+s-r), xs], s left to right.
IAC_HD float vertical_at(const float* in, const float* fv, int H, int W, int k, int64_t HW, int y,
                         int xs) {
  const int r = (k - 1) / 2;
  float acc = 0.f;
  for (int s = 0; s < k; ++s) {
    const float prod =
        mul_rn(fv[s * HW + int64_t(y) * W + xs], in[int64_t(clampi(y + s - r, 0, H - 1)) * W + xs]);
    acc = s == 0 ? prod : add_rn(acc, prod);
  }
  return acc;
}

// u + b at (y, x) (before the activation): the horizontal pass reads the vertical result of
// the neighbouring columns, each computed with that column's own taps.
IAC_HD float preactivation_at(const float* in, const float* fv, const float* fh, const float* b,
                              int H, int W, int k, int64_t HW, int y, int x) {
  const int r = (k - 1) / 2;
  const int64_t o = int64_t(y) * W + x;
  float acc = 0.f;
  for (int t = 0; t < k; ++t) {
    const float v = vertical_at(in, fv, H, W, k, HW, y, clampi(x + t - r, 0, W - 1));
    const float prod = mul_rn(fh[t * HW + o], v);
    acc = t == 0 ? prod : add_rn(acc, prod);
  }
  return add_rn(acc, b[o]);
}

IAC_HD float forward_at(const float* in, const float* fv, const float* fh, const float* b, int H,
                        int W, int k, int64_t HW, int y, int x, bool act, float slope) {
  const float z = preactivation_at(in, fv, fh, b, H, W, k, HW, y, x);
  return (act && !(z > 0.f)) ? z * slope : z;
}

// Backward step A at (y, x): the gradient gz of the pre-activation (returned), which is also
// the bias gradient, and the horizontal taps' gradient gz * v[clamp(x+t-r)] written to gfh.
IAC_HD float backward_a_at(const float* in, const float* fv, const float* fh, const float* b,
                           const float* g, float* gfh, float* gb, int H, int W, int k, int64_t HW,
                           int y, int x, bool act, float slope) {
  const int r = (k - 1) / 2;
  const int64_t o = int64_t(y) * W + x;
  float gz = g[o];
  if (act && !(preactivation_at(in, fv, fh, b, H, W, k, HW, y, x) > 0.f)) gz = gz * slope;
  gb[o] = gz;
  for (int t = 0; t < k; ++t)
    gfh[t * HW + o] = gz * vertical_at(in, fv, H, W, k, HW, y, clampi(x + t - r, 0, W - 1));
  return gz;
}

// Backward step B at (y, x): the gradient of the vertical result v, gathered from every
// column whose horizontal tap read column x (the replicate padding folds the reads beyond the
// border onto columns 0 and W-1), returned; and the vertical taps' gradient gv * in[...],
// added to gfv when the same filter serves both passes (accumulate) or written.
IAC_HD float backward_b_at(const float* in, const float* fh, const float* gz, float* gfv, int H,
                           int W, int k, int64_t HW, int y, int x, bool accumulate) {
  const int r = (k - 1) / 2;
  const int64_t row = int64_t(y) * W;
  float gv = 0.f;
  for (int t = 0; t < k; ++t) {
    // Columns xo with clamp(xo + t - r) == x.
    const int lo = clampi(x == 0 ? 0 : x - t + r, 0, W);
    const int hi = clampi(x == W - 1 ? W - 1 : x - t + r, -1, W - 1);
    for (int xo = lo; xo <= hi; ++xo) gv += fh[t * HW + row + xo] * gz[row + xo];
  }
  for (int t = 0; t < k; ++t) {
    const float d = gv * in[int64_t(clampi(y + t - r, 0, H - 1)) * W + x];
    float* dst = gfv + t * HW + row + x;
    *dst = accumulate ? *dst + d : d;
  }
  return gv;
}

// Backward step C at (y, x): the gradient of the iteration's input, gathered from every row
// whose vertical tap read row y (rows beyond the border folded onto rows 0 and H-1).
IAC_HD float backward_c_at(const float* fv, const float* gv, int H, int W, int k, int64_t HW, int y,
                           int x) {
  const int r = (k - 1) / 2;
  float acc = 0.f;
  for (int t = 0; t < k; ++t) {
    const int lo = clampi(y == 0 ? 0 : y - t + r, 0, H);
    const int hi = clampi(y == H - 1 ? H - 1 : y - t + r, -1, H - 1);
    for (int yo = lo; yo <= hi; ++yo) {
      const int64_t o = int64_t(yo) * W + x;
      acc += fv[t * HW + o] * gv[o];
    }
  }
  return acc;
}

}  // namespace iac_detail
}  // namespace cuda
}  // namespace deblurcore
