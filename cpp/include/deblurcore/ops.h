// The op API, declared once. Names, argument order and defaults follow
// torch.nn.functional. Every op validates its arguments (throwing ValueError/TypeError with
// a message that names the argument), allocates its output from the context and dispatches
// on ctx.device() to the cpu:: or cuda:: backend. All tensors must be on ctx.device().
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "deblurcore/context.h"
#include "deblurcore/export.h"
#include "deblurcore/op_types.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

// Fused output stage of conv2d / conv_transpose2d, with v = (conv(x) + bias) * scale + shift:
//   AfterActivation  (default): y = act(v) + residual
//   BeforeActivation:           y = act(v + residual)
// The first is STFAN's (`img_prd(...) + img_blur`, and a ResnetBlock's second conv with no
// activation); the second is IFAN's ResnetBlock (`lrelu(x + stem(x))`). scale and shift are a
// per-sample, per-output-channel affine map (e.g. a normalisation or a conditioning folded
// into the convolution); either may be undefined (1 and 0).
struct Epilogue {
  enum class Residual : int { AfterActivation = 0, BeforeActivation = 1 };
  Activation activation = Activation::None;
  float negative_slope = 0.01f;  // LeakyReLU only
  Tensor residual;               // optional, shape of the output
  Residual residual_position = Residual::AfterActivation;
  Tensor scale;  // optional, (N, Cout)
  Tensor shift;  // optional, (N, Cout)

  static Epilogue leaky_relu(float slope) {
    Epilogue e;
    e.activation = Activation::LeakyReLU;
    e.negative_slope = slope;
    return e;
  }
  static Epilogue relu() {
    Epilogue e;
    e.activation = Activation::ReLU;
    e.negative_slope = 0.f;
    return e;
  }
};

// ---- convolutions ------------------------------------------------------------------------

// x (N, Cin, H, W), weight (Cout, Cin, kh, kw), bias (Cout) or undefined
// -> (N, Cout, Hout, Wout), Hout = (H + 2*padding.h - dilation.h*(kh-1) - 1) / stride.h + 1.
// Zero padding, groups = 1.
DEBLURCORE_API Tensor conv2d(const Context& ctx, const Tensor& x, const Tensor& weight,
                             const Tensor& bias = {}, Pair stride = 1, Pair padding = 0,
                             Pair dilation = 1, const Epilogue& epilogue = {});
// The same with padding given per side (top, bottom, left, right), e.g. TensorFlow's 'same'
// padding of a stride-2 convolution of an even size, (0, 1, 0, 1):
// Hout = (H + top + bottom - dilation.h*(kh-1) - 1) / stride.h + 1.
DEBLURCORE_API Tensor conv2d(const Context& ctx, const Tensor& x, const Tensor& weight,
                             const Tensor& bias, Pair stride, Padding2d padding, Pair dilation = 1,
                             const Epilogue& epilogue = {});

// A conv2d weight prepared once (at load) for the fast CPU algorithms: the weight itself and,
// where the CPU conv2d may run it by Winograd F(4x4, 3x3) (a 3x3 weight with enough channels,
// on a CPU context), its transformed form, so that conv2d does not transform it on every call.
// `winograd` has a layout private to the CPU backend; treat the struct as an opaque handle
// built by conv2d_prepare. The results equal those of conv2d with the plain weight.
// It holds the forms the context it was prepared with runs: on a bf16 context
// (Precision::BF16) the weight rounded to bfloat16 and packed for the bf16 kernels (direct, and
// Winograd where it may run) instead of the float forms, so that no conversion is left for each
// call; on a context with winograd_tile() 6 the F(6x6, 3x3) form too, `winograd6`. Used on
// another context it still gives that context's results, converting the weight on each call.
// The models prepare each block's layers with the context the block runs with
// (models/precision_policy.h).
struct PreparedConv2dWeight {
  Tensor weight;         // (Cout, Cin, kh, kw)
  Tensor winograd;       // undefined where not used
  Tensor bf16;           // bf16 direct-GEMM form, undefined where not used
  Tensor winograd_bf16;  // bf16 Winograd form, undefined where not used
  Tensor winograd6;      // F(6x6, 3x3) form (a context with winograd_tile 6), likewise
};
// weight (Cout, Cin, kh, kw) -> its prepared form (shares the weight's memory).
DEBLURCORE_API PreparedConv2dWeight conv2d_prepare(const Context& ctx, const Tensor& weight);
// conv2d with a prepared weight (the arguments otherwise as above).
DEBLURCORE_API Tensor conv2d(const Context& ctx, const Tensor& x,
                             const PreparedConv2dWeight& weight, const Tensor& bias, Pair stride,
                             Pair padding, Pair dilation = 1, const Epilogue& epilogue = {});
