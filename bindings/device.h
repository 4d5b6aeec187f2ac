// The device names of the Python API, parsed in one place (bindings/python.cpp).
#pragma once

#include <string>

#include "deblurcore/tensor.h"

// "cpu" or "cuda"; ValueError naming the accepted values otherwise.
deblurcore::Device parse_device(const std::string& name);
