// mmcv_flat_reinterpret in a build without CUDA: a CUDA request fails with a clear message.
#include "backends.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cuda {

void mmcv_flat_reinterpret(const Context&, const MmcvFlatReinterpretParams&, const float*, float*) {
  fail<RuntimeError>(
      "deblurcore was built without CUDA; rebuild with -DDEBLURCORE_CUDA=ON "
      "(or AUTO with nvcc on PATH) to use device 'cuda'");
}

}  // namespace cuda
}  // namespace deblurcore
