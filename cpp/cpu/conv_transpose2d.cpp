// Fast CPU conv_transpose2d: the stride_h x stride_w sub-pixel phases of the output, each a
// dense stride-1 convolution with a subset of the taps, run in one pass by the GEMM driver
// (conv_gemm.cpp).
#include <algorithm>
#include <vector>

#include "backends.h"
#include "cpu/conv_gemm.h"

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

}  // namespace

void conv_transpose2d(const Context& ctx, const ConvTranspose2dParams& p, const float* x,
                      const float* w, const float* bias, const float* residual, float* out) {
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
