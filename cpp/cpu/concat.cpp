// Fast CPU kernel of concat: memcpy in large contiguous pieces split across threads in one
// parallel region for all inputs (plain portable C++, no ISA variants).
//
// Each batch item of an input is one contiguous row (up to hundreds of MB for batch 1), so
// rows are cut into pieces of about equal length, at least 64 Ki floats (long runs for the
// prefetcher), at least 4 per thread when the data allows. One region for the whole op rather
// than one per input: waking the thread team is the fixed cost of a parallel region (a few
// microseconds on an idle machine, but milliseconds when the cores are busy with other work
// and a woken thread waits for a time slice).
#include <cstring>
#include <vector>

#include "backends.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {

namespace {

struct Piece {
  const float* src;
  float* dst;
  int64_t len;
};

}  // namespace

void concat(const Context& ctx, const ConcatParams& p, const float* const* inputs, float* out) {
  const int64_t total = p.N * p.channels * p.plane;
  const int threads = threads_for(ctx, total);
  constexpr int64_t kMinPiece = int64_t(1) << 16;
  int64_t piece = total;
  if (threads > 1) {
    piece = (total + 4 * threads - 1) / (4 * threads);
    if (piece < kMinPiece) piece = kMinPiece;
  }
  std::vector<Piece> pieces;
  int64_t offset = 0;  // in channels
  for (size_t i = 0; i < p.input_channels.size(); ++i) {
    const int64_t row = p.input_channels[i] * p.plane;
    for (int64_t n = 0; n < p.N; ++n) {
      const float* src = inputs[i] + n * row;
      float* dst = out + (n * p.channels + offset) * p.plane;
      // Equal cuts of the row, none longer than `piece`.
      const int64_t cuts = row > piece ? (row + piece - 1) / piece : 1;
      const int64_t len = (row + cuts - 1) / cuts;
      for (int64_t begin = 0; begin < row; begin += len)
        pieces.push_back({src + begin, dst + begin, begin + len < row ? len : row - begin});
    }
    offset += p.input_channels[i];
  }
  const int64_t count = static_cast<int64_t>(pieces.size());
#pragma omp parallel for num_threads(count > 1 ? threads : 1) schedule(static)
  for (int64_t k = 0; k < count; ++k)
    std::memcpy(pieces[k].dst, pieces[k].src, size_t(pieces[k].len) * sizeof(float));
}

}  // namespace cpu
}  // namespace deblurcore
