// concat in a build without CUDA: throws "built without CUDA" (see no_cuda.h).
#include "backends.h"
#include "cuda/stub/no_cuda.h"

namespace deblurcore {
namespace cuda {

void concat(const Context&, const ConcatParams&, const float* const*, float*) { no_cuda(); }

}  // namespace cuda
}  // namespace deblurcore
