// CUDA entry points of the deformable convolution family in a build without CUDA: they throw.
#include "backends.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cuda {

[[noreturn]] static void no_cuda_deform() {
  fail<RuntimeError>("deblurcore was built without CUDA; rebuild with -DDEBLURCORE_CUDA=ON "
                     "(or AUTO with nvcc on PATH) to use device 'cuda'");
}

void deform_conv2d(const Context&, const DeformConv2dParams&, const float*, const float*,
                   const float*, const float*, const float*, const float*, float*) {
  no_cuda_deform();
}
void weighted_sum(const Context&, const WeightedSumParams&, const float* const*, const float*,
                  float*) {
  no_cuda_deform();
}

}  // namespace cuda
}  // namespace deblurcore
