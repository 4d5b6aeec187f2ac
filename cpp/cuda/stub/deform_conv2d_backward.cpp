// deform_conv2d_backward in a build without CUDA: throws "built without CUDA" (see no_cuda.h).
#include "backends.h"
#include "cuda/stub/no_cuda.h"

namespace deblurcore {
namespace cuda {

void deform_conv2d_backward(const Context&, const DeformConv2dParams&, const float*, const float*,
                            const float*, const float*, const float*, float*, float*, float*,
                            float*, float*) {
  no_cuda();
}

}  // namespace cuda
}  // namespace deblurcore
