// No kernels are left here: each fast CPU kernel has its own file (conv.cpp, fac.cpp, ...).
#include "backends.h"

namespace deblurcore {
namespace cpu {


}  // namespace cpu
}  // namespace deblurcore
