// The sigmoid and softmax loops of exp_kernels_impl.h compiled as portable C++ (any CPU), in
// namespace cpu::generic.
#define DEBLURCORE_ISA generic
#include "cpu/exp_kernels_impl.h"
