// The devices a tensor can live on.
#pragma once

#include "deblurcore/export.h"

namespace deblurcore {

enum class Device : int { CPU = 0, CUDA = 1 };

DEBLURCORE_API const char* device_name(Device device);

// True when this build has the CUDA backend and a CUDA device is present.
DEBLURCORE_API bool cuda_available();

}  // namespace deblurcore
