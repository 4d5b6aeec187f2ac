#include "deblurcore/profiler.h"

#include <utility>

namespace deblurcore {

void OpProfiler::add(Record record) {
  std::lock_guard<std::mutex> lock(mutex_);
  records_.push_back(std::move(record));
}

std::vector<OpProfiler::Record> OpProfiler::records() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return records_;
}

void OpProfiler::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  records_.clear();
}

}  // namespace deblurcore
