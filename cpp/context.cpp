#include "deblurcore/context.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include <thread>

#include <cstdlib>
#include <cstring>

#include "deblurcore/error.h"
#include "memory/device_memory.h"
#include "memory/tensor_memory.h"

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

static int resolve_threads(int n) {
  if (n > 0) return n;
#ifdef _OPENMP
  const int hw = omp_get_num_procs();
#else
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
#endif
  return hw > 0 ? hw : 1;
}

// DEBLURCORE_CONV_ALGO, or Auto when unset.
static ConvAlgorithm conv_algorithm_from_environment() {
  const char* v = std::getenv("DEBLURCORE_CONV_ALGO");
  if (!v || !*v || std::strcmp(v, "auto") == 0) return ConvAlgorithm::Auto;
  if (std::strcmp(v, "direct") == 0) return ConvAlgorithm::Direct;
  if (std::strcmp(v, "winograd") == 0) return ConvAlgorithm::Winograd;
  fail<ValueError>("DEBLURCORE_CONV_ALGO must be 'auto', 'direct' or 'winograd', got '", v, "'");
}

Context::Context(Device device, int num_threads)
    : device_(device),
      num_threads_(resolve_threads(num_threads)),
      isa_(detect_isa()),
      conv_algorithm_(conv_algorithm_from_environment()),
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
  return memory::allocate_tensor(*allocator_, shape, device_);
}

Tensor Context::zeros(const Shape& shape) const {
  return memory::allocate_zeros(*allocator_, shape, device_);
}

}  // namespace deblurcore
