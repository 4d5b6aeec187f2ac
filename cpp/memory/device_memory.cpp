// Copies and fills dispatched on the device (see device_memory.h).
#include "memory/device_memory.h"

#include <cstring>

namespace deblurcore {
namespace memory {

void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::CPU && src_device == Device::CPU)
    std::memcpy(dst, src, bytes);
  else if (dst_device == Device::CUDA && src_device == Device::CPU)
    cuda::copy_host_to_device(dst, src, bytes);
  else if (dst_device == Device::CPU && src_device == Device::CUDA)
    cuda::copy_device_to_host(dst, src, bytes);
  else
    cuda::copy_device_to_device(dst, src, bytes);
}

void fill_zero(void* dst, Device device, size_t bytes) {
  if (bytes == 0) return;
  if (device == Device::CPU)
    std::memset(dst, 0, bytes);
  else
    cuda::memset_device(dst, 0, bytes);
}

}  // namespace memory
}  // namespace deblurcore
