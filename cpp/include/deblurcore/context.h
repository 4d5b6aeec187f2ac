// Context: where and how ops run. It is passed explicitly to every op; there is no global
// state. A Context is cheap to copy; copies share the allocator.
//
// Threads: ops only read their Context, so one Context may be shared by several threads that
// run ops (or load models) concurrently, as long as none of them calls a setter on it at the
// same time; the default allocators are thread-safe, and a custom Allocator used from
// several threads must be too. Each op parallelises itself over num_threads() OpenMP
// threads; an application running models on several threads may want to lower it.
#pragma once

#include <cstddef>
#include <memory>

#include "deblurcore/allocator.h"
#include "deblurcore/export.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

// Host instruction sets the CPU kernels are compiled for; chosen at run time.
enum class Isa : int { Generic = 0, AVX2 = 1, AVX512 = 2 };

DEBLURCORE_API const char* isa_name(Isa isa);

// How the fast CPU conv2d runs 3x3 stride-1 convolutions: Auto picks Winograd F(4x4, 3x3) or
// the direct convolution per layer by a rule measured on x86 (cpu/conv_winograd.cpp);
// Direct and Winograd force one (Winograd where it applies: 3x3, stride 1, dilation 1). The
// default is Auto, or the environment variable DEBLURCORE_CONV_ALGO ("auto", "direct",
// "winograd") for A/B measurements of whole programs.
enum class ConvAlgorithm : int { Auto = 0, Direct = 1, Winograd = 2 };
// The best instruction set this CPU supports (and the build contains).
DEBLURCORE_API Isa detect_isa();

class DEBLURCORE_API Context {
 public:
  // num_threads <= 0 means all hardware threads.
  explicit Context(Device device = Device::CPU, int num_threads = 0);

  Device device() const { return device_; }
  int num_threads() const { return num_threads_; }
  Isa isa() const { return isa_; }
  ConvAlgorithm conv_algorithm() const { return conv_algorithm_; }
  // Run the plain scalar reference kernels (the executable spec) instead of the fast ones.
  bool reference_kernels() const { return reference_kernels_; }
  // The CUDA stream (a cudaStream_t) ops are queued on; nullptr is the default stream.
  void* stream() const { return stream_; }
  Allocator& allocator() const { return *allocator_; }
  const std::shared_ptr<Allocator>& allocator_ptr() const { return allocator_; }

  Context& set_num_threads(int n);
  Context& set_isa(Isa isa);  // must be supported by this CPU
  Context& set_conv_algorithm(ConvAlgorithm algorithm) {
    conv_algorithm_ = algorithm;
    return *this;
  }
  Context& set_reference_kernels(bool on) {
    reference_kernels_ = on;
    return *this;
  }
  Context& set_stream(void* stream) {
    stream_ = stream;
    return *this;
  }
  Context& set_allocator(std::shared_ptr<Allocator> allocator);

  // An uninitialised tensor on this context's device, from its allocator.
  Tensor empty(const Shape& shape) const;
  Tensor zeros(const Shape& shape) const;

 private:
  Device device_;
  int num_threads_;
  Isa isa_;
  ConvAlgorithm conv_algorithm_;
  bool reference_kernels_ = false;
  void* stream_ = nullptr;
  std::shared_ptr<Allocator> allocator_;
};

}  // namespace deblurcore
