// The block loop of the small-Cout 1x1 convolution (conv1x1_small_cout.h), written once against
// the vector traits of simd.h and compiled per instruction set by conv1x1_small_cout_{generic,
// avx2,avx512}.cpp, in namespace cpu::conv1x1::DEBLURCORE_ISA.
#ifndef DEBLURCORE_ISA
#error "define DEBLURCORE_ISA before including cpu/conv1x1_small_cout_impl.h"
#endif

#include "cpu/conv1x1_small_cout.h"
#include "cpu/simd.h"
#include "epilogue.h"

namespace deblurcore {
namespace cpu {
namespace conv1x1 {
namespace DEBLURCORE_ISA {

using cpu::DEBLURCORE_ISA::Vec;
using cpu::DEBLURCORE_ISA::VecResidual;

namespace {

// acc[co][i] = sum over ci, in channel order, of w[co, ci] * x[ci][i], for COUT channels.
// Four input channels per pass over the accumulators (the same order of operations as one at
// a time, a quarter of the accumulator traffic), with the next four rows prefetched: the rows
// of one block are short runs (kBlock floats) a plane apart, too short for the hardware
// prefetcher to pick up on its own.
template <int COUT>
void accumulate(const float* x, int64_t plane, int64_t Cin, const float* w, int64_t len,
                float (*acc)[kBlock]) {
  constexpr int V = Vec::V;
  const int64_t full = len / V * V;
  const Vec::mask tail = Vec::tail_mask(static_cast<int>(len - full));
  {  // channel 0 starts the sums
    Vec::v wv[COUT];
    for (int co = 0; co < COUT; ++co) wv[co] = Vec::set1(w[co * Cin]);
    for (int64_t i = 0; i < full; i += V) {
      const Vec::v xv = Vec::load(x + i);
      for (int co = 0; co < COUT; ++co) Vec::store(acc[co] + i, Vec::mul(wv[co], xv));
    }
    if (full < len) {
      const Vec::v xv = Vec::load(x + full, tail);
      for (int co = 0; co < COUT; ++co) Vec::store(acc[co] + full, tail, Vec::mul(wv[co], xv));
    }
  }
  int64_t ci = 1;
  for (; ci + 4 <= Cin; ci += 4) {
    const float* x0 = x + ci * plane;
    const float* x1 = x0 + plane;
    const float* x2 = x1 + plane;
    const float* x3 = x2 + plane;
    const bool more = ci + 8 <= Cin;
    Vec::v w0[COUT], w1[COUT], w2[COUT], w3[COUT];
    for (int co = 0; co < COUT; ++co) {
      w0[co] = Vec::set1(w[co * Cin + ci]);
      w1[co] = Vec::set1(w[co * Cin + ci + 1]);
      w2[co] = Vec::set1(w[co * Cin + ci + 2]);
      w3[co] = Vec::set1(w[co * Cin + ci + 3]);
    }
    for (int64_t i = 0; i < full; i += V) {
      if (more && i % 16 == 0)  // one prefetch per 64-byte line of each of the next 4 rows
        for (int k = 4; k < 8; ++k) __builtin_prefetch(x0 + k * plane + i);
      const Vec::v a = Vec::load(x0 + i), b = Vec::load(x1 + i), c = Vec::load(x2 + i),
                   d = Vec::load(x3 + i);
      for (int co = 0; co < COUT; ++co) {
        Vec::v s = Vec::load(acc[co] + i);
        s = Vec::fmadd(w0[co], a, s);
        s = Vec::fmadd(w1[co], b, s);
        s = Vec::fmadd(w2[co], c, s);
        s = Vec::fmadd(w3[co], d, s);
        Vec::store(acc[co] + i, s);
      }
    }
    if (full < len) {
      const Vec::v a = Vec::load(x0 + full, tail), b = Vec::load(x1 + full, tail),
                   c = Vec::load(x2 + full, tail), d = Vec::load(x3 + full, tail);
      for (int co = 0; co < COUT; ++co) {
        Vec::v s = Vec::load(acc[co] + full, tail);
        s = Vec::fmadd(w0[co], a, s);
        s = Vec::fmadd(w1[co], b, s);
        s = Vec::fmadd(w2[co], c, s);
        s = Vec::fmadd(w3[co], d, s);
        Vec::store(acc[co] + full, tail, s);
      }
    }
  }
  for (; ci < Cin; ++ci) {
    const float* xr = x + ci * plane;
    Vec::v wv[COUT];
    for (int co = 0; co < COUT; ++co) wv[co] = Vec::set1(w[co * Cin + ci]);
    for (int64_t i = 0; i < full; i += V) {
      const Vec::v xv = Vec::load(xr + i);
      for (int co = 0; co < COUT; ++co)
        Vec::store(acc[co] + i, Vec::fmadd(wv[co], xv, Vec::load(acc[co] + i)));
    }
    if (full < len) {
      const Vec::v xv = Vec::load(xr + full, tail);
      for (int co = 0; co < COUT; ++co)
        Vec::store(acc[co] + full, tail, Vec::fmadd(wv[co], xv, Vec::load(acc[co] + full, tail)));
    }
  }
}

using AccumulateFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t,
                              float (*)[kBlock]);

}  // namespace

void small_cout_block(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                      const float* residual, float* out, int64_t n, int64_t begin, int64_t len) {
  constexpr int V = Vec::V;
  alignas(64) float acc[kMaxCout][kBlock];
  const int64_t plane = p.H * p.W;
  static const AccumulateFn by_cout[kMaxCout] = {&accumulate<1>, &accumulate<2>, &accumulate<3>,
                                                 &accumulate<4>, &accumulate<5>, &accumulate<6>,
                                                 &accumulate<7>, &accumulate<8>};
  by_cout[p.Cout - 1](x + n * p.Cin * plane + begin, plane, p.Cin, w, len, acc);
  const EpilogueParams& e = p.epilogue;
  for (int64_t co = 0; co < p.Cout; ++co) {
    const int64_t nc = n * p.Cout + co;
    const Vec::v b = Vec::set1(bias ? bias[co] : 0.f);
    const Vec::v s = Vec::set1(e.scale ? e.scale[nc] : 1.f);
    const Vec::v t = Vec::set1(e.shift ? e.shift[nc] : 0.f);
    float* o = out + nc * plane + begin;
    const float* r = residual ? residual + nc * plane + begin : nullptr;
    for (int64_t i = 0; i < len; i += V) {
      const Vec::mask m = Vec::tail_mask(static_cast<int>(len - i));
      const VecResidual res{r ? r + i : nullptr, m};
      Vec::store(o + i, m, apply_epilogue<Vec>(e, Vec::load(acc[co] + i, m), b, s, t, res));
    }
  }
}

}  // namespace DEBLURCORE_ISA
}  // namespace conv1x1
}  // namespace cpu
}  // namespace deblurcore
