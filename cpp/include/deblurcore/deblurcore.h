// deblurcore: filter-adaptive deblurring networks without a framework.
// The umbrella header of the C++ API.
#pragma once

#include "deblurcore/context.h"
#include "deblurcore/error.h"
#include "deblurcore/image.h"
#include "deblurcore/model.h"
#include "deblurcore/ops.h"
#include "deblurcore/safetensors.h"
#include "deblurcore/tensor.h"
#include "deblurcore/weights.h"
#include "deblurcore/version.h"

namespace deblurcore {

// True when this build has the CUDA backend and a CUDA device is present.
DEBLURCORE_API bool cuda_available();

}  // namespace deblurcore
