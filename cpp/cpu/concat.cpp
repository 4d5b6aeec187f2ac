// Fast CPU kernel of concat (copy_rows): memcpy in large contiguous chunks split across
// threads (plain portable C++, no ISA variants).
#include <cstring>

#include "backends.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

void copy_rows(const Context& ctx, const float* src, int64_t src_stride, float* dst,
               int64_t dst_stride, int64_t row_floats, int64_t count) {
  // A batch-1 concat is one row per input (up to hundreds of MB): splitting only over rows
  // would leave it to one thread, so each row is cut into pieces of at least 64 Ki floats
  // (long enough runs for the prefetcher) and the (row, piece) items are shared out.
  const int threads = threads_for(ctx, row_floats * count);
  constexpr int64_t kMinPiece = int64_t(1) << 16;
  int64_t pieces = 1;
  if (threads > 1 && count < 4 * threads) {
    pieces = (4 * threads + count - 1) / count;
    const int64_t most = row_floats / kMinPiece;
    if (pieces > most) pieces = most < 1 ? 1 : most;
  }
  const int64_t piece = (row_floats + pieces - 1) / pieces;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t item = 0; item < count * pieces; ++item) {
    const int64_t r = item / pieces, begin = (item % pieces) * piece;
    const int64_t end = begin + piece < row_floats ? begin + piece : row_floats;
    if (begin < end)
      std::memcpy(dst + r * dst_stride + begin, src + r * src_stride + begin,
                  size_t(end - begin) * sizeof(float));
  }
}

}  // namespace cpu
}  // namespace deblurcore
