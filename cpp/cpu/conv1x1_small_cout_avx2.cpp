// The block loop of conv1x1_small_cout_impl.h (small-Cout 1x1 convolutions) compiled
// for AVX2, in namespace cpu::conv1x1::avx2.
#define DEBLURCORE_ISA avx2
#include "cpu/conv1x1_small_cout_impl.h"
