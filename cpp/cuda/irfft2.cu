// irfft2 on CUDA: cuFFT C2R (on a copy: C2R overwrites its input), then the 1/(H*W) scale.
// cuFFT, like numpy, reads only the real parts of the columns that must be real for
// Hermitian-consistent input; for other input the two may differ.
#if DEBLURCORE_WITH_CUFFT
#include "backends.h"
#include "cuda/cufft_util.h"

namespace deblurcore {
namespace cuda {

namespace {
__global__ void scale_kernel(float* x, int64_t n, float s) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    x[i] *= s;
}
}  // namespace

void irfft2(const Context& ctx, const Fft2dParams& p, const float* spectrum, float* x) {
  const int64_t spectrum_floats = p.planes * p.H * (p.W / 2 + 1) * 2;
  Tensor copy = ctx.empty({spectrum_floats});
  check_cuda(cudaMemcpyAsync(copy.data(), spectrum, size_t(spectrum_floats) * sizeof(float),
                             cudaMemcpyDeviceToDevice, stream_of(ctx)),
             "irfft2 copy");
  Fft2dPlan plan(ctx, p.H, p.W, p.planes, CUFFT_C2R);
  check_cufft(cufftExecC2R(plan.get(), reinterpret_cast<cufftComplex*>(copy.data()), x),
              "cufftExecC2R");
  const int64_t n = p.planes * p.H * p.W;
  scale_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(
      x, n, static_cast<float>(1.0 / (double(p.H) * double(p.W))));
  check_launch("irfft2 scale");
  // `copy` is released when this returns while the stream may still use it: wait first.
  check_cuda(cudaStreamSynchronize(stream_of(ctx)), "irfft2");
}

}  // namespace cuda
}  // namespace deblurcore

#else  // a CUDA toolkit without cuFFT

#include "backends.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cuda {

void irfft2(const Context&, const Fft2dParams&, const float*, float*) {
  fail<RuntimeError>("irfft2: deblurcore's CUDA backend was built without cuFFT");
}

}  // namespace cuda
}  // namespace deblurcore

#endif
