// The FAC row kernels of fac_impl.h compiled for AVX-512 + FMA, in namespace cpu::avx512
// (fused multiply-adds, as the AVX2 build).
#define DEBLURCORE_ISA avx512
#include "cpu/fac_impl.h"
