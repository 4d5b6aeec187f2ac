// iac in a build without CUDA: throws "built without CUDA" (see no_cuda.h).
#include "backends.h"
#include "cuda/stub/no_cuda.h"

namespace deblurcore {
namespace cuda {

void iac(const Context&, const IacParams&, const float*, const float*, float*) { no_cuda(); }
void iac_backward(const Context&, const IacParams&, const float*, const float*, const float*,
                  float*, float*) {
  no_cuda();
}

}  // namespace cuda
}  // namespace deblurcore
