// The convolutions' GEMM tile kernel (conv_gemm_tile.h) compiled for AVX2 + FMA, in
// namespace cpu::avx2.
#define DEBLURCORE_ISA avx2
#include "cpu/conv_gemm_tile.h"
