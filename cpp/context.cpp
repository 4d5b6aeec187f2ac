#include "deblurcore/context.h"
#include "deblurcore/deblurcore.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#include <sys/mman.h>

#include <thread>

#include <cstdlib>
#include <cstring>

#include "backends.h"
#include "deblurcore/error.h"

namespace deblurcore {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Generic: return "generic";
    case Isa::AVX2: return "avx2";
    case Isa::AVX512: return "avx512";
  }
  return "unknown";
}

Isa detect_isa() {
  // Only what the build contains: without the x86 kernel files every op runs generic code.
#if defined(DEBLURCORE_X86_ISA) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return Isa::AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::AVX2;
#endif
  return Isa::Generic;
}

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
    if (!p) fail<RuntimeError>("out of host memory allocating ", bytes, " bytes");
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

static int resolve_threads(int n) {
  if (n > 0) return n;
#ifdef _OPENMP
  const int hw = omp_get_num_procs();
#else
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
#endif
  return hw > 0 ? hw : 1;
}

Context::Context(Device device, int num_threads)
    : device_(device),
      num_threads_(resolve_threads(num_threads)),
      isa_(detect_isa()),
      allocator_(default_allocator(device)) {
  if (device == Device::CUDA)
    check<RuntimeError>(cuda::available(),
                        "device 'cuda' requested but no CUDA device is available");
}

Context& Context::set_num_threads(int n) {
  num_threads_ = resolve_threads(n);
  return *this;
}

Context& Context::set_isa(Isa isa) {
  check(static_cast<int>(isa) <= static_cast<int>(detect_isa()), "instruction set ",
        isa_name(isa), " is not supported by this CPU (best: ", isa_name(detect_isa()), ")");
  isa_ = isa;
  return *this;
}

Context& Context::set_allocator(std::shared_ptr<Allocator> allocator) {
  check(allocator != nullptr, "Context::set_allocator: null allocator");
  allocator_ = std::move(allocator);
  return *this;
}

Tensor Context::empty(const Shape& shape) const {
  const int64_t n = shape_numel(shape);
  auto block = allocator_->allocate(static_cast<size_t>(n) * sizeof(float));
  float* data = static_cast<float*>(block.get());  // read before block is moved from
  return Tensor::wrap(data, shape, std::move(block), device_);
}

Tensor Context::zeros(const Shape& shape) const {
  Tensor t = empty(shape);
  if (device_ == Device::CPU)
    std::memset(t.data(), 0, t.nbytes());
  else
    cuda::memset_device(t.data(), 0, t.nbytes());
  return t;
}

}  // namespace deblurcore

namespace deblurcore {
bool cuda_available() { return cuda::available(); }
}  // namespace deblurcore