DEBLURCORE_API Tensor conv2d(const Context& ctx, const Tensor& x,
                             const PreparedConv2dWeight& weight, const Tensor& bias, Pair stride,
                             Padding2d padding, Pair dilation = 1, const Epilogue& epilogue = {});

// x (N, Cin, H, W), weight (Cin, Cout, kh, kw) as in PyTorch, bias (Cout) or undefined
// -> (N, Cout, Hout, Wout),
// Hout = (H-1)*stride.h - 2*padding.h + dilation.h*(kh-1) + output_padding.h + 1.
DEBLURCORE_API Tensor conv_transpose2d(const Context& ctx, const Tensor& x, const Tensor& weight,
                                       const Tensor& bias = {}, Pair stride = 1, Pair padding = 0,
                                       Pair output_padding = 0, Pair dilation = 1,
                                       const Epilogue& epilogue = {});
// A conv_transpose2d weight prepared once (at load), as conv2d_prepare does for conv2d: the
// weight and, where the CPU conv_transpose2d may run it by Winograd (a 4x4 weight, used with
// stride 2 and padding 1 as in an upsampling layer, on a CPU context in float), the transform
// of its phase convolution. Treat it as an opaque handle built by conv_transpose2d_prepare.
// The results equal those of conv_transpose2d with the plain weight.
struct PreparedConvTranspose2dWeight {
  Tensor weight;    // (Cin, Cout, kh, kw)
  Tensor winograd;  // undefined where not used
};
// weight (Cin, Cout, kh, kw) -> its prepared form (shares the weight's memory).
DEBLURCORE_API PreparedConvTranspose2dWeight conv_transpose2d_prepare(const Context& ctx,
                                                                      const Tensor& weight);
// conv_transpose2d with a prepared weight (the arguments otherwise as above).
DEBLURCORE_API Tensor conv_transpose2d(const Context& ctx, const Tensor& x,
                                       const PreparedConvTranspose2dWeight& weight,
                                       const Tensor& bias, Pair stride, Pair padding,
                                       Pair output_padding = 0, Pair dilation = 1,
                                       const Epilogue& epilogue = {});
// The same with the padding given per side as the crop of the full transposed-convolution
// output (Keras Conv2DTranspose 'same' with stride 2 and a 5x5 kernel crops (1, 2, 1, 2)):
// Hout = (H-1)*stride.h - top - bottom + dilation.h*(kh-1) + 1 (no output_padding).
DEBLURCORE_API Tensor conv_transpose2d(const Context& ctx, const Tensor& x, const Tensor& weight,
                                       const Tensor& bias, Pair stride, Padding2d padding,
                                       Pair dilation = 1, const Epilogue& epilogue = {});

// Modulated deformable convolution (DCNv2), with the arguments and conventions of
// torchvision.ops.deform_conv2d (and mmcv's ModulatedDeformConv2d):
//   x (N, Cin, H, W), offset (N, 2*G*kh*kw, Hout, Wout), weight (Cout, Cin, kh, kw),
//   bias (Cout) or undefined, mask (N, G*kh*kw, Hout, Wout) or undefined (all ones)
//   -> (N, Cout, Hout, Wout), Hout as in conv2d.
// The number of offset groups G is offset.size(1) / (2*kh*kw) and must divide Cin; input
// channel c belongs to group c / (Cin/G). For tap k = ky*kw + kx of group g, offset channels
// g*2*kh*kw + 2k and + 2k+1 are (dy, dx) and mask channel g*kh*kw + k multiplies the sample
// taken at (oy*sh - ph + ky*dh + dy, ox*sw - pw + kx*dw + dx) by bilinear interpolation: a
// corner outside the image counts as 0, and a sample with py <= -1, py >= H, px <= -1 or
// px >= W is 0. Offset and mask sizes are checked against the output (mmcv does not check).
DEBLURCORE_API Tensor deform_conv2d(const Context& ctx, const Tensor& x, const Tensor& offset,
                                    const Tensor& weight, const Tensor& bias = {}, Pair stride = 1,
                                    Pair padding = 0, Pair dilation = 1, const Tensor& mask = {},
                                    const Epilogue& epilogue = {});

