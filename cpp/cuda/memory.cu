// Device memory and device discovery for the CUDA backend.
//
// Ordering and synchronisation:
// - Ops queue their kernels on ctx.stream() (nullptr: the legacy default stream) and return
//   without waiting.
// - The copies below run on the legacy default stream with cudaMemcpy / cudaMemset. The legacy
//   default stream waits for all work queued before on every blocking stream (the default
//   stream, and streams created without cudaStreamNonBlocking), and such streams wait for it.
//   So copy_device_to_host, which also blocks the host until the data has arrived, is the
//   synchronisation point that makes an op's result visible: the front ends (the Python
//   bindings, Tensor::to_vector) always read results through it. A caller that sets a
//   cudaStreamNonBlocking stream on its Context must synchronise that stream itself before
//   copying or freeing the tensors the stream uses.
// - cudaFree is implicitly synchronising (it waits for the work already queued on the device
//   before it releases the memory), so a tensor freed while a kernel still reads it is safe.
#include "cuda/cuda_check.h"
#include "memory/device_memory.h"

namespace deblurcore {
namespace cuda {

bool available() {
  // Without a driver (or with no device) cudaGetDeviceCount returns an error code instead of
  // throwing or aborting; any error means "not available". The runtime also records it as the
  // last error: clear it so it is not reported later by an unrelated launch check.
  static const bool present = [] {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return count > 0;
  }();
  return present;
}

void* malloc_device(size_t bytes) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();  // an out-of-memory error is not sticky: leave the context usable
    fail<RuntimeError>("CUDA error in cudaMalloc of ", bytes, " bytes: ", cudaGetErrorString(err),
                       " (", cudaGetErrorName(err), ")");
  }
  return p;
}

void free_device(void* ptr) noexcept {
  // Called from destructors: errors (a previous kernel fault, the driver shutting down at exit)
  // cannot be reported here and are left for the next checked call.
  if (ptr) cudaFree(ptr);
}

void copy_host_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy host to device");
}

void copy_device_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  // Blocks until all preceding work on blocking streams is done: errors of earlier
  // asynchronous kernels are reported here.
  check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy device to host");
}

void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy device to device");
}

void memset_device(void* dst, int value, size_t bytes) {
  if (bytes == 0) return;
  check_cuda(cudaMemset(dst, value, bytes), "cudaMemset");
}

}  // namespace cuda
}  // namespace deblurcore
