// Shapes and parameters that op front ends (cpp/ops/) derive and validate once and hand to
// the backends. Backends never re-derive shapes: everything they need is here.
#pragma once

#include <cstdint>

#include "deblurcore/ops.h"

namespace deblurcore {

struct EpilogueParams {
  Activation activation = Activation::None;
  float negative_slope = 0.f;
  bool residual_before_activation = false;  // the residual pointer itself travels separately
};

// out[n,co,oy,ox] = sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci, oy*sh - ph + ky*dh, ox*sw - pw + kx*dw]
struct Conv2dParams {
  int64_t N, Cin, H, W;      // input
  int64_t Cout, kh, kw;      // weight (Cout, Cin, kh, kw)
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t Hout, Wout;        // output (N, Cout, Hout, Wout)
  EpilogueParams epilogue;
};

// Transposed convolution: input pixel (iy, ix) scatters w[ci,co,ky,kx] to
// output (iy*sh - ph + ky*dh, ix*sw - pw + kx*dw).
struct ConvTranspose2dParams {
  int64_t N, Cin, H, W;      // input
  int64_t Cout, kh, kw;      // weight (Cin, Cout, kh, kw)
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t Hout, Wout;        // output (N, Cout, Hout, Wout), output_padding already applied
  EpilogueParams epilogue;
};

struct FacParams {
  int64_t N, C, H, W;  // x and out (N, C, H, W); kernel (N, C*k*k, H, W)
  int64_t k;           // odd kernel size; replicate padding of (k-1)/2
};

struct PadParams {
  int64_t N, C, H, W;          // input
  int64_t left, right, top, bottom;
  int64_t Hout, Wout;
  PadMode mode;
  float value;
};

// Channel-wise softmax over dim 1 of (outer, C, inner) data.
struct SoftmaxParams {
  int64_t outer, C, inner;
};

}  // namespace deblurcore
