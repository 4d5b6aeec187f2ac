// The default allocator of each device: aligned malloc (huge pages for large blocks) on the
// host, cudaMalloc through device_memory.h on CUDA.
#include <sys/mman.h>

#include <cstdlib>
#include <memory>

#include "deblurcore/allocator.h"
#include "deblurcore/error.h"
#include "memory/device_memory.h"

namespace deblurcore {

namespace {

class HostAllocator final : public Allocator {
 public:
  std::shared_ptr<void> allocate(size_t bytes) override {
    // Large blocks (the models' activations and filter tensors, up to 737 MB) are aligned to
    // 2 MiB and marked for transparent huge pages: first touching fresh 4 KiB pages costs more
    // than a memory-bound kernel reading them (numpy does the same for large arrays).
    const size_t align = bytes >= kHugeThreshold ? kHugePage : 64;
    // aligned_alloc needs a size that is a multiple of the alignment.
    const size_t rounded = ((bytes + align - 1) / align) * align;
    void* p = std::aligned_alloc(align, rounded == 0 ? align : rounded);
    if (!p) fail<OutOfMemoryError>("out of host memory allocating ", bytes, " bytes");
#ifdef MADV_HUGEPAGE
    if (align == kHugePage) madvise(p, rounded, MADV_HUGEPAGE);  // advice only; failure is fine
#endif
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  }

 private:
  static constexpr size_t kHugePage = size_t(2) << 20;
  static constexpr size_t kHugeThreshold = size_t(8) << 20;
};

class CudaAllocator final : public Allocator {
 public:
  std::shared_ptr<void> allocate(size_t bytes) override {
    void* p = cuda::malloc_device(bytes == 0 ? 64 : bytes);
    return std::shared_ptr<void>(p, [](void* q) { cuda::free_device(q); });
  }
};

}  // namespace

std::shared_ptr<Allocator> default_allocator(Device device) {
  // Stateless allocators: one shared instance each is enough.
  static const std::shared_ptr<Allocator> host = std::make_shared<HostAllocator>();
  static const std::shared_ptr<Allocator> gpu = std::make_shared<CudaAllocator>();
  return device == Device::CUDA ? gpu : host;
}

bool cuda_available() { return cuda::available(); }

}  // namespace deblurcore
