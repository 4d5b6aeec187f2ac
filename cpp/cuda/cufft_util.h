// cuFFT helpers of the CUDA backend: error checks and a plan that destroys itself. Included
// from .cu files only.
#pragma once

#include <cufft.h>

#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

inline void check_cufft(cufftResult r, const char* what) {
  if (r != CUFFT_SUCCESS)
    fail<RuntimeError>("cuFFT error in ", what, ": code ", static_cast<int>(r));
}

// A batched 2-D (H, W) real transform plan (R2C or C2R, densely packed) on ctx's stream.
class Fft2dPlan {
 public:
  Fft2dPlan(const Context& ctx, int64_t H, int64_t W, int64_t batch, cufftType type) {
    check(H <= INT32_MAX && W <= INT32_MAX && batch <= INT32_MAX,
          "cuFFT: sizes must fit in 32 bits, got ", H, "x", W, " x ", batch);
    int n[2] = {static_cast<int>(H), static_cast<int>(W)};
    check_cufft(
        cufftPlanMany(&plan_, 2, n, nullptr, 1, 0, nullptr, 1, 0, type, static_cast<int>(batch)),
        "cufftPlanMany");
    check_cufft(cufftSetStream(plan_, stream_of(ctx)), "cufftSetStream");
  }
  ~Fft2dPlan() { cufftDestroy(plan_); }
  Fft2dPlan(const Fft2dPlan&) = delete;
  Fft2dPlan& operator=(const Fft2dPlan&) = delete;
  cufftHandle get() const { return plan_; }

 private:
  cufftHandle plan_ = 0;
};

}  // namespace cuda
}  // namespace deblurcore