// Gradients of deform_conv2d (without epilogue) given grad_out (N, Cout, Hout, Wout), the
// forward's arguments otherwise. Each member has the shape of its argument; `mask` is
// undefined when no mask was given (all ones), `bias` when no bias was given. Where the
// sampling position is an integer the derivative of the bilinear weights is the one-sided
// one from above (what autograd gives through floor), and a sample outside the image (0 by
// the forward's rule) contributes nothing.
struct DeformConv2dGrads {
  Tensor x, offset, mask, weight, bias;
};
DEBLURCORE_API DeformConv2dGrads deform_conv2d_backward(const Context& ctx, const Tensor& grad_out,
                                                        const Tensor& x, const Tensor& offset,
                                                        const Tensor& weight,
                                                        const Tensor& bias = {}, Pair stride = 1,
                                                        Pair padding = 0, Pair dilation = 1,
                                                        const Tensor& mask = {});

// ---- filter adaptive convolution (STFAN's KernelConv2D) --------------------------------

// x (N, C, H, W), kernel (N, C*k*k, H, W) -> (N, C, H, W):
//   out[n,c,y,x] = sum_{ky,kx} x[n, c, clamp(y+ky-r), clamp(x+kx-r)] * kernel[n, c*k*k + ky*k + kx, y, x]
// with r = (k-1)/2 and replicate (edge-clamp) padding; k odd.
DEBLURCORE_API Tensor fac(const Context& ctx, const Tensor& x, const Tensor& kernel,
                          int kernel_size);

// fac written into `out` (N, C, H, W), an existing tensor on the context's device, e.g. a
// channel range of a batch-1 map (a view): the output of several fac calls can then be
// assembled without a concat. `out` must not overlap x or kernel.
DEBLURCORE_API void fac_into(const Context& ctx, const Tensor& x, const Tensor& kernel,
                             int kernel_size, Tensor out);

// Gradients of fac with respect to x (the unpadded input: the replicate padding's gradient is
// folded back onto the border) and to kernel, given grad_out (N, C, H, W).
// Returns {grad_x (N, C, H, W), grad_kernel (N, C*k*k, H, W)}.
DEBLURCORE_API std::pair<Tensor, Tensor> fac_backward(const Context& ctx, const Tensor& grad_out,
                                                      const Tensor& x, const Tensor& kernel,
                                                      int kernel_size);

// ---- iterative adaptive convolution (IFAN's IAC) ---------------------------------------

// x (N, C, H, W), filters (N, n*C*(2k+1), H, W) with n = n_iterations, k = kernel_size (odd)
// -> (N, C, H, W). The filter channels are n blocks (F1_i, F2_i) of C*k channels each, then
// n bias blocks b_i of C channels: F1_i starts at channel 2*C*k*i, F2_i at 2*C*k*i + C*k,
// b_i at 2*C*k*n + C*i; tap t of feature channel c is channel c*k + t of its block.
// Each iteration, starting from f = x:
//   v[c,y,x] = sum_t F1_i[c*k+t, y, x] * f[c, clamp(y+t-r), x]      (vertical, r = (k-1)/2)
//   u[c,y,x] = sum_t G_i[c*k+t, y, x] * v[c, y, clamp(x+t-r)]       (horizontal)
//   f = lrelu(u + b_i, 0.1)
// with G_i = F1_i when reuse_vertical_filter (what the official IFAN code computes and its
// checkpoints were trained with; F2 is never read), else G_i = F2_i. Sums run over t in
// order, each product rounded to float first, as the official code does. With
// final_activation = false the last iteration skips the LeakyReLU.
DEBLURCORE_API Tensor iac(const Context& ctx, const Tensor& x, const Tensor& filters,
                          int n_iterations, int kernel_size, bool reuse_vertical_filter = true,
                          bool final_activation = true);

