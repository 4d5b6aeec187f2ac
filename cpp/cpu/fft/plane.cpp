// 2-D plane transforms built from the 1-D plans (see plane.h).
#include "cpu/fft/plane.h"

#include <algorithm>

namespace deblurcore {
namespace cpu {
namespace fft {

void transpose(const float* src, int64_t ss, float* dst, int64_t ds, int64_t rows, int64_t cols,
               float scale) {
  constexpr int64_t T = 32;  // tiles keep both sides' cache lines in use
  for (int64_t r0 = 0; r0 < rows; r0 += T)
    for (int64_t c0 = 0; c0 < cols; c0 += T) {
      const int64_t r1 = std::min(rows, r0 + T), c1 = std::min(cols, c0 + T);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) dst[c * ds + r] = src[r * ss + c] * scale;
    }
}

size_t transform_columns_workspace(const ComplexPlan& plan) {
  return plan.workspace_floats(kColumnBlock);
}

void transform_columns(const ComplexPlan& plan, float* re, float* im, int64_t stride, int64_t width,
                       bool inverse, float* workspace, Isa isa) {
  for (int64_t c0 = 0; c0 < width; c0 += kColumnBlock) {
    const int64_t nb = std::min(kColumnBlock, width - c0);
    plan.transform({re + c0, im + c0, stride}, {re + c0, im + c0, stride}, nb, inverse, workspace,
                   isa);
  }
}

PlaneFft::PlaneFft(int64_t H, int64_t W)
    : H_(H), W_(W), col_(ComplexPlan::get(H)), row_(RealPlan::get(W)) {}

size_t PlaneFft::workspace_floats() const {
  // transposed plane (W x H) + row spectrum (2 x Wc x H) + the larger plan workspace
  const size_t own = size_t(W_ * H_ + 2 * Wc() * H_);
  return own + std::max(row_->workspace_floats(H_), transform_columns_workspace(*col_));
}

void PlaneFft::forward(const float* x, float* re, float* im, float* workspace, Isa isa) const {
  const int64_t H = H_, W = W_, Wc = this->Wc();
  float* xt = workspace;
  float* yr = xt + W * H;
  float* yi = yr + Wc * H;
  float* rest = yi + Wc * H;
  transpose(x, W, xt, H, H, W);
  row_->forward(xt, H, {yr, yi, H}, H, rest, isa);
  transpose(yr, H, re, Wc, Wc, H);
  transpose(yi, H, im, Wc, Wc, H);
  transform_columns(*col_, re, im, Wc, Wc, false, rest, isa);
}

void PlaneFft::inverse(float* re, float* im, float* x, float scale, float* workspace,
                       Isa isa) const {
  const int64_t H = H_, W = W_, Wc = this->Wc();
  float* xt = workspace;
  float* yr = xt + W * H;
  float* yi = yr + Wc * H;
  float* rest = yi + Wc * H;
  transform_columns(*col_, re, im, Wc, Wc, true, rest, isa);
  transpose(re, Wc, yr, H, H, Wc);
  transpose(im, Wc, yi, H, H, Wc);
  row_->inverse({yr, yi, H}, xt, H, H, rest, isa);
  transpose(xt, H, x, W, W, H, scale);
}

}  // namespace fft
}  // namespace cpu
}  // namespace deblurcore
