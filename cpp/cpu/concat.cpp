// Fast CPU kernel of concat (copy_rows): a memory-bound loop that the compiler vectorises,
// split across threads in large contiguous chunks (plain portable C++, no ISA variants).
#include <cstring>

#include "backends.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

void copy_rows(const Context& ctx, const float* src, int64_t src_stride, float* dst,
               int64_t dst_stride, int64_t row_floats, int64_t count) {
#pragma omp parallel for num_threads(threads_for(ctx, row_floats* count))
  for (int64_t r = 0; r < count; ++r)
    std::memcpy(dst + r * dst_stride, src + r * src_stride, size_t(row_floats) * sizeof(float));
}

}  // namespace cpu
}  // namespace deblurcore
