// Scalar reference kernel of concat: the executable spec (see cpp/cpu/README.md). Written
// for clarity, accumulating in double where it sums; parallel only over its outer loops.
#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void concat(const Context& ctx, const ConcatParams& p, const float* const* inputs, float* out) {
  (void)ctx;
  int64_t offset = 0;  // in channels
  for (size_t i = 0; i < p.input_channels.size(); ++i) {
    const int64_t C = p.input_channels[i];
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < p.plane; ++j)
          out[(n * p.channels + offset + c) * p.plane + j] = inputs[i][(n * C + c) * p.plane + j];
    offset += C;
  }
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
