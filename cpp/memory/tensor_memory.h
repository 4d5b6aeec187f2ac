// The one way a tensor's memory is allocated: Context::empty / zeros (the context's allocator)
// and the Tensor::empty / zeros conveniences (the device's default allocator) both end here.
#pragma once

#include "deblurcore/allocator.h"
#include "deblurcore/tensor.h"

namespace deblurcore {
namespace memory {

// An uninitialised tensor of `shape` on `device` in a block from `allocator`.
Tensor allocate_tensor(Allocator& allocator, const Shape& shape, Device device);
// The same, zero-filled.
Tensor allocate_zeros(Allocator& allocator, const Shape& shape, Device device);

}  // namespace memory
}  // namespace deblurcore
