// The sigmoid and softmax loops of exp_kernels_impl.h compiled for AVX-512, in namespace
// cpu::avx512.
#define DEBLURCORE_ISA avx512
#include "cpu/exp_kernels_impl.h"
