// Winograd F(4x4, 3x3) block kernel for the avx2 instruction set (see cpu/README.md).
#define DEBLURCORE_ISA avx2
#include "cpu/conv_winograd_impl.h"
