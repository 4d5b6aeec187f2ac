// Device memory, the lowest layer: raw blocks, copies and fills on each device. Tensor,
// the allocators and Context are built on it; kernels never call it.
#pragma once

#include <cstddef>

#include "deblurcore/device.h"

namespace deblurcore {

namespace cuda {
// Implemented in cpp/cuda/memory.cu (or by cpp/cuda/stub/memory.cpp, which throws "built
// without CUDA").
bool available();  // built with CUDA and a device is present
void* malloc_device(size_t bytes);
void free_device(void* ptr) noexcept;
void copy_host_to_device(void* dst, const void* src, size_t bytes);
void copy_device_to_host(void* dst, const void* src, size_t bytes);
void copy_device_to_device(void* dst, const void* src, size_t bytes);
void memset_device(void* dst, int value, size_t bytes);
}  // namespace cuda

namespace memory {

// Copies `bytes` from src (on src_device) to dst (on dst_device).
void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
// Sets `bytes` bytes at dst (on `device`) to zero.
void fill_zero(void* dst, Device device, size_t bytes);

}  // namespace memory

}  // namespace deblurcore
