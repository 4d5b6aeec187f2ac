// Declarations of the three backends (see backend_api.inc for the kernel set).
#pragma once

#include <cstddef>

#include "deblurcore/context.h"
#include "op_params.h"

namespace deblurcore {

namespace cpu {
namespace ref {
#include "backend_api.inc"
}  // namespace ref
#include "backend_api.inc"
}  // namespace cpu

namespace cuda {
#include "backend_api.inc"
// Memory: implemented in cpp/cuda/ (or by the stub, which throws "built without CUDA").
bool available();  // built with CUDA and a device is present
void* malloc_device(size_t bytes);
void free_device(void* ptr) noexcept;
void copy_host_to_device(void* dst, const void* src, size_t bytes);
void copy_device_to_host(void* dst, const void* src, size_t bytes);
void copy_device_to_device(void* dst, const void* src, size_t bytes);
void memset_device(void* dst, int value, size_t bytes);
}  // namespace cuda

}  // namespace deblurcore
