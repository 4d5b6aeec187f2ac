// The FFT butterflies of fft/stage_impl.h compiled for AVX2, in namespace cpu::avx2.
#define DEBLURCORE_ISA avx2
#include "cpu/fft/stage_impl.h"
