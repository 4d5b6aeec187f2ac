// The sigmoid and softmax loops of exp_kernels_impl.h compiled for AVX2, in namespace
// cpu::avx2.
#define DEBLURCORE_ISA avx2
#include "cpu/exp_kernels_impl.h"
