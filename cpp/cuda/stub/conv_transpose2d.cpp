// conv_transpose2d in a build without CUDA: throws "built without CUDA" (see no_cuda.h).
#include "backends.h"
#include "cuda/stub/no_cuda.h"

namespace deblurcore {
namespace cuda {

void conv_transpose2d(const Context&, const ConvTranspose2dParams&, const float*, const float*,
                      const float*, const float*, float*) {
  no_cuda();
}

}  // namespace cuda
}  // namespace deblurcore
