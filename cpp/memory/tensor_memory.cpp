#include "memory/tensor_memory.h"

#include <utility>

#include "memory/device_memory.h"

namespace deblurcore {
namespace memory {

Tensor allocate_tensor(Allocator& allocator, const Shape& shape, Device device) {
  const int64_t n = shape_numel(shape);
  auto block = allocator.allocate(static_cast<size_t>(n) * sizeof(float));
  float* data = static_cast<float*>(block.get());  // read before block is moved from
  return Tensor::wrap(data, shape, std::move(block), device);
}

Tensor allocate_zeros(Allocator& allocator, const Shape& shape, Device device) {
  Tensor t = allocate_tensor(allocator, shape, device);
  fill_zero(t.data(), device, t.nbytes());
  return t;
}

}  // namespace memory
}  // namespace deblurcore
