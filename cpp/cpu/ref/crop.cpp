// Reference crop: element by element.
#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void crop(const Context& ctx, const CropParams& p, const float* x, float* out) {
  (void)ctx;
  for (int64_t nc = 0; nc < p.N * p.C; ++nc)
    for (int64_t y = 0; y < p.height; ++y)
      for (int64_t xx = 0; xx < p.width; ++xx)
        out[(nc * p.height + y) * p.width + xx] = x[(nc * p.H + p.top + y) * p.W + p.left + xx];
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
