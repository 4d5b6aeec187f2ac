// The FAC row kernels of fac_impl.h compiled as portable C++ (any CPU), in namespace
// cpu::generic; products are rounded before each addition.
#define DEBLURCORE_ISA generic
#include "cpu/fac_impl.h"
