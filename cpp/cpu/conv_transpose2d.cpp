// Fast CPU conv_transpose2d: the stride_h x stride_w sub-pixel phases of the output, each a
// dense stride-1 convolution with a subset of the taps, run in one pass by the GEMM driver
// (conv_gemm.cpp); or, for the decoders' upsampling layer (4x4, stride 2, padding 1), the four
// phases as one 3x3 convolution run by Winograd (see below).
#include <algorithm>
#include <vector>

#include "backends.h"
#include "cpu/conv_gemm.h"
#include "cpu/conv_winograd.h"
#include "cpu/leaky_relu.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

using namespace convgemm;

namespace {

// One dimension of the sub-pixel decomposition of a transposed convolution: output index o
// receives input i through tap k when o = i*s - pad + k*d. Phase c collects the outputs with
// (o + pad) % s == c: the first is `first`, then every s-th (`count` of them), and output
// first + s*q reads input q + off for each tap k with k*d % s == c, off = (first+pad-k*d)/s.
struct PhaseDim {
  int64_t first = 0, count = 0;
  std::vector<int64_t> taps, offs;
};

PhaseDim phase_dim(int64_t c, int64_t s, int64_t pad, int64_t d, int64_t k, int64_t out) {
  PhaseDim ph;
  ph.first = ((c - pad) % s + s) % s;
  ph.count = ph.first < out ? (out - 1 - ph.first) / s + 1 : 0;
  for (int64_t t = 0; t < k; ++t)
    if ((t * d) % s == c) {
      ph.taps.push_back(t);
      ph.offs.push_back((ph.first + pad - t * d) / s);  // exact: both sides are = c mod s
    }
  return ph;
}

// ConvTranspose2d(4, stride 2, padding 1) by Winograd. Output row 2m + py reads input rows
// m + dy, dy in {-1, 0, 1}, through kernel row kTap[py][dy + 1] (phase_dim above: row 2m
// through ky = 1 from m and ky = 3 from m - 1, row 2m + 1 through ky = 0 from m + 1 and ky = 2
// from m), and likewise for columns. So the four phases (py, px) are one 3x3 convolution with
// padding 1 over the input, of 4 Cout output channels (2 py + px) Cout + co whose weights hold
// the phase's 2x2 taps and zeros. By Winograd F(4x4, 3x3) that is 4 x 36 products per 16
// input pixels and channel pair against the 16 x 16 of the direct phases; its output is then
// interleaved into the 2H x 2W output.
constexpr int kNoTap = -1;
constexpr int kTap[2][3] = {{3, 1, kNoTap}, {kNoTap, 2, 0}};

Conv2dParams phase_conv(const ConvTranspose2dParams& p) {
  Conv2dParams c{};
  c.N = p.N, c.Cin = p.Cin, c.H = p.H, c.W = p.W;
  c.Cout = 4 * p.Cout, c.kh = 3, c.kw = 3;
  c.sh = c.sw = 1, c.ph = c.pw = 1, c.dh = c.dw = 1;
  c.Hout = p.H, c.Wout = p.W;
  return c;
}

bool winograd_shape(int64_t kh, int64_t kw) { return kh == 4 && kw == 4; }

// scale / shift are left to the direct phases (no model uses them here; they would need
// expanding to the 4 Cout channels per image).
bool runs_winograd(const Context& ctx, const ConvTranspose2dParams& p) {
  const ConvAlgorithm algo = ctx.conv_algorithm();
  const bool applies = ctx.precision() == Precision::FP32 && winograd_shape(p.kh, p.kw) &&
                       p.sh == 2 && p.sw == 2 && p.ph == 1 && p.pw == 1 && p.dh == 1 && p.dw == 1 &&
                       p.Hout == 2 * p.H && p.Wout == 2 * p.W && !p.epilogue.scale &&
                       !p.epilogue.shift;
  return applies && algo != ConvAlgorithm::Direct &&
         (algo == ConvAlgorithm::Winograd || winograd::faster(phase_conv(p)));
}

// The (4 Cout, Cin, 3, 3) weight of the phase convolution, from w (Cin, Cout, 4, 4).
void phase_conv_weight(int64_t Cin, int64_t Cout, const float* w, float* k3) {
  for (int py = 0; py < 2; ++py)
    for (int px = 0; px < 2; ++px)
      for (int64_t co = 0; co < Cout; ++co)
        for (int64_t ci = 0; ci < Cin; ++ci)
          for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) {
              const int ky = kTap[py][a], kx = kTap[px][b];
              k3[((((2 * py + px) * Cout + co) * Cin + ci) * 3 + a) * 3 + b] =
                  ky == kNoTap || kx == kNoTap ? 0.f : w[((ci * Cout + co) * 4 + ky) * 4 + kx];
            }
}

// dst[j] = act(dst[j] + res[j]) or act(dst[j]) + res[j] (apply_epilogue's arithmetic with
// the bias already added), as loops the compiler vectorises: one per activation.
template <class Act>
void add_residual(float* dst, const float* res, int64_t n, bool before, Act act) {
  if (before)
    for (int64_t j = 0; j < n; ++j) dst[j] = act(dst[j] + res[j]);
  else
    for (int64_t j = 0; j < n; ++j) dst[j] = act(dst[j]) + res[j];
}

void add_residual(float* dst, const float* res, int64_t n, const EpilogueParams& e) {
  const bool before = e.residual_before_activation;
  const float slope = e.negative_slope;
  switch (e.activation) {
    case Activation::None: return add_residual(dst, res, n, before, [](float v) { return v; });
    case Activation::ReLU:
      return add_residual(dst, res, n, before, [](float v) { return v > 0.f ? v : 0.f; });
    case Activation::LeakyReLU:
      return add_residual(dst, res, n, before, [slope](float v) { return leaky_relu(v, slope); });
  }
}

