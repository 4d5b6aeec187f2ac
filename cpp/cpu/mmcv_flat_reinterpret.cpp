// CPU kernel of mmcv_flat_reinterpret: one copy and one zero fill per batch element (a few
// MB at most, memory-bound; memcpy/memset are as fast as it gets on one thread).
#include <algorithm>
#include <cstring>

#include "backends.h"

namespace deblurcore {
namespace cpu {

void mmcv_flat_reinterpret(const Context&, const MmcvFlatReinterpretParams& p, const float* x,
                           float* out) {
  const int64_t copied = std::min(p.in_numel, p.out_numel);
  for (int64_t n = 0; n < p.N; ++n) {
    float* o = out + n * p.out_numel;
    std::memcpy(o, x + n * p.in_numel, sizeof(float) * copied);
    std::memset(o + copied, 0, sizeof(float) * (p.out_numel - copied));
  }
}

}  // namespace cpu
}  // namespace deblurcore
