// concat (copy_rows) in a build without CUDA: throws "built without CUDA" (see no_cuda.h).
#include "backends.h"
#include "cuda/stub/no_cuda.h"

namespace deblurcore {
namespace cuda {

void copy_rows(const Context&, const float*, int64_t, float*, int64_t, int64_t, int64_t) {
  no_cuda();
}

}  // namespace cuda
}  // namespace deblurcore
