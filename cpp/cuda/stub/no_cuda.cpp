// Linked instead of cpp/cuda/*.cu when the library is built without CUDA: every CUDA entry
// point throws, so a CUDA request fails with a clear message instead of a link error.
#include "backends.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cuda {

[[noreturn]] static void no_cuda() {
  fail<RuntimeError>("deblurcore was built without CUDA; rebuild with -DDEBLURCORE_CUDA=ON "
                     "(or AUTO with nvcc on PATH) to use device 'cuda'");
}

bool available() { return false; }
void* malloc_device(size_t) { no_cuda(); }
void free_device(void*) noexcept {}
void copy_host_to_device(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_host(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_device(void*, const void*, size_t) { no_cuda(); }
void memset_device(void*, int, size_t) { no_cuda(); }

void conv2d(const Context&, const Conv2dParams&, const float*, const float*, const float*,
            const float*, float*) { no_cuda(); }
void conv_transpose2d(const Context&, const ConvTranspose2dParams&, const float*, const float*,
                      const float*, const float*, float*) { no_cuda(); }
void fac(const Context&, const FacParams&, const float*, const float*, float*) { no_cuda(); }
void fac_backward(const Context&, const FacParams&, const float*, const float*, const float*,
                  float*, float*) { no_cuda(); }
void activation(const Context&, Activation, float, const float*, float*, int64_t) { no_cuda(); }
void sigmoid(const Context&, const float*, float*, int64_t) { no_cuda(); }
void add(const Context&, const float*, const float*, float*, int64_t) { no_cuda(); }
void clamp(const Context&, const float*, float*, int64_t, float, float) { no_cuda(); }
void softmax(const Context&, const SoftmaxParams&, const float*, float*) { no_cuda(); }
void pad(const Context&, const PadParams&, const float*, float*) { no_cuda(); }
void copy_rows(const Context&, const float*, int64_t, float*, int64_t, int64_t, int64_t) {
  no_cuda();
}

}  // namespace cuda
}  // namespace deblurcore
