// weighted_sum in a build without CUDA: throws "built without CUDA" (see no_cuda.h).
#include "backends.h"
#include "cuda/stub/no_cuda.h"

namespace deblurcore {
namespace cuda {

void weighted_sum(const Context&, const WeightedSumParams&, const float* const*, const float*,
                  float*) {
  no_cuda();
}

}  // namespace cuda
}  // namespace deblurcore
