// activation in a build without CUDA: throws "built without CUDA" (see no_cuda.h).
#include "backends.h"
#include "cuda/stub/no_cuda.h"

namespace deblurcore {
namespace cuda {

void activation(const Context&, Activation, float, const float*, float*, int64_t) { no_cuda(); }

}  // namespace cuda
}  // namespace deblurcore