// Gradients of iac with respect to x and filters, given grad_out (N, C, H, W). Returns
// {grad_x (N, C, H, W), grad_filters (shape of filters)}; grad_filters is zero in every
// channel the forward does not read (all F2 blocks when reuse_vertical_filter). LeakyReLU's
// derivative at 0 is taken as its negative slope, as in PyTorch.
DEBLURCORE_API std::pair<Tensor, Tensor> iac_backward(const Context& ctx, const Tensor& grad_out,
                                                      const Tensor& x, const Tensor& filters,
                                                      int n_iterations, int kernel_size,
                                                      bool reuse_vertical_filter = true,
                                                      bool final_activation = true);

// IAC on a filter tensor of any channel layout (the models compute only the filter channels
// their IAC reads, one iteration at a time, and hand them over packed). Iteration i reads F1_i
// at channels f1_base + i*f1_step + c*k + t, F2_i at f2_base + i*f2_step + c*k + t (ignored
// when the vertical filter is reused) and b_i at bias_base + i*bias_step + c;
// `filter_channels` is dim 1 of the filter tensor.
struct IacLayout {
  int64_t filter_channels;
  int64_t f1_base, f1_step, f2_base, f2_step, bias_base, bias_step;

  // The layout of iac() above: n blocks (F1_i, F2_i), then n bias blocks.
  DEBLURCORE_API static IacLayout official(int64_t n_iterations, int64_t channels, int64_t k);
  // F1_i blocks of C*k channels, then the bias blocks, no F2: n*C*(k+1) channels. Only valid
  // with the vertical filter reused.
  DEBLURCORE_API static IacLayout packed(int64_t n_iterations, int64_t channels, int64_t k);
};

// x (N, C, H, W), filters (N, layout.filter_channels, H, W) -> (N, C, H, W); otherwise as iac().
DEBLURCORE_API Tensor iac_with_layout(const Context& ctx, const Tensor& x, const Tensor& filters,
                                      int n_iterations, int kernel_size, const IacLayout& layout,
                                      bool reuse_vertical_filter, bool final_activation);

// ---- elementwise -------------------------------------------------------------------------

DEBLURCORE_API Tensor relu(const Context& ctx, const Tensor& x);
DEBLURCORE_API Tensor leaky_relu(const Context& ctx, const Tensor& x, float negative_slope = 0.01f);
DEBLURCORE_API Tensor sigmoid(const Context& ctx, const Tensor& x);
// min(max(x, lo), hi) elementwise; lo <= hi. NaN stays NaN, as in torch.clamp.
DEBLURCORE_API Tensor clamp(const Context& ctx, const Tensor& x, float lo, float hi);
// a, b of the same shape -> a + b.
DEBLURCORE_API Tensor add(const Context& ctx, const Tensor& a, const Tensor& b);

// inputs: B tensors (N, C, H, W); weights (N, B, H, W) -> (N, C, H, W):
//   out[n,c,y,x] = sum_b weights[n,b,y,x] * inputs[b][n,c,y,x],
// accumulated in float32 in the order b = 0, 1, ..., B-1, each product rounded first (ASPDC's
// per-pixel blend of its branches).
DEBLURCORE_API Tensor weighted_sum(const Context& ctx, const std::vector<Tensor>& inputs,
                                   const Tensor& weights);

// ---- channel ops -------------------------------------------------------------------------

// x (N, C, H, W) -> softmax over C (dim 1), computed stably (max subtracted).
DEBLURCORE_API Tensor softmax(const Context& ctx, const Tensor& x, int dim = 1);
// tensors (N, Ci, H, W) -> (N, sum Ci, H, W); dim must be 1.
DEBLURCORE_API Tensor concat(const Context& ctx, const std::vector<Tensor>& tensors, int dim = 1);
// x (N, C, H, W), pads {left, right, top, bottom} (>= 0) -> (N, C, H+top+bottom, W+left+right).
// Reflect needs each pad < the size it reflects along, as in PyTorch; Symmetric each pad <=
// the size it mirrors along.
DEBLURCORE_API Tensor pad(const Context& ctx, const Tensor& x, std::array<int, 4> pads,
                          PadMode mode = PadMode::Zeros, float value = 0.f);

