// The FFT engine of the CPU backend (no FFT library): complex plans of any length and real
// transforms, for batches of signals laid out "batch-contiguous": element k of signal b is at
// k * stride + b, so every butterfly runs over `batch` consecutive floats (vectorisable), and
// a transform along the rows of a matrix needs no transpose.
//
// Complex values are split: separate real and imaginary arrays with the same layout.
// Lengths whose prime factors are all <= 31 run as mixed-radix Stockham stages (radix 2, 3,
// 4, 5 butterflies and one generic odd-prime butterfly); any other length runs Bluestein's
// algorithm on a power-of-two plan. Twiddles are computed in double and stored as float.
//
// Plans are immutable and cached per length (get() is thread-safe); scratch memory is the
// caller's (workspace_floats()), so one plan serves any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "cpu/fft/stage.h"

namespace deblurcore {
namespace cpu {
namespace fft {

struct SplitView {
  float* re;
  float* im;
  int64_t stride;  // floats between consecutive elements of one signal (>= batch)
};
struct ConstSplitView {
  const float* re;
  const float* im;
  int64_t stride;
};

class ComplexPlan {
 public:
  static std::shared_ptr<const ComplexPlan> get(int64_t n);
  explicit ComplexPlan(int64_t n);  // use get()
  ~ComplexPlan();

  int64_t size() const { return n_; }
  bool uses_bluestein() const { return bluestein_ != nullptr; }

  // out = sum_j in[j] exp(-+2 pi i j k / n) for each of `batch` signals: forward (-) or
  // inverse (+, unnormalised). `in` and `out` may be the same memory (same stride). `isa`:
  // the instruction set of the butterflies (ctx.isa()).
  void transform(ConstSplitView in, SplitView out, int64_t batch, bool inverse, float* workspace,
                 Isa isa) const;
  size_t workspace_floats(int64_t batch) const;

 private:
  struct Bluestein;
  void run_stages(ConstSplitView in, SplitView out, int64_t batch, bool inverse, float* workspace,
                  Isa isa) const;
  void run_bluestein(ConstSplitView in, SplitView out, int64_t batch, bool inverse,
                     float* workspace, Isa isa) const;

  int64_t n_;
  std::vector<Stage> stages_;
  std::unique_ptr<Bluestein> bluestein_;
};

// Real transforms of length n along the leading axis: the n/2+1 non-redundant outputs. Even n
// uses the half-length complex transform; odd n a full-length complex one.
class RealPlan {
 public:
  static std::shared_ptr<const RealPlan> get(int64_t n);
  explicit RealPlan(int64_t n);  // use get()

  int64_t size() const { return n_; }
  // X[k] = sum_j x[j] exp(-2 pi i j k / n), k <= n/2; x rows `x_stride` floats apart.
  void forward(const float* x, int64_t x_stride, SplitView X, int64_t batch, float* workspace,
               Isa isa) const;
  // x[j] = sum_{k < n} X[k] exp(2 pi i j k / n) (unnormalised) of the Hermitian completion of
  // X[0..n/2]; the imaginary parts of X[0] and (n even) X[n/2] are ignored, as numpy does.
  void inverse(ConstSplitView X, float* x, int64_t x_stride, int64_t batch, float* workspace,
               Isa isa) const;
  size_t workspace_floats(int64_t batch) const;

 private:
  int64_t n_;
  std::shared_ptr<const ComplexPlan> complex_;  // length n/2 (even n) or n (odd n)
  std::vector<float> tw_re_, tw_im_;            // exp(-2 pi i k / n), k <= n/2 (even n)
};

}  // namespace fft
}  // namespace cpu
}  // namespace deblurcore
