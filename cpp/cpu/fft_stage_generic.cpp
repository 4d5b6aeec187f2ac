// The FFT butterflies of fft/stage_impl.h compiled for portable C++ (the baseline instruction set), in namespace cpu::generic.
#define DEBLURCORE_ISA generic
#include "cpu/fft/stage_impl.h"
