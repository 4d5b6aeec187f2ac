// The convolutions' epilogue (epilogue.h) as the reference kernels apply it: on a double
// accumulator, everything before the activation in double, then rounded once to float.
#pragma once

#include <cstdint>

#include "epilogue.h"

namespace deblurcore {
namespace cpu {
namespace ref {

// Output element o of output channel co of image n (Cout channels); bias and residual may be null.
inline float conv_epilogue(const EpilogueParams& e, double acc, const float* bias, int64_t n,
                           int64_t co, int64_t cout, const float* residual, int64_t o) {
  return apply_epilogue_scalar<ScalarEpilogueMath<double>>(
      e, acc, bias ? bias + co : nullptr, n * cout + co, residual ? residual + o : nullptr);
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
