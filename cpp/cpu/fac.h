// Per-instruction-set entry points of the fast CPU fac / fac_backward (fac_impl.h), dispatched
// from fac.cpp through isa.h. Same contract as cpu::fac / cpu::fac_backward, with the thread
// count instead of the Context (ISA code calls nothing of Context; see README.md).
#pragma once

#include "backends.h"

namespace deblurcore {
namespace cpu {

using FacFn = void (*)(int threads, const FacParams& p, const float* x, const float* kernel,
                       float* out);
using FacBackwardFn = void (*)(int threads, const FacParams& p, const float* grad_out,
                               const float* x, const float* kernel, float* grad_x,
                               float* grad_kernel);

#define DEBLURCORE_DECLARE_FAC(isa)                                                           \
  namespace isa {                                                                             \
  void fac(int threads, const FacParams& p, const float* x, const float* kernel, float* out); \
  void fac_backward(int threads, const FacParams& p, const float* grad_out, const float* x,   \
                    const float* kernel, float* grad_x, float* grad_kernel);                  \
  }
DEBLURCORE_DECLARE_FAC(generic)
DEBLURCORE_DECLARE_FAC(avx2)
DEBLURCORE_DECLARE_FAC(avx512)
#undef DEBLURCORE_DECLARE_FAC

}  // namespace cpu
}  // namespace deblurcore
