// Shapes and parameters that op front ends (cpp/ops/) derive and validate once and hand to
// the backends. Backends never re-derive shapes: everything they need is here.
#pragma once

#include <cstdint>
#include <vector>

#include "deblurcore/op_types.h"
#include "epilogue.h"  // EpilogueParams

namespace deblurcore {

// out[n,co,oy,ox] = sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci, oy*sh - ph + ky*dh, ox*sw - pw + kx*dw]
struct Conv2dParams {
  int64_t N, Cin, H, W;  // input
  int64_t Cout, kh, kw;  // weight (Cout, Cin, kh, kw)
  int64_t sh, sw, ph, pw, dh, dw;
  // Output (N, Cout, Hout, Wout), from the front end: ph / pw are only the padding before the
  // first row / column (the padding after may differ), so kernels never derive Hout from them.
  int64_t Hout, Wout;
  EpilogueParams epilogue;
  // The CPU's Winograd transform of the weight (conv2d_prepare), or null: the CPU backend
  // transforms the weight itself when it runs the layer by Winograd.
  const float* winograd_weight = nullptr;
  // The weight prepared for Precision::BF16 (conv2d_prepare on a bf16 context), or null (the
  // CPU backend converts it on each call): packed in bf16 pairs for the direct bf16 GEMM, and
  // its Winograd transform in bf16 pairs.
  const float* bf16_packed_weight = nullptr;
  const float* winograd_bf16_weight = nullptr;
  // Its Winograd F(6x6, 3x3) transform (conv2d_prepare on a context with winograd_tile 6).
  const float* winograd6_weight = nullptr;
};

// Transposed convolution: input pixel (iy, ix) scatters w[ci,co,ky,kx] to
// output (iy*sh - ph + ky*dh, ix*sw - pw + kx*dw).
struct ConvTranspose2dParams {
  int64_t N, Cin, H, W;  // input
  int64_t Cout, kh, kw;  // weight (Cin, Cout, kh, kw)
  int64_t sh, sw, ph, pw, dh, dw;
  // Output (N, Cout, Hout, Wout), from the front end (output_padding or an asymmetric crop
  // already applied): kernels never derive it from ph / pw.
  int64_t Hout, Wout;
  EpilogueParams epilogue;
  // The CPU's Winograd transform of the weight's phase convolution (conv_transpose2d_prepare),
  // or null: the CPU backend builds it itself when it runs the layer that way.
  const float* winograd_weight = nullptr;
};

struct FacParams {
  int64_t N, C, H, W;  // x and out (N, C, H, W); kernel (N, C*k*k, H, W)
  int64_t k;           // odd kernel size; replicate padding of (k-1)/2
};

struct PadParams {
  int64_t N, C, H, W;  // input
  int64_t left, right, top, bottom;
  int64_t Hout, Wout;
  PadMode mode;
  float value;
};

// Channel-wise softmax over dim 1 of (outer, C, inner) data.
struct SoftmaxParams {
  int64_t outer, C, inner;
};

// Concatenation along channels: input i, (N, input_channels[i], plane), goes to output channels
// [sum of the input_channels before it, + input_channels[i]) of out (N, channels, plane). Each
// batch item of an input is one contiguous row of input_channels[i] * plane floats.
struct ConcatParams {
  int64_t N, plane, channels;
  std::vector<int64_t> input_channels;
};

// Modulated deformable convolution (DCNv2, torchvision.ops.deform_conv2d / mmcv
// ModulatedDeformConv2d). Input channels are split into `offset_groups` equal groups; group g
// reads offset channels [g*2*kh*kw, (g+1)*2*kh*kw) as (dy, dx) pairs per tap k = ky*kw + kx and
// mask channel g*kh*kw + k (when a mask is given). Tap (ky, kx) of output (oy, ox) samples
//   py = oy*sh - ph + ky*dh + dy,  px = ox*sw - pw + kx*dw + dx
// bilinearly, each corner outside the image counting as 0 and the whole sample 0 unless
// -1 < py < H and -1 < px < W; the sample is multiplied by the mask, then contracted with the
// weight as in conv2d.
struct DeformConv2dParams {
  int64_t N, Cin, H, W;  // input
  int64_t Cout, kh, kw;  // weight (Cout, Cin, kh, kw)
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t offset_groups;  // divides Cin
  int64_t Hout, Wout;  // output; offset (N, G*2*kh*kw, Hout, Wout), mask (N, G*kh*kw, Hout, Wout)
  bool has_mask;
  EpilogueParams epilogue;
};

// out[n,c,i] = sum_b weights[n,b,i] * inputs[b][n,c,i], summed over b = 0..B-1 in that order
// in float32 (ASPDC's per-pixel blend of its branches). inputs: B tensors (N, C, HW),
// weights (N, B, HW).
struct WeightedSumParams {
  int64_t N, B, C, HW;
};

// Iterative adaptive convolution (IFAN's IAC). Per iteration i, on every (n, c) plane:
//   v = vertical k-tap per-pixel filter of the input (rows clamped), taps F_v;
//   u = horizontal k-tap per-pixel filter of v (columns clamped), taps F_h;
//   out = act(u + b_i), act = LeakyReLU(0.1) (not after the last iteration when
//   final_activation is false).
// Filter channels (dim 1 of `filters`, filter_channels in all) are located by base + i*step:
// tap t of channel c of iteration i is channel f1_base + i*f1_step + c*k + t (F1) or
// f2_base + i*f2_step + c*k + t (F2); its bias is channel bias_base + i*bias_step + c.
// F_v = F1; F_h = F1 when reuse_vertical_filter (the released IFAN checkpoints), else F2.
struct IacParams {
  int64_t N, C, H, W;  // x and out (N, C, H, W); filters (N, filter_channels, H, W)
  int64_t k;           // odd number of taps per pass; replicate padding (k-1)/2
  int64_t iterations;  // >= 1
  int64_t filter_channels;
  int64_t f1_base, f1_step, f2_base, f2_step, bias_base, bias_step;
  bool reuse_vertical_filter;  // F2 is never read (and its gradient is zero) when true
  bool final_activation;
  float negative_slope;  // 0.1 in IFAN

