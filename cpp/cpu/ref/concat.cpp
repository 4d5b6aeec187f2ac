// Scalar reference kernel of concat (copy_rows): the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void copy_rows(const Context& ctx, const float* src, int64_t src_stride, float* dst,
               int64_t dst_stride, int64_t row_floats, int64_t count) {
  (void)ctx;
  for (int64_t r = 0; r < count; ++r)
    for (int64_t i = 0; i < row_floats; ++i) dst[r * dst_stride + i] = src[r * src_stride + i];
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
