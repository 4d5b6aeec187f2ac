// Without CUDA this entry point throws, like every other one in cpp/cuda/stub/
#include "backends.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cuda {

void normalize_l1(const Context&, const NormalizeL1Params&, const float*, float*) {
  fail<RuntimeError>(
      "deblurcore was built without CUDA; rebuild with -DDEBLURCORE_CUDA=ON "
      "(or AUTO with nvcc on PATH) to use device 'cuda'");
}

}  // namespace cuda
}  // namespace deblurcore
