// Declarations of the three backends (see backend_api.inc for the kernel set). Device memory
// is not here but in memory/device_memory.h.
#pragma once

#include <cstdint>

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
}  // namespace cuda

}  // namespace deblurcore
