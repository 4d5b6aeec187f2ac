// Load-time rearrangements of weight tensors (done once, on the host).
#pragma once

#include <cstring>
#include <utility>
#include <vector>

#include "deblurcore/error.h"
#include "deblurcore/tensor.h"

namespace deblurcore {
namespace blocks {

// t[:, begin:end] of a tensor of 2 or more dims, contiguous, on t's device.
inline Tensor slice_dim1(const Tensor& t, int64_t begin, int64_t end) {
  check(t.dim() >= 2 && 0 <= begin && begin < end && end <= t.size(1), "slice_dim1: bad range [",
        begin, ", ", end, ") of ", t.shape_str());
  const Tensor host = t.to(Device::CPU);
  Shape shape = t.shape();
  const int64_t inner = host.numel() / (shape[0] * shape[1]);
  shape[1] = end - begin;
  Tensor out = Tensor::empty(shape);
  for (int64_t o = 0; o < shape[0]; ++o)
    std::memcpy(out.data() + o * shape[1] * inner, host.data() + (o * t.size(1) + begin) * inner,
                sizeof(float) * shape[1] * inner);
  return out.to(t.device());
}

// The rows (dim 0) [begin, end) of each range, one after the other, contiguous, on t's device.
inline Tensor gather_rows(const Tensor& t, const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  const Tensor host = t.to(Device::CPU);
  const int64_t inner = t.size(0) > 0 ? host.numel() / t.size(0) : 0;
  int64_t rows = 0;
  for (const auto& [b, e] : ranges) {
    check(0 <= b && b < e && e <= t.size(0), "gather_rows: bad range [", b, ", ", e, ") of ",
          t.shape_str());
    rows += e - b;
  }
  Shape shape = t.shape();
  shape[0] = rows;
  Tensor out = Tensor::empty(shape);
  float* dst = out.data();
  for (const auto& [b, e] : ranges) {
    std::memcpy(dst, host.data() + b * inner, sizeof(float) * (e - b) * inner);
    dst += (e - b) * inner;
  }
  return out.to(t.device());
}

}  // namespace blocks
}  // namespace deblurcore