// ---- Fourier transforms and the ops of the Analysis-Synthesis networks --------------------
// Complex values are interleaved (re, im) in a trailing dimension of size 2.

// x (N, C, H, W) -> (N, C, H, W/2+1, 2): numpy.fft.rfft2 over the last two axes
// (unnormalised), any H, W >= 1.
DEBLURCORE_API Tensor rfft2(const Context& ctx, const Tensor& x);

// X (N, C, H, width/2+1, 2) -> (N, C, H, width): numpy.fft.irfft2(X, s=(H, width)),
// normalised by 1/(H*width). As numpy, the imaginary parts of the columns that must be real
// (column 0, and column width/2 when width is even) are ignored.
DEBLURCORE_API Tensor irfft2(const Context& ctx, const Tensor& X, int64_t width);

// The CrossCorrelationFFT layer of Kaufman & Fattal: x (N, C, h, w) ->
// (N, P*(1 + add_flips), 2m+1, 2m+1), P = C(C+1)/2, m = max_shift >= 0.
// Each channel is standardised on its own, a = (x - mean) / (sigma * sqrt(h*w)) with the
// population sigma (accumulated in double); sigma < 1e-9 makes the channel exactly 0.
// Pair (i, j), i <= j, i-major, is channel i*C - i*(i-1)/2 + (j - i) and holds the centred
// window of the circular correlation at the exact size (h, w):
//   out[r, c] = sum_{y,x} a_i[(y + r - m) mod h, (x + c - m) mod w] * a_j[y, x].
// With add_flips, channel P + p holds pair p's window reversed along both axes. (The formula
// wraps when h or w < 2m+1; the official layer needs h, w >= m+1.)
DEBLURCORE_API Tensor cross_correlation(const Context& ctx, const Tensor& x, int max_shift,
                                        bool add_flips = true);

// Keras Standardize(axes=[1,2]): x (N, C, H, W), per (n, c) plane
// (x - mean) / sqrt(var + eps) with the population variance (accumulated in double); eps >= 0.
DEBLURCORE_API Tensor standardize(const Context& ctx, const Tensor& x, float eps = 1e-7f);

// tf.image.rgb_to_grayscale on float data: x (N, 3, H, W) -> (N, 1, H, W)
//   = 0.2989 R + 0.5870 G + 0.1140 B (float32 products, summed left to right).
DEBLURCORE_API Tensor rgb_to_grayscale(const Context& ctx, const Tensor& x);

// Normalization(ord=1) of the Analysis network: x (N, ...) -> x / (sum |x| + eps), the sum
// running over all elements of sample n (accumulated in double); eps >= 0.
DEBLURCORE_API Tensor normalize_l1(const Context& ctx, const Tensor& x, float eps = 1e-7f);

// torch.nn.functional.linear: x (N, in), weight (out, in), bias (out) or undefined ->
// (N, out), then `activation` (None or ReLU).
DEBLURCORE_API Tensor linear(const Context& ctx, const Tensor& x, const Tensor& weight,
                             const Tensor& bias = {}, Activation activation = Activation::None);

// x (N, C, H, W) -> x[:, :, top:top+height, left:left+width] (N, C, height, width); the window
// must lie inside x.
DEBLURCORE_API Tensor crop(const Context& ctx, const Tensor& x, int64_t top, int64_t left,
                           int64_t height, int64_t width);

}  // namespace deblurcore

// ---- mmcv flat-buffer reinterpretation (ASPDC's dilation-0 branch) ----------------------

namespace deblurcore {

// x (N, C, h, w) -> (N, C, height, width): each batch element's buffer read as mmcv 1.3.9's
// modulated deformable conv reads an offset or mask map whose shape is not the output's,
// i.e. as a flat buffer with the strides of (C, height, width):
//   out[n].flat[i] = x[n].flat[i]   for i < C*h*w,
//                  = 0              for C*h*w <= i < C*height*width.
// mmcv reads past the end of the buffer there (other memory; with N > 1 the next sample's
// map); 0 is the deterministic choice of the ASPDC spec (the tap contributes nothing, or the
// offset is 0). height, width >= 1.
DEBLURCORE_API Tensor mmcv_flat_reinterpret(const Context& ctx, const Tensor& x, int height,
                                            int width);

}  // namespace deblurcore
