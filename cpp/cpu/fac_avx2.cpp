// The FAC row kernels of fac_impl.h compiled for AVX2 + FMA, in namespace cpu::avx2. Fused
// multiply-adds: the forward output then matches the official CUDA kernel bit for bit.
#define DEBLURCORE_ISA avx2
#include "cpu/fac_impl.h"