  // The filter layout, decoded here only: the first channel of iteration i's vertical taps,
  // horizontal taps (F1 again when the vertical filter is reused, else F2) and biases.
  int64_t vertical_channel(int64_t i) const { return f1_base + i * f1_step; }
  int64_t horizontal_channel(int64_t i) const {
    return reuse_vertical_filter ? vertical_channel(i) : f2_base + i * f2_step;
  }
  int64_t bias_channel(int64_t i) const { return bias_base + i * bias_step; }
  // Per filter channel: 1 if the forward reads it (the backward writes zero gradients to the
  // others).
  std::vector<char> channels_read() const {
    std::vector<char> read(static_cast<size_t>(filter_channels), 0);
    for (int64_t i = 0; i < iterations; ++i) {
      for (int64_t j = 0; j < C * k; ++j) read[size_t(vertical_channel(i) + j)] = 1;
      for (int64_t j = 0; j < C * k; ++j) read[size_t(horizontal_channel(i) + j)] = 1;
      for (int64_t j = 0; j < C; ++j) read[size_t(bias_channel(i) + j)] = 1;
    }
    return read;
  }
};

}  // namespace deblurcore

namespace deblurcore {

// mmcv_flat_reinterpret: N batch elements; each copies its first min(in_numel, out_numel)
// floats and zero-fills the rest of its out_numel floats.
struct MmcvFlatReinterpretParams {
  int64_t N;
  int64_t in_numel;   // C * h * w of x
  int64_t out_numel;  // C * height * width of out
};

// rfft2 / irfft2 over `planes` = N*C real planes (H, W); the spectrum of a plane is
// (H, W/2+1) complex, interleaved.
struct Fft2dParams {
  int64_t planes, H, W;
};

// CrossCorrelationFFT (see ops.h): x (N, C, H, W) -> (N, pairs*(1+add_flips), window, window),
// pairs = C(C+1)/2, window = 2*max_shift + 1.
struct CrossCorrelationParams {
  int64_t N, C, H, W;
  int64_t max_shift, window, pairs;
  bool add_flips;
};

// Per-plane standardisation of `planes` planes of `plane_size` floats.
struct StandardizeParams {
  int64_t planes, plane_size;
  float eps;
};

// out[n, 0, i] = 0.2989 x[n, 0, i] + 0.5870 x[n, 1, i] + 0.1140 x[n, 2, i], i < HW.
struct GrayscaleParams {
  int64_t N, HW;
};

// x / (sum |x| + eps) over each of N samples of `sample_size` floats.
struct NormalizeL1Params {
  int64_t N, sample_size;
  float eps;
};

// out (N, out_features) = act(x (N, in_features) . weight(out_features, in_features)^T + bias).
struct LinearParams {
  int64_t N, in_features, out_features;
  Activation activation;  // None or ReLU
};

// out (N, C, height, width) = x (N, C, H, W)[:, :, top:top+height, left:left+width].
struct CropParams {
  int64_t N, C, H, W;
  int64_t top, left, height, width;
};

}  // namespace deblurcore
