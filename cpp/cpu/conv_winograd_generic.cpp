// Winograd F(4x4, 3x3) block kernel for the generic instruction set (see cpu/README.md).
#define DEBLURCORE_ISA generic
#include "cpu/conv_winograd_impl.h"
