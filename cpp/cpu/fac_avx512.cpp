// The FAC row kernels of fac_impl.h compiled for AVX-512 + FMA (fused multiply-adds, as the AVX2 build), in namespace cpu::avx512.
#define DEBLURCORE_ISA avx512
#include "cpu/fac_impl.h"
