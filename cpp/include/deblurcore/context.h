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
#include <functional>
#include <memory>

#include "deblurcore/allocator.h"
#include "deblurcore/export.h"
#include "deblurcore/profiler.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

// Host instruction sets the CPU kernels are compiled for; chosen at run time.
enum class Isa : int { Generic = 0, AVX2 = 1, AVX512 = 2 };

DEBLURCORE_API const char* isa_name(Isa isa);

// How the fast CPU conv2d runs 3x3 stride-1 convolutions, and conv_transpose2d the 4x4
// stride-2 padding-1 ones (their four output phases as one 3x3 convolution): Auto picks
// Winograd F(4x4, 3x3) or the direct convolution per layer by a rule measured on x86
// (cpu/conv_winograd.cpp); Direct and Winograd force one (Winograd where it applies: 3x3,
// stride 1, dilation 1; 4x4 transposed, stride 2, padding 1, output 2H x 2W, in fp32). The
// default is Auto, or the environment variable DEBLURCORE_CONV_ALGO ("auto", "direct",
// "winograd") for A/B measurements of whole programs.
enum class ConvAlgorithm : int { Auto = 0, Direct = 1, Winograd = 2 };
// The best instruction set this CPU supports (and the build contains).
DEBLURCORE_API Isa detect_isa();

// Arithmetic of the convolutions' GEMMs (conv2d, conv_transpose2d) on the CPU:
//  FP32: float operands and accumulation (the default; the accuracy every test asserts).
//  BF16: operands rounded to bfloat16 (round to nearest even; weights when packed, activations
//        when the input patch is packed) and float accumulation, with the AVX512_BF16 dot
//        product (vdpbf16ps): about twice the multiply-adds per instruction. Everything else
//        (epilogue, sampling, elementwise ops, the reference kernels) stays float. The models
//        keep the layers that need it in FP32 (cpp/models/precision_policy.h).
enum class Precision : int { FP32 = 0, BF16 = 1 };

DEBLURCORE_API const char* precision_name(Precision precision);
// True when this CPU has AVX512_BF16 (with AVX-512 F/BW/DQ/VL) and the build contains the
// kernels that use it.
DEBLURCORE_API bool cpu_supports_bf16();

class DEBLURCORE_API Context {
 public:
  // num_threads <= 0 means all hardware threads; more than max_num_threads() is a ValueError
  // (each op starts that many OpenMP threads: thousands only cost time, and tens of
  // thousands exhaust the process's stacks).
  explicit Context(Device device = Device::CPU, int num_threads = 0);

  // The largest accepted num_threads: 4 x the hardware threads of this machine.
  static int max_num_threads();

  Device device() const { return device_; }
  int num_threads() const { return num_threads_; }
  Isa isa() const { return isa_; }
  ConvAlgorithm conv_algorithm() const { return conv_algorithm_; }
  Precision precision() const { return precision_; }
  // The output tile of the float Winograd convolution (3x3, stride 1, CPU): 4, F(4x4, 3x3),
  // the default; or 6, F(6x6, 3x3): 1.78 multiplies per output and channel pair instead of
  // 2.25, at about ten times the rounding error (still ~1e-5 of the values, see
  // cpu/conv_winograd.cpp), with an AVX-512 kernel only (other instruction sets run tile 4).
  // The float blocks of a bf16 model use 6 (models/precision_policy.h): that mode's budget is
  // 2/255, not fp32's agreement with PyTorch.
  int winograd_tile() const { return winograd_tile_; }
  // Run the plain scalar reference kernels (the executable spec) instead of the fast ones.
  bool reference_kernels() const { return reference_kernels_; }
  // The CUDA stream (a cudaStream_t) ops are queued on; nullptr is the default stream.
  void* stream() const { return stream_; }
  Allocator& allocator() const { return *allocator_; }
  const std::shared_ptr<Allocator>& allocator_ptr() const { return allocator_; }

  Context& set_num_threads(int n);
  Context& set_isa(Isa isa);  // must be supported by this CPU (and by the precision)
  Context& set_conv_algorithm(ConvAlgorithm algorithm) {
    conv_algorithm_ = algorithm;
    return *this;
  }
  // BF16 needs a CPU context with cpu_supports_bf16() and isa() AVX512: a ValueError
  // otherwise (there is no silent fall back to FP32: the caller asked for the speed).
  Context& set_precision(Precision precision);
  // A copy of this context with another precision (used per layer by the models).
  Context with_precision(Precision precision) const {
    Context c = *this;
    c.precision_ = precision;
    c.check_precision();
    return c;
  }
  Context& set_winograd_tile(int tile);  // 4 or 6, a ValueError otherwise
  Context with_winograd_tile(int tile) const {
    Context c = *this;
    c.set_winograd_tile(tile);
    return c;
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
  // Records every op run on this context (and its copies) into `profiler`; nullptr (the
  // default) records nothing. See deblurcore/profiler.h.
  Context& set_profiler(std::shared_ptr<OpProfiler> profiler) {
    profiler_ = std::move(profiler);
    return *this;
  }
  OpProfiler* profiler() const { return profiler_.get(); }

  // Cancellation: a callback polled by every op before it starts (when it allocates its
  // output), that is between the layers of a model; when it returns true the op throws
  // CancelledError and the model call unwinds, leaving the model's state as it was before the
  // call. The callback is shared by the copies of this Context (a model's copy included), is
  // called on the thread running the op, and must be cheap. An empty function disables it.
  Context& set_cancel_check(std::function<bool()> check);
  // Throws CancelledError when the cancel check says so.
  void throw_if_cancelled() const;

  // An uninitialised tensor on this context's device, from its allocator.
  Tensor empty(const Shape& shape) const;
  Tensor zeros(const Shape& shape) const;

 private:
  void check_precision() const;

  Device device_;
  int num_threads_;
  Isa isa_;
  ConvAlgorithm conv_algorithm_;
  Precision precision_ = Precision::FP32;
  int winograd_tile_ = 4;
  bool reference_kernels_ = false;
  void* stream_ = nullptr;
  std::shared_ptr<Allocator> allocator_;
  std::shared_ptr<OpProfiler> profiler_;
  // Shared with the copies, so that a model's copy sees a check set on it later.
  std::shared_ptr<std::function<bool()>> cancel_check_ = std::make_shared<std::function<bool()>>();
};

}  // namespace deblurcore
