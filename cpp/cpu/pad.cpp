// Fast CPU kernel of pad: a memory-bound loop that the compiler vectorises, split across
// threads in large contiguous chunks (plain portable C++, no ISA variants).
#include <algorithm>
#include <cstring>

#include "backends.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

void pad(const Context& ctx, const PadParams& p, const float* x, float* out) {
#pragma omp parallel for collapse(2) num_threads(threads_for(ctx, p.N* p.C* p.Hout* p.Wout))
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      const float* xc = x + (n * p.C + c) * p.H * p.W;
      float* oc = out + (n * p.C + c) * p.Hout * p.Wout;
      for (int64_t oy = 0; oy < p.Hout; ++oy) {
        float* row = oc + oy * p.Wout;
        int64_t sy = oy - p.top;
        if (sy < 0 || sy >= p.H) {
          if (p.mode == PadMode::Zeros) {
            std::fill(row, row + p.Wout, p.value);
            continue;
          }
          sy = p.mode == PadMode::Replicate   ? std::min(std::max<int64_t>(sy, 0), p.H - 1)
               : p.mode == PadMode::Symmetric ? (sy < 0 ? -sy - 1 : 2 * p.H - 1 - sy)
                                              : (sy < 0 ? -sy : 2 * (p.H - 1) - sy);
        }
        const float* src = xc + sy * p.W;
        std::memcpy(row + p.left, src, size_t(p.W) * sizeof(float));
        for (int64_t i = 0; i < p.left; ++i)
          row[i] = p.mode == PadMode::Zeros       ? p.value
                   : p.mode == PadMode::Replicate ? src[0]
                   : p.mode == PadMode::Symmetric ? src[p.left - 1 - i]
                                                  : src[p.left - i];
        for (int64_t i = 0; i < p.right; ++i)
          row[p.left + p.W + i] = p.mode == PadMode::Zeros       ? p.value
                                  : p.mode == PadMode::Replicate ? src[p.W - 1]
                                  : p.mode == PadMode::Symmetric ? src[p.W - 1 - i]
                                                                 : src[p.W - 2 - i];
      }
    }
}

}  // namespace cpu
}  // namespace deblurcore
