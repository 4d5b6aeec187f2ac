// Winograd F(4x4, 3x3) block kernel for the avx512 instruction set (see cpu/README.md).
#define DEBLURCORE_ISA avx512
#include "cpu/conv_winograd_impl.h"
