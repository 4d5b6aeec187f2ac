// fac in a build without CUDA: throws "built without CUDA" (see no_cuda.h).
#include "backends.h"
#include "cuda/stub/no_cuda.h"

namespace deblurcore {
namespace cuda {

void fac(const Context&, const FacParams&, const float*, const float*, float*) { no_cuda(); }
void fac_backward(const Context&, const FacParams&, const float*, const float*, const float*,
                  float*, float*) {
  no_cuda();
}

}  // namespace cuda
}  // namespace deblurcore
