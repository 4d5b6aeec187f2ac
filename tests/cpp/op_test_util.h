// What the fast-vs-reference op tests (test_ops*.cpp) share: a deterministic generator, the
// reference and per-ISA contexts, and the two comparisons.
//
// Tolerances. A float32 sum of products computed in another order (or with FMA) differs from
// the reference by at most a few units of roundoff of the sum of the absolute values of its
// terms: each comparison of a sum uses |fast - ref| <= 1e-5 * S per element, where S is the
// same op on |inputs| run by the reference kernel (for a convolution, conv(|x|, |w|) + |b|,
// plus |residual|; activations only shrink it). The sums here have at most a few hundred
// terms, so the worst-case bound n * 2**-24 * S stays below 1e-5 * S. Elementwise ops, pad
// and concat round once (or copy) and must be bit-exact.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "deblurcore/deblurcore.h"
#include "test_util.h"

namespace deblurcore::op_test {

constexpr double kSumRtol = 1e-5;

// A small deterministic generator (64-bit LCG, top bits), so failures reproduce.
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
  float uniform(float lo, float hi) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(state >> 11) / 9007199254740992.0;  // [0, 1)
    return static_cast<float>(lo + (hi - lo) * u);
  }
};

inline Tensor rand_tensor(Rng& rng, const Shape& shape, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.uniform(lo, hi);
  return t;
}

inline Tensor abs_of(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor a = t.clone();
  for (int64_t i = 0; i < a.numel(); ++i) a.data()[i] = std::fabs(a.data()[i]);
  return a;
}

inline Tensor add_abs(const Tensor& s, const Tensor& r) {  // s + |r|, or s when r is undefined
  if (!r.defined()) return s;
  Tensor out = s.clone();
  for (int64_t i = 0; i < out.numel(); ++i) out.data()[i] += std::fabs(r.data()[i]);
  return out;
}

inline Context reference_ctx() {
  Context ctx(Device::CPU, 2);
  ctx.set_reference_kernels(true);
  return ctx;
}

// One context per instruction set this CPU has (the fast kernels dispatch on it).
inline std::vector<Context> fast_contexts() {
  std::vector<Context> out;
  for (Isa isa : {Isa::Generic, Isa::AVX2, Isa::AVX512})
    if (static_cast<int>(isa) <= static_cast<int>(detect_isa())) {
      Context ctx(Device::CPU, 2);
      ctx.set_isa(isa);
      out.push_back(ctx);
    }
  return out;
}

inline std::string label(const std::string& what, const Context& ctx) {
  return what + " [" + isa_name(ctx.isa()) + "]";
}

inline void expect_sum_close(const Tensor& ours, const Tensor& ref, const Tensor& scale,
                             double rtol, const std::string& what, const char* file, int line) {
  if (ours.shape() != ref.shape()) {
    testing::report_failure(file, line,
                            what + ": shape " + ours.shape_str() + " != " + ref.shape_str());
    return;
  }
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double err = std::fabs(double(ours.data()[i]) - double(ref.data()[i]));
    const double tol = rtol * double(scale.data()[i]) + 1e-30;
    if (!(err <= tol)) {  // NaN fails too
      testing::report_failure(file, line,
                              what + ": element " + std::to_string(i) + ": " +
                                  testing::repr(ours.data()[i]) + " vs reference " +
                                  testing::repr(ref.data()[i]) + ", tolerance " +
                                  testing::repr(tol));
      return;
    }
  }
}

inline void expect_bitwise(const Tensor& ours, const Tensor& ref, const std::string& what,
                           const char* file, int line) {
  if (ours.shape() != ref.shape()) {
    testing::report_failure(file, line,
                            what + ": shape " + ours.shape_str() + " != " + ref.shape_str());
    return;
  }
  if (ours.numel() > 0 && std::memcmp(ours.data(), ref.data(), ours.nbytes()) != 0)
    testing::report_failure(file, line, what + ": not bit-identical to the reference");
}

// Largest |a - b| relative to the largest |b|.
inline double max_rel_diff(const Tensor& a, const Tensor& b) {
  double err = 0, mag = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    err = std::max(err, std::fabs(double(a.data()[i]) - double(b.data()[i])));
    mag = std::max(mag, std::fabs(double(b.data()[i])));
  }
  return mag > 0 ? err / mag : err;
}

}  // namespace deblurcore::op_test

#define EXPECT_SUM_CLOSE(ours, ref, scale, what)                                               \
  deblurcore::op_test::expect_sum_close(ours, ref, scale, deblurcore::op_test::kSumRtol, what, \
                                        __FILE__, __LINE__)
#define EXPECT_BITWISE(ours, ref, what) \
  deblurcore::op_test::expect_bitwise(ours, ref, what, __FILE__, __LINE__)
