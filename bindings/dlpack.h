// Tensors in and out of the bindings through DLPack (the legacy, unversioned capsule
// "dltensor" that torch.utils.dlpack.to_dlpack / torch.from_dlpack exchange), without copying:
// a CPU tensor stays in its host memory, a CUDA tensor in its device memory.
#pragma once

#include <pybind11/pybind11.h>

#include "deblurcore/tensor.h"

namespace dlpack {

// The DLPack ABI (data layout of the DLPack specification, version 0.x), declared here so the
// bindings need no extra header. Only float32 on kDLCPU / kDLCUDA is accepted or produced.
struct Device {
  int32_t device_type;  // kCPU, kCUDA, ...
  int32_t device_id;
};
struct DataType {
  uint8_t code;  // kFloat
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  Device device;
  int32_t ndim;
  DataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; null means compact row-major
  uint64_t byte_offset;
};
struct ManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(ManagedTensor* self);
};
constexpr int32_t kCPU = 1, kCUDA = 2;
constexpr uint8_t kFloat = 2;

}  // namespace dlpack

// Takes ownership of the DLPack capsule `capsule` (renaming it "used_dltensor", as the
// protocol asks) and returns a tensor sharing its memory; the producer's deleter runs when the
// last reference to the tensor goes. `name` is the argument's name for error messages: it must
// be a float32, compact row-major tensor on the CPU or a CUDA device (TypeError / ValueError).
// `device_id`, when given, receives the DLPack device id.
deblurcore::Tensor tensor_from_dlpack(pybind11::handle capsule, const char* name,
                                      int* device_id = nullptr);

// A "dltensor" capsule sharing the memory of `t` (kept alive until the consumer's deleter
// runs, or the capsule is dropped unconsumed). `device_id` is the CUDA device of a CUDA tensor.
pybind11::capsule tensor_to_dlpack(const deblurcore::Tensor& t, int device_id);
