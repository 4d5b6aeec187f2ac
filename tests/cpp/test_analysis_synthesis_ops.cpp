// The fast CPU kernels of the Fourier and Analysis-Synthesis ops against their scalar
// reference kernels (Context::set_reference_kernels), through the public API. Sizes are small
// (the suite runs under ASan + UBSan) but cover every FFT path: radix 2/3/4/5, the generic
// odd-prime butterfly, Bluestein (prime factors > 31), even and odd real lengths, length 1.
//
// Tolerances: the reference transforms are direct DFTs in double; a float32 FFT has a
// root-mean-square error of O(log n) * 6e-8 relative to the norm of the output, so rfft2 and
// irfft2 compare with ||fast - ref|| <= 2e-6 * ||ref||. cross_correlation outputs lie in
// [-1, 1] (unit-norm channels) and are checked to 5e-6 absolute. standardize and normalize_l1
// accumulate in double in both kernels (1 ulp apart at most); linear sums <= 300 float32
// products (1e-5 * sum |terms|); crop, symmetric pad and rgb_to_grayscale are bit-exact.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "deblurcore/deblurcore.h"
#include "test_util.h"

using namespace deblurcore;

namespace {

struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
  float uniform(float lo, float hi) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(lo + (hi - lo) * (double(state >> 11) / 9007199254740992.0));
  }
};

Tensor rand_tensor(Rng& rng, const Shape& shape, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.uniform(lo, hi);
  return t;
}

Context fast_ctx() { return Context(Device::CPU, 2); }
Context ref_ctx() { return Context(Device::CPU, 2).set_reference_kernels(true); }

double rel_l2(const Tensor& a, const Tensor& b) {
  double err = 0, norm = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    const double d = double(a.data()[i]) - double(b.data()[i]);
    err += d * d;
    norm += double(b.data()[i]) * double(b.data()[i]);
  }
  return norm > 0 ? std::sqrt(err / norm) : std::sqrt(err);
}

double max_abs(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < b.numel(); ++i)
    m = std::max(m, std::fabs(double(a.data()[i]) - double(b.data()[i])));
  return m;
}

bool bitwise(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

}  // namespace

TEST_CASE(rfft2_and_irfft2_fast_match_reference) {
  // (H, W): 1, radix 2/3/4/5, odd primes 7..31, Bluestein 37 and 2*37, odd and even widths.
  const int64_t sizes[][2] = {{1, 1},   {1, 2},  {2, 3},  {4, 5},  {8, 6},  {9, 10},  {7, 14},
                              {13, 11}, {31, 4}, {5, 17}, {37, 3}, {3, 74}, {16, 25}, {6, 62}};
  int seed = 0;
  for (const auto& s : sizes) {
    Rng rng(100 + seed++);
    const Tensor x = rand_tensor(rng, {2, 1, s[0], s[1]});
    const Tensor X = rfft2(fast_ctx(), x);
    const Tensor Xr = rfft2(ref_ctx(), x);
    const std::string what = std::to_string(s[0]) + "x" + std::to_string(s[1]);
    CHECK(X.shape() == (Shape{2, 1, s[0], s[1] / 2 + 1, 2}));
    if (!(rel_l2(X, Xr) <= 2e-6)) testing::report_failure(__FILE__, __LINE__, "rfft2 " + what);
    const Tensor y = irfft2(fast_ctx(), Xr, s[1]);
    const Tensor yr = irfft2(ref_ctx(), Xr, s[1]);
    if (!(rel_l2(y, yr) <= 2e-6)) testing::report_failure(__FILE__, __LINE__, "irfft2 " + what);
    if (!(rel_l2(y, x) <= 2e-6)) testing::report_failure(__FILE__, __LINE__, "round trip " + what);
  }
}

