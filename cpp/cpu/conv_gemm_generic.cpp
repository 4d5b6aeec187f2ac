// The convolutions' GEMM tile kernel (conv_gemm_tile.h) compiled for portable C++ (any CPU), in
// namespace cpu::generic.
#define DEBLURCORE_ISA generic
#include "cpu/conv_gemm_tile.h"
