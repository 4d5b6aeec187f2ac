// 2-D real transforms of one plane (H, W) <-> its half spectrum (H, W/2+1), held split (real
// and imaginary arrays, row-major with row stride W/2+1): rows along W with the real plan
// (on the transposed plane, so the H rows form the contiguous batch), then columns along H
// in blocks of columns that stay in cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cpu/fft/fft.h"

namespace deblurcore {
namespace cpu {
namespace fft {

// Columns per block of the column transforms (the block's passes stay in L2).
constexpr int64_t kColumnBlock = 32;

// dst (cols x rows) = src (rows x cols)^T * scale, row strides given.
void transpose(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
               int64_t cols, float scale = 1.f);

// Column transforms along H of a split (H, width) block of a matrix with row stride `stride`,
// in place, kColumnBlock columns at a time.
void transform_columns(const ComplexPlan& plan, float* re, float* im, int64_t stride, int64_t width,
                       bool inverse, float* workspace, Isa isa);
size_t transform_columns_workspace(const ComplexPlan& plan);

class PlaneFft {
 public:
  PlaneFft(int64_t H, int64_t W);
  int64_t H() const { return H_; }
  int64_t W() const { return W_; }
  int64_t Wc() const { return W_ / 2 + 1; }
  const ComplexPlan& columns() const { return *col_; }
  const RealPlan& rows() const { return *row_; }

  size_t workspace_floats() const;
  // x (H, W) -> spectrum re, im (H, Wc).
  void forward(const float* x, float* re, float* im, float* workspace, Isa isa) const;
  // spectrum re, im (H, Wc) -> x (H, W) = scale * unnormalised inverse; re and im are
  // overwritten.
  void inverse(float* re, float* im, float* x, float scale, float* workspace, Isa isa) const;

 private:
  int64_t H_, W_;
  std::shared_ptr<const ComplexPlan> col_;
  std::shared_ptr<const RealPlan> row_;
};

}  // namespace fft
}  // namespace cpu
}  // namespace deblurcore
