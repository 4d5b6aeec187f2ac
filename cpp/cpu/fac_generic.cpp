// The FAC row kernels of fac_impl.h compiled for portable C++ (any CPU; products rounded before each addition), in namespace cpu::generic.
#define DEBLURCORE_ISA generic
#include "cpu/fac_impl.h"