// out[n, co, 2m + py, 2j + px] = phases[n, (2 py + px) Cout + co, m, j], then the epilogue's
// activation and residual when residual is set (the bias is already in `phases`).
void interleave_phases(const Context& ctx, const ConvTranspose2dParams& p, const float* phases,
                       const float* residual, float* out) {
  const int64_t plane = p.H * p.W, rows = p.N * p.Cout * p.H;
#pragma omp parallel for num_threads(threads_for(ctx, rows* p.W * 4)) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / (p.Cout * p.H), co = row / p.H % p.Cout, m = row % p.H;
    for (int py = 0; py < 2; ++py) {
      const float* even = phases + ((n * 4 + 2 * py) * p.Cout + co) * plane + m * p.W;
      const float* odd = even + p.Cout * plane;
      const int64_t o = ((n * p.Cout + co) * p.Hout + 2 * m + py) * p.Wout;
      float* dst = out + o;
      for (int64_t j = 0; j < p.W; ++j) {
        dst[2 * j] = even[j];
        dst[2 * j + 1] = odd[j];
      }
      if (residual) add_residual(dst, residual + o, p.Wout, p.epilogue);
    }
  }
}

void conv_transpose2d_winograd(const Context& ctx, const ConvTranspose2dParams& p, const float* x,
                               const float* w, const float* bias, const float* residual,
                               float* out) {
  Conv2dParams c = phase_conv(p);
  // Without a residual the whole epilogue runs in the convolution (it is per channel and
  // elementwise); with one, the convolution adds the bias and the interleave does the rest.
  if (!residual) c.epilogue = p.epilogue;
  std::vector<float> bias4;
  if (bias)
    for (int i = 0; i < 4; ++i) bias4.insert(bias4.end(), bias, bias + p.Cout);
  Tensor k3;
  if (!p.winograd_weight) {
    k3 = ctx.empty({c.Cout * c.Cin * 9});
    phase_conv_weight(p.Cin, p.Cout, w, k3.data());
  }
  Tensor phases = ctx.empty({p.N, c.Cout, p.H, p.W});
  winograd::conv2d(ctx, c, x, k3.data(), p.winograd_weight, bias ? bias4.data() : nullptr, nullptr,
                   phases.data());
  interleave_phases(ctx, p, phases.data(), residual, out);
}

}  // namespace

int64_t conv_transpose2d_winograd_weight_size(int64_t Cin, int64_t Cout, int64_t kh, int64_t kw) {
  return winograd_shape(kh, kw) && winograd::worth_preparing(4 * Cout, Cin)
             ? winograd::transformed_weight_size(4 * Cout, Cin)
             : 0;
}

void conv_transpose2d_winograd_weight(int64_t Cin, int64_t Cout, const float* weight, float* out) {
  std::vector<float> k3(size_t(4 * Cout * Cin * 9));
  phase_conv_weight(Cin, Cout, weight, k3.data());
  winograd::transform_weights(4 * Cout, Cin, k3.data(), out);
}

void conv_transpose2d(const Context& ctx, const ConvTranspose2dParams& p, const float* x,
                      const float* w, const float* bias, const float* residual, float* out) {
  if (runs_winograd(ctx, p)) return conv_transpose2d_winograd(ctx, p, x, w, bias, residual, out);
  const TileKernel& kern = select_tile_kernel(ctx);
  const ConvGeometry g{p.Cin, p.H, p.W, p.Cout, 1, 1, p.Hout, p.Wout, p.sh, p.sw};
  // All stride_h x stride_w phases run in one pass over the output (see run()).
  std::vector<Phase> phases;
  std::vector<Tensor> packed;  // from the Context: a model's caching allocator reuses them
  packed.reserve(size_t(p.sh * p.sw));
  for (int64_t cy = 0; cy < p.sh; ++cy) {
    const PhaseDim py = phase_dim(cy, p.sh, p.ph, p.dh, p.kh, p.Hout);
    if (py.count == 0) continue;
    for (int64_t cx = 0; cx < p.sw; ++cx) {
      const PhaseDim px = phase_dim(cx, p.sw, p.pw, p.dw, p.kw, p.Wout);
      if (px.count == 0) continue;
      Phase ph;
      ph.Qh = py.count, ph.Qw = px.count;
      ph.offy = py.offs, ph.offx = px.offs;
      ph.oy0 = py.first, ph.ox0 = px.first;

      const int64_t taps = ph.taps();
      const int64_t Jy = int64_t(py.taps.size()), Jx = int64_t(px.taps.size());
      const int64_t k_rows = std::max<int64_t>(packed_k(kern, p.Cin, taps), 1);
      packed.push_back(ctx.empty({round_up(p.Cout, kern.mr) * k_rows}));
      // Weight (Cin, Cout, kh, kw); tap jy*Jx + jx of the phase is (taps_y[jy], taps_x[jx]).
      std::vector<int64_t> tap_offset(static_cast<size_t>(taps));
      for (int64_t jy = 0; jy < Jy; ++jy)
        for (int64_t jx = 0; jx < Jx; ++jx)
          tap_offset[size_t(jy * Jx + jx)] = py.taps[size_t(jy)] * p.kw + px.taps[size_t(jx)];
      pack_weights(kern, p.Cout, p.Cin, taps, w, p.kh * p.kw, p.Cout * p.kh * p.kw,
                   tap_offset.data(), packed.back().data());
      ph.apack = packed.back().data();
      phases.push_back(std::move(ph));
    }
  }
  run(ctx, kern, g, phases, p.N, x, bias, residual, out, p.epilogue);
}

}  // namespace cpu
}  // namespace deblurcore
