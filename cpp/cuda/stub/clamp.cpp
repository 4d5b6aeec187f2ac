// clamp in a build without CUDA: throws "built without CUDA" (see no_cuda.h).
#include "backends.h"
#include "cuda/stub/no_cuda.h"

namespace deblurcore {
namespace cuda {

void clamp(const Context&, const float*, float*, int64_t, float, float) { no_cuda(); }

}  // namespace cuda
}  // namespace deblurcore
