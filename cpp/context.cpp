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

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::FP32: return "fp32";
    case Precision::BF16: return "bf16";
  }
  return "unknown";
}

bool cpu_supports_bf16() {
#if defined(DEBLURCORE_X86_ISA) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  return detect_isa() == Isa::AVX512 && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

static int hardware_threads() {
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

int Context::max_num_threads() { return 4 * hardware_threads(); }

static int resolve_threads(int n) {
  if (n <= 0) return hardware_threads();
  check(n <= Context::max_num_threads(), "num_threads must be at most ", Context::max_num_threads(),
        " (4 x the ", hardware_threads(), " hardware threads of this machine), got ", n);
  return n;
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
  check(static_cast<int>(isa) <= static_cast<int>(detect_isa()), "instruction set ", isa_name(isa),
        " is not supported by this CPU (best: ", isa_name(detect_isa()), ")");
  const Isa before = isa_;
  isa_ = isa;
  try {
    check_precision();
  } catch (...) {
    isa_ = before;
    throw;
  }
  return *this;
}

Context& Context::set_precision(Precision precision) {
  const Precision before = precision_;
  precision_ = precision;
  try {
    check_precision();
  } catch (...) {
    precision_ = before;
    throw;
  }
  return *this;
}

Context& Context::set_winograd_tile(int tile) {
  check(tile == 4 || tile == 6, "winograd_tile must be 4 or 6, got ", tile);
  winograd_tile_ = tile;
  return *this;
}

void Context::check_precision() const {
  if (precision_ == Precision::FP32) return;
  check(device_ == Device::CPU, "precision 'bf16' runs on the CPU only (device is ",
        device_ == Device::CUDA ? "cuda" : "other", ")");
  check(cpu_supports_bf16(), "precision 'bf16' needs a CPU with AVX512_BF16 (vdpbf16ps); this ",
        "CPU or build has none: use precision 'fp32'");
  check(isa_ == Isa::AVX512, "precision 'bf16' needs instruction set avx512, not ", isa_name(isa_));
}

Context& Context::set_allocator(std::shared_ptr<Allocator> allocator) {
  check(allocator != nullptr, "Context::set_allocator: null allocator");
  allocator_ = std::move(allocator);
  return *this;
}

Context& Context::set_cancel_check(std::function<bool()> check) {
  *cancel_check_ = std::move(check);
  return *this;
}

void Context::throw_if_cancelled() const {
#ifdef _OPENMP
  // An exception must not leave an OpenMP region; a kernel allocating scratch inside one
  // is not a place to stop (its op's front end already polled).
  if (omp_in_parallel()) return;
#endif
  if (*cancel_check_ && (*cancel_check_)()) throw CancelledError("cancelled");
}

// The largest tensor a Context allocates: 2^34 float32 elements (64 GiB). Far beyond any
// model's activations; a larger request comes from absurd arguments (a stride or size of
// tens of thousands), refused here with a clear message instead of exhausting memory.
static void check_tensor_size(const Shape& shape) {
  constexpr int64_t kMaxElements = int64_t(1) << 34;
  const int64_t n = shape_numel(shape);
  check(n <= kMaxElements, "a tensor of shape ", shape_str(shape), " (", n,
        " elements) exceeds the limit of ", kMaxElements, " elements (64 GiB)");
}

// Every op allocates its output here before computing it: the one place where all of them
// poll the cancel check.
Tensor Context::empty(const Shape& shape) const {
  throw_if_cancelled();
  check_tensor_size(shape);
  return memory::allocate_tensor(*allocator_, shape, device_);
}

Tensor Context::zeros(const Shape& shape) const {
  throw_if_cancelled();
  check_tensor_size(shape);
  return memory::allocate_zeros(*allocator_, shape, device_);
}

}  // namespace deblurcore
