// Scalar reference kernel of pad: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include <algorithm>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

namespace {

int64_t clamp_index(int64_t v, int64_t size) { return std::min(std::max<int64_t>(v, 0), size - 1); }

// Source index along one dimension for output index o of a padded dimension.
int64_t pad_source(int64_t o, int64_t before, int64_t size, PadMode mode) {
  int64_t i = o - before;
  if (i >= 0 && i < size) return i;
  switch (mode) {
    case PadMode::Zeros: return -1;
    case PadMode::Replicate: return clamp_index(i, size);
    case PadMode::Reflect: return i < 0 ? -i : 2 * (size - 1) - i;
    case PadMode::Symmetric: return i < 0 ? -i - 1 : 2 * size - 1 - i;
  }
  return -1;
}

}  // namespace

void pad(const Context& ctx, const PadParams& p, const float* x, float* out) {
#pragma omp parallel for collapse(2) num_threads(ctx.num_threads())
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c) {
      const float* xc = x + (n * p.C + c) * p.H * p.W;
      float* oc = out + (n * p.C + c) * p.Hout * p.Wout;
      for (int64_t oy = 0; oy < p.Hout; ++oy) {
        const int64_t sy = pad_source(oy, p.top, p.H, p.mode);
        for (int64_t ox = 0; ox < p.Wout; ++ox) {
          const int64_t sx = pad_source(ox, p.left, p.W, p.mode);
          oc[oy * p.Wout + ox] = (sy < 0 || sx < 0) ? p.value : xc[sy * p.W + sx];
        }
      }
    }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
