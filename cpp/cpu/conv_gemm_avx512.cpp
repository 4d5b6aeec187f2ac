// The convolutions' GEMM tile kernel (conv_gemm_tile.h) compiled for AVX-512 (F, BW, DQ, VL), in
// namespace cpu::avx512.
#define DEBLURCORE_ISA avx512
#include "cpu/conv_gemm_tile.h"
