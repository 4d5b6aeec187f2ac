// deblurcore: filter-adaptive deblurring networks without a framework.
// The umbrella header of the C++ API: include this one header and link deblurcore::deblurcore
// (CMake: find_package(deblurcore CONFIG REQUIRED)).
//
//   #include <deblurcore/deblurcore.h>
//
//   auto model = deblurcore::load_model("stfan.safetensors");  // CPU, all hardware threads
//   std::vector<uint8_t> out(h * w * 3);
//   model->step({in.data(), h, w, deblurcore::PixelType::U8},
//               {out.data(), h, w, deblurcore::PixelType::U8});
//
// What is where:
//   model.h        load_model(), Model: process()/step()/reset() on interleaved RGB images,
//                  forward() on NCHW tensors
//   ifan.h         IfanModel: IFAN's variants and the dual-pixel input
//   image.h        ImageView / MutableImageView (8-bit, 16-bit, float) and their conversion
//   context.h      Context: device, threads, instruction set, allocator
//   tensor.h       Tensor: float32 NCHW with shared ownership
//   ops.h          the ops (conv2d, fac, iac, deform_conv2d, ...) on tensors
//   safetensors.h  SafetensorsFile, weights.h Weights: reading converted weights
//   error.h        every error is an exception derived from deblurcore::Error
//
// The library uses OpenMP internally; applications need not link or initialise it.
#pragma once

#include "deblurcore/allocator.h"
#include "deblurcore/analysis_synthesis.h"
#include "deblurcore/context.h"
#include "deblurcore/device.h"
#include "deblurcore/error.h"
#include "deblurcore/export.h"
#include "deblurcore/ifan.h"
#include "deblurcore/image.h"
#include "deblurcore/model.h"
#include "deblurcore/op_types.h"
#include "deblurcore/ops.h"
#include "deblurcore/safetensors.h"
#include "deblurcore/tensor.h"
#include "deblurcore/version.h"
#include "deblurcore/weights.h"
