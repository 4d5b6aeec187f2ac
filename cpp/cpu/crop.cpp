// Fast crop: one memcpy per output row.
#include <cstring>

#include "backends.h"

namespace deblurcore {
namespace cpu {

void crop(const Context& ctx, const CropParams& p, const float* x, float* out) {
  const int64_t rows = p.N * p.C * p.height;
  const int threads = rows * p.width < (1 << 15) ? 1 : ctx.num_threads();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t nc = row / p.height, y = row - nc * p.height;
    std::memcpy(out + row * p.width, x + (nc * p.H + p.top + y) * p.W + p.left,
                size_t(p.width) * sizeof(float));
  }
}

}  // namespace cpu
}  // namespace deblurcore
