// CUDA entry points of the iterative adaptive convolution in a build without CUDA: they throw,
// like every other entry point in no_cuda.cpp.
#include "backends.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cuda {

[[noreturn]] static void no_cuda_iac() {
  fail<RuntimeError>("deblurcore was built without CUDA; rebuild with -DDEBLURCORE_CUDA=ON "
                     "(or AUTO with nvcc on PATH) to use device 'cuda'");
}

void iac(const Context&, const IacParams&, const float*, const float*, float*) { no_cuda_iac(); }
void iac_backward(const Context&, const IacParams&, const float*, const float*, const float*,
                  float*, float*) {
  no_cuda_iac();
}

}  // namespace cuda
}  // namespace deblurcore
