// The block loop of conv1x1_small_cout_impl.h (small-Cout 1x1 convolutions) compiled
// as portable C++ (any CPU), in namespace cpu::conv1x1::generic.
#define DEBLURCORE_ISA generic
#include "cpu/conv1x1_small_cout_impl.h"