TEST_CASE(cross_correlation_fast_matches_reference) {
  struct Case {
    Shape shape;
    int m;
    bool flips;
  };
  const Case cases[] = {{{1, 3, 8, 10}, 2, true},
                        {{2, 2, 7, 9}, 3, true},
                        {{1, 2, 5, 12}, 3, false},
                        {{1, 4, 6, 6}, 0, true},
                        {{1, 2, 37, 6}, 2, true}};
  int seed = 0;
  for (const Case& c : cases) {
    Rng rng(200 + seed++);
    Tensor x = rand_tensor(rng, c.shape, -2.f, 3.f);
    // A constant channel must come out exactly zero in both kernels.
    for (int64_t i = 0; i < c.shape[2] * c.shape[3]; ++i)
      x.data()[c.shape[2] * c.shape[3] + i] = 4.f;
    const Tensor got = cross_correlation(fast_ctx(), x, c.m, c.flips);
    const Tensor ref = cross_correlation(ref_ctx(), x, c.m, c.flips);
    CHECK(got.shape() == ref.shape());
    if (!(max_abs(got, ref) <= 5e-6))
      testing::report_failure(__FILE__, __LINE__, "cross_correlation " + shape_str(c.shape));
  }
}

TEST_CASE(small_analysis_synthesis_ops_fast_match_reference) {
  Rng rng(300);
  const Tensor x = rand_tensor(rng, {2, 3, 9, 13}, 0.f, 255.f);
  CHECK(bitwise(rgb_to_grayscale(fast_ctx(), x), rgb_to_grayscale(ref_ctx(), x)));
  CHECK(bitwise(crop(fast_ctx(), x, 2, 3, 5, 7), crop(ref_ctx(), x, 2, 3, 5, 7)));
  for (PadMode mode : {PadMode::Symmetric, PadMode::Reflect}) {
    const std::array<int, 4> pads{3, 5, 2, 1};
    CHECK(bitwise(pad(fast_ctx(), x, pads, mode), pad(ref_ctx(), x, pads, mode)));
  }
  const std::array<int, 4> full{13, 13, 9, 9};  // symmetric allows pads up to the size
  CHECK(bitwise(pad(fast_ctx(), x, full, PadMode::Symmetric),
                pad(ref_ctx(), x, full, PadMode::Symmetric)));
  CHECK(max_abs(standardize(fast_ctx(), x), standardize(ref_ctx(), x)) <= 1e-6);
  CHECK(rel_l2(normalize_l1(fast_ctx(), x), normalize_l1(ref_ctx(), x)) <= 1e-7);

  const Tensor v = rand_tensor(rng, {3, 300});
  const Tensor w = rand_tensor(rng, {7, 300});
  const Tensor b = rand_tensor(rng, {7});
  for (Activation act : {Activation::None, Activation::ReLU}) {
    const Tensor got = linear(fast_ctx(), v, w, b, act);
    const Tensor ref = linear(ref_ctx(), v, w, b, act);
    // sum |terms| <= 300 * 1 * 1 + 1 per output
    CHECK(max_abs(got, ref) <= 1e-5 * 301);
  }
  CHECK(max_abs(linear(fast_ctx(), v, w), linear(ref_ctx(), v, w)) <= 1e-5 * 300);
}

TEST_CASE(analysis_synthesis_ops_reject_bad_arguments) {
  const Context ctx = fast_ctx();
  const Tensor x = Tensor::zeros({1, 3, 4, 6});
  CHECK_THROWS(ValueError, irfft2(ctx, rfft2(ctx, x), 9), "irfft2: X has 4 columns");
  CHECK_THROWS(ValueError, cross_correlation(ctx, x, -2), "max_shift must be non-negative");
  CHECK_THROWS(ValueError, crop(ctx, x, 0, 1, 4, 6), "does not lie inside x");
  CHECK_THROWS(ValueError, pad(ctx, x, {7, 0, 0, 0}, PadMode::Symmetric), "symmetric padding");
  CHECK_THROWS(ValueError,
               linear(ctx, Tensor::zeros({1, 4}), Tensor::zeros({2, 4}), {}, Activation::LeakyReLU),
               "activation must be None or ReLU");
  CHECK_THROWS(TypeError, rfft2(ctx, Tensor()), "x is required");
}

int main() { return testing::run_all(); }
