// The device names of the Python API, parsed in one place (bindings/python.cpp).
#pragma once

#include <string>

#include "deblurcore/context.h"
#include "deblurcore/tensor.h"

// "cpu" or "cuda"; ValueError naming the accepted values otherwise.
deblurcore::Device parse_device(const std::string& name);

// "fp32" or "bf16" (deblurcore::Precision); ValueError naming the accepted values otherwise.
deblurcore::Precision parse_precision(const std::string& name);
