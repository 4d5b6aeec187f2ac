// The FFT butterflies of fft/stage_impl.h compiled for AVX-512, in namespace cpu::avx512.
#define DEBLURCORE_ISA avx512
#include "cpu/fft/stage_impl.h"
