// Per-op timing: a Context with a profiler records, for every op it runs, the op's name, its
// argument shapes, its wall time and the memory its allocator holds afterwards.
//
//   auto prof = std::make_shared<deblurcore::OpProfiler>();
//   ctx.set_profiler(prof);            // a model loaded with ctx keeps it
//   ... run ...
//   for (const auto& r : prof->records()) ...
//
// Off by default: a Context without a profiler pays one null-pointer test per op. Times are
// host wall times of the op call; on CUDA that is the launch unless the op synchronises.
// Ops called inside other ops (the streamed blocks call conv2d and fac per group) are
// recorded each on their own, so the times of nested records overlap.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "deblurcore/export.h"

namespace deblurcore {

class DEBLURCORE_API OpProfiler {
 public:
  struct Record {
    std::string op;          // e.g. "conv2d"
    std::string shape;       // argument shapes, e.g. "x(1,64,720,1280) weight(64,64,3,3)"
    double seconds;          // wall time of the call
    size_t live_bytes;       // the allocator's bytes in use after the call (0 if unknown)
    size_t held_bytes;       // live + cached for reuse, after the call
    size_t peak_bytes;       // the allocator's high-water mark of held bytes, after the call
    size_t peak_live_bytes;  // and of live bytes
  };

  void add(Record record);
  std::vector<Record> records() const;
  void clear();

 private:
  mutable std::mutex mutex_;
  std::vector<Record> records_;
};

}  // namespace deblurcore
