// Device memory in a build without CUDA: no device is available and every call throws.
#include "cuda/stub/no_cuda.h"
#include "deblurcore/error.h"
#include "memory/device_memory.h"

namespace deblurcore {
namespace cuda {

void no_cuda() {
  fail<RuntimeError>(
      "deblurcore was built without CUDA; rebuild with -DDEBLURCORE_CUDA=ON "
      "(or AUTO with nvcc on PATH) to use device 'cuda'");
}

bool available() { return false; }
void* malloc_device(size_t) { no_cuda(); }
void free_device(void*) noexcept {}
void copy_host_to_device(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_host(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_device(void*, const void*, size_t) { no_cuda(); }
void memset_device(void*, int, size_t) { no_cuda(); }

}  // namespace cuda
}  // namespace deblurcore
