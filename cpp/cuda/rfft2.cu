// rfft2 on CUDA: one batched cuFFT R2C plan over all N*C planes (cuFFT's (H, W/2+1)
// cufftComplex output is the op's interleaved layout).
#if DEBLURCORE_WITH_CUFFT
#include "backends.h"
#include "cuda/cufft_util.h"

namespace deblurcore {
namespace cuda {

void rfft2(const Context& ctx, const Fft2dParams& p, const float* x, float* spectrum) {
  Fft2dPlan plan(ctx, p.H, p.W, p.planes, CUFFT_R2C);
  // An out-of-place R2C transform does not write its input.
  check_cufft(
      cufftExecR2C(plan.get(), const_cast<float*>(x), reinterpret_cast<cufftComplex*>(spectrum)),
      "cufftExecR2C");
}

}  // namespace cuda
}  // namespace deblurcore

#else  // a CUDA toolkit without cuFFT

#include "backends.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cuda {

void rfft2(const Context&, const Fft2dParams&, const float*, float*) {
  fail<RuntimeError>("rfft2: deblurcore's CUDA backend was built without cuFFT");
}

}  // namespace cuda
}  // namespace deblurcore

#endif
