// Tensor: float32, contiguous, in PyTorch's dimension order (NCHW for images), with shared
// ownership of its memory. Host memory is 64-byte aligned. A tensor lives on one device;
// copies between devices happen only through to().
//
// Ownership and threads: copying a Tensor is cheap and shares its memory (like a
// std::shared_ptr); the memory is freed with the last tensor referring to it. Use clone() for
// an independent copy. Any number of threads may read a tensor at once; writing to memory
// that another thread reads or writes needs the caller's synchronisation.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "deblurcore/device.h"
#include "deblurcore/export.h"

namespace deblurcore {

using Shape = std::vector<int64_t>;

DEBLURCORE_API std::string shape_str(const Shape& shape);

class DEBLURCORE_API Tensor {
 public:
  // An undefined tensor (no storage); used for optional arguments such as a missing bias.
  Tensor() = default;

  // Uninitialised (empty) or zeroed memory from default_allocator(device): a convenience for
  // code without a Context (the bindings, weight loading, tests). It allocates through the
  // same path as Context::empty / zeros; ops and models allocate from their Context, whose
  // allocator may cache.
  static Tensor empty(const Shape& shape, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, Device device = Device::CPU);
  // Memory owned elsewhere (a memory-mapped file, an allocator's block): `owner` keeps it
  // alive for as long as any tensor refers to it. `data` must hold numel(shape) floats.
  static Tensor wrap(float* data, const Shape& shape, std::shared_ptr<void> owner,
                     Device device = Device::CPU);
  // A host tensor holding a copy of `values` (row-major), for tests and small constants.
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);

  bool defined() const { return data_ != nullptr || !shape_.empty(); }
  Device device() const { return device_; }
  const Shape& shape() const { return shape_; }
  int dim() const { return static_cast<int>(shape_.size()); }
  // size(-1) is the last dimension, as in PyTorch.
  int64_t size(int d) const;
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * sizeof(float); }
  std::string shape_str() const { return deblurcore::shape_str(shape_); }

  float* data() { return data_; }
  const float* data() const { return data_; }

  // Same memory, another shape with the same number of elements.
  Tensor reshape(const Shape& shape) const;
  // Element range [begin, end) along dimension 0, sharing memory (contiguity is kept).
  Tensor slice0(int64_t begin, int64_t end) const;
  // A copy on `device` (this tensor itself when it is already there).
  Tensor to(Device device) const;
  Tensor clone() const;
  // Host-only convenience for tests and small tensors.
  std::vector<float> to_vector() const;

 private:
  Tensor(float* data, Shape shape, std::shared_ptr<void> owner, Device device);

  float* data_ = nullptr;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<void> owner_;
  Device device_ = Device::CPU;
};

DEBLURCORE_API int64_t shape_numel(const Shape& shape);

}  // namespace deblurcore
