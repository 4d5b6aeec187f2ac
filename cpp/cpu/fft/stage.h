// One Stockham pass of a mixed-radix plan and the butterfly kernels that run it.
#pragma once

#include <cstdint>
#include <vector>

#include "deblurcore/context.h"

namespace deblurcore {
namespace cpu {
namespace fft {

// Pass with radix R after passes whose radices multiply to Ns (Govindaraju et al.'s Stockham
// formulation): butterfly j < n/R reads elements j + r*n/R, multiplies element r by the
// twiddle exp(-+2 pi i r (j mod Ns) / (Ns R)), takes the R-point DFT and writes output r to
// element (j / Ns) * Ns * R + (j mod Ns) + r * Ns. After the last pass the result is in
// natural order.
struct Stage {
  int radix = 0;
  int64_t Ns = 1;
  // [direction][(j mod Ns) * (R-1) + r - 1], direction 0 forward, 1 inverse.
  std::vector<float> tw_re[2], tw_im[2];
  // Odd radix >= 7 (the generic butterfly): cos(2 pi jk / R) and +-sin(2 pi jk / R) with the
  // direction's sign, for j, k = 1..(R-1)/2, at [(j-1) * half + k - 1].
  std::vector<float> cos_jk, sin_jk[2];
};

// Runs `stage` on `batch` signals of length n: src elements `ss` floats apart, dst `ds`, with
// the butterflies compiled for `isa` (or the next lower instruction set built).
void run_stage(const Stage& stage, bool inverse, int64_t n, const float* sr, const float* si,
               int64_t ss, float* dr, float* di, int64_t ds, int64_t batch, Isa isa);

// What the butterflies of one direction of a Stage read, as plain pointers (the ISA files use
// no std::vector: ODR rule of cpu/README.md).
struct StageView {
  int radix;
  int64_t Ns;
  bool inverse;
  const float *tw_re, *tw_im;    // [(j mod Ns) * (R-1) + r - 1]
  const float *cos_jk, *sin_jk;  // odd radix >= 7
};

}  // namespace fft

using FftStageFn = void (*)(const fft::StageView& st, int64_t n, const float* sr, const float* si,
                            int64_t ss, float* dr, float* di, int64_t ds, int64_t batch);
#define DEBLURCORE_DECLARE_FFT_STAGE(isa)                                               \
  namespace isa {                                                                       \
  void fft_stage(const fft::StageView& st, int64_t n, const float* sr, const float* si, \
                 int64_t ss, float* dr, float* di, int64_t ds, int64_t batch);          \
  }
DEBLURCORE_DECLARE_FFT_STAGE(generic)
DEBLURCORE_DECLARE_FFT_STAGE(avx2)
DEBLURCORE_DECLARE_FFT_STAGE(avx512)
#undef DEBLURCORE_DECLARE_FFT_STAGE
}  // namespace cpu
}  // namespace deblurcore
