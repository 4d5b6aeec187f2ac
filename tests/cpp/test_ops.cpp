// The fast CPU kernels of fac, iac (and their backward), the elementwise and channel ops, and
// the argument checks, against the scalar reference kernels (the executable
// spec), through the public API only: Context::set_reference_kernels(true) runs the reference,
// and each instruction set this CPU supports (set_isa) runs the fast kernels. Shapes are small
// (the suite also runs under AddressSanitizer) but cover strides, padding, dilation, odd
// sizes, bias or none, every epilogue and several batch/channel counts.
//
// Tolerances: see op_test_util.h.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "deblurcore/deblurcore.h"
#include "op_test_util.h"
#include "test_util.h"

using namespace deblurcore;
using namespace deblurcore::op_test;

// ---- fac and fac_backward --------------------------------------------------------------

TEST_CASE(fac_and_fac_backward_fast_match_reference) {
  struct Case {
    int64_t n, c, h, w;
    int k;
  };
  const Case cases[] = {
      {1, 4, 6, 7, 3}, {2, 3, 5, 5, 5}, {1, 17, 4, 9, 5}, {1, 2, 3, 2, 7}, {1, 1, 1, 1, 1}};
  const Context ref = reference_ctx();
  int index = 0;
  for (const Case& c : cases) {
    Rng rng(400 + index);
    const int64_t kk = int64_t(c.k) * c.k;
    const Tensor x = rand_tensor(rng, {c.n, c.c, c.h, c.w});
    const Tensor kernel = rand_tensor(rng, {c.n, c.c * kk, c.h, c.w});
    const Tensor g = rand_tensor(rng, {c.n, c.c, c.h, c.w});
    const Tensor want = fac(ref, x, kernel, c.k);
    const Tensor scale = fac(ref, abs_of(x), abs_of(kernel), c.k);
    const auto want_grad = fac_backward(ref, g, x, kernel, c.k);
    // grad_x sums g * kernel over the taps reading each pixel: fac_backward on |g|, |kernel|
    // gives the sum of |terms|. grad_kernel is one product per element: bit-exact.
    const Tensor grad_x_scale = fac_backward(ref, abs_of(g), x, abs_of(kernel), c.k).first;
    for (const Context& ctx : fast_contexts()) {
      const std::string what = "fac case " + std::to_string(index);
      EXPECT_SUM_CLOSE(fac(ctx, x, kernel, c.k), want, scale, label(what, ctx));
      const auto got = fac_backward(ctx, g, x, kernel, c.k);
      EXPECT_SUM_CLOSE(got.first, want_grad.first, grad_x_scale, label(what + " grad_x", ctx));
      EXPECT_BITWISE(got.second, want_grad.second, label(what + " grad_kernel", ctx));
    }
    ++index;
  }
}

// ---- iac and iac_backward --------------------------------------------------------------

TEST_CASE(iac_and_iac_backward_fast_match_reference) {
  struct Case {
    int64_t n, c, h, w;
    int iterations, k;
  };
  const Case cases[] = {
      {1, 3, 6, 7, 2, 5}, {2, 2, 5, 4, 3, 3}, {1, 9, 4, 5, 1, 7}, {1, 1, 1, 2, 2, 1}};
  const Context ref = reference_ctx();
  int index = 0;
  for (const Case& c : cases) {
    Rng rng(500 + index);
    const Tensor x = rand_tensor(rng, {c.n, c.c, c.h, c.w});
    // Filter taps in [-1/k, 1/k]: each 1-D pass has gain <= 1, so no iteration blows up.
    const float f = 1.0f / float(c.k);
    const Tensor filters =
        rand_tensor(rng, {c.n, int64_t(c.iterations) * c.c * (2 * c.k + 1), c.h, c.w}, -f, f);
    const Tensor g = rand_tensor(rng, {c.n, c.c, c.h, c.w});
    for (bool reuse : {true, false})
      for (bool final_act : {true, false}) {
        const std::string what = "iac case " + std::to_string(index) +
                                 (reuse ? " reuse" : " separate") + (final_act ? " final" : "");
        const Tensor want = iac(ref, x, filters, c.iterations, c.k, reuse, final_act);
        const auto want_grad =
            iac_backward(ref, g, x, filters, c.iterations, c.k, reuse, final_act);
        for (const Context& ctx : fast_contexts()) {
          // The reference chains the iterations in double and rounds once; the fast kernel
          // rounds in float32 at each step, which the (gain <= 1) iterations do not amplify:
          // a few units of roundoff, bound 1e-5 of the largest magnitude.
          const Tensor got = iac(ctx, x, filters, c.iterations, c.k, reuse, final_act);
          CHECK(got.shape() == want.shape());
          if (!(max_rel_diff(got, want) <= 1e-5))
            testing::report_failure(__FILE__, __LINE__,
                                    label(what, ctx) + ": relative difference " +
                                        testing::repr(max_rel_diff(got, want)));
          const auto grad = iac_backward(ctx, g, x, filters, c.iterations, c.k, reuse, final_act);
          CHECK(grad.first.shape() == want_grad.first.shape());
          CHECK(grad.second.shape() == filters.shape());
          for (int i = 0; i < 2; ++i) {
            const Tensor& a = i == 0 ? grad.first : grad.second;
            const Tensor& b = i == 0 ? want_grad.first : want_grad.second;
            if (!(max_rel_diff(a, b) <= 1e-5))
              testing::report_failure(__FILE__, __LINE__,
                                      label(what + (i == 0 ? " grad_x" : " grad_filters"), ctx) +
                                          ": relative difference " +
                                          testing::repr(max_rel_diff(a, b)));
          }
        }
      }
    ++index;
  }
}

// ---- elementwise and channel ops -------------------------------------------------------

// Random values with the special ones mixed in: +-0, +-inf, NaN, huge and exp-overflow values.
Tensor special_values(uint64_t seed, const Shape& shape) {
  Rng rng(seed);
  Tensor t = rand_tensor(rng, shape, -6.f, 6.f);
  const float specials[] = {0.f,   -0.f,   INFINITY, -INFINITY, NAN,
                            1e30f, -1e30f, 88.f,     -88.f,     -104.f};
  for (size_t i = 0; i < sizeof(specials) / sizeof(float) && int64_t(i) < t.numel(); ++i)
    t.data()[i * 7 % t.numel()] = specials[i];
  return t;
}

TEST_CASE(elementwise_fast_match_reference) {
  const Context ref = reference_ctx();
  // 83 elements: a SIMD body and a tail; 1 element: only a tail; 2 x 20011: split across
  // threads, each part with a tail.
  for (const Shape& shape : {Shape{1, 83}, Shape{2, 3, 5, 7}, Shape{1}, Shape{2, 20011}}) {
    const Tensor x = special_values(600 + shape.size(), shape);
    Rng rng(650);
    const Tensor y = rand_tensor(rng, shape, -3.f, 3.f);
    for (const Context& ctx : fast_contexts()) {
      const std::string s = " " + shape_str(shape);
      EXPECT_BITWISE(relu(ctx, x), relu(ref, x), label("relu" + s, ctx));
      for (float slope : {0.01f, 0.1f, 0.2f})
        EXPECT_BITWISE(leaky_relu(ctx, x, slope), leaky_relu(ref, x, slope),
                       label("leaky_relu" + s, ctx));
      EXPECT_BITWISE(clamp(ctx, x, -1.f, 1.f), clamp(ref, x, -1.f, 1.f), label("clamp" + s, ctx));
      EXPECT_BITWISE(clamp(ctx, x, 0.f, 0.f), clamp(ref, x, 0.f, 0.f), label("clamp 0" + s, ctx));
      EXPECT_BITWISE(add(ctx, x, y), add(ref, x, y), label("add" + s, ctx));
      // sigmoid: 1 / (1 + expf(-x)) in float32 both ways, each within 4 units of roundoff of
      // the exact value, so within 8 of each other (plus the subnormal spacing).
      const Tensor got = sigmoid(ctx, x), want = sigmoid(ref, x);
      for (int64_t i = 0; i < x.numel(); ++i) {
        const float a = got.data()[i], b = want.data()[i];
        if (std::isnan(b)) {
          CHECK(std::isnan(a));
        } else if (!(std::fabs(double(a) - b) <= 8 * std::ldexp(1.0, -24) * std::fabs(b) + 1e-44)) {
          testing::report_failure(__FILE__, __LINE__,
                                  label("sigmoid" + s, ctx) + ": " + testing::repr(a) + " vs " +
                                      testing::repr(b) + " at x = " + testing::repr(x.data()[i]));
        }
      }
    }
  }
}

TEST_CASE(softmax_fast_matches_reference) {
  const Context ref = reference_ctx();
  // The last two: several blocks of positions per batch item, the last one partial.
  for (const Shape& shape : {Shape{2, 5, 3, 4}, Shape{1, 1, 2, 3}, Shape{1, 37, 2, 2},
                             Shape{1, 4, 23, 45}, Shape{2, 3, 17, 61}}) {
    Rng rng(700 + shape[1]);
    Tensor x = rand_tensor(rng, shape, -8.f, 8.f);
    x.data()[0] = 60.f;  // a large logit must not overflow (the maximum is subtracted first)
    const Tensor want = softmax(ref, x, 1);
    for (const Context& ctx : fast_contexts()) {
      // expf of (x - max), a sum of C <= 37 positive terms and a division: relative error
      // <= (C + 4) * 2**-24 < 1e-5 of each element, for either kernel.
      const Tensor got = softmax(ctx, x, 1);
      expect_sum_close(got, want, want, 2e-5, label("softmax " + shape_str(shape), ctx), __FILE__,
                       __LINE__);
    }
  }
}

TEST_CASE(weighted_sum_fast_matches_reference) {
  // Products rounded, then summed left to right in float32 by both kernels: bit-exact. HW
  // 5 x 7 (one short block), 45 x 101 (several blocks of positions, the last partial); B = 4
  // (the fused path) and 1, 3, 5; N = 1 and 2.
  const Context ref = reference_ctx();
  Rng rng(750);
  for (const Shape& shape : {Shape{2, 3, 5, 7}, Shape{1, 6, 45, 101}, Shape{2, 2, 45, 101}})
    for (int64_t B : {1, 3, 4, 5}) {
      std::vector<Tensor> inputs;
      for (int64_t b = 0; b < B; ++b) inputs.push_back(rand_tensor(rng, shape, -3.f, 3.f));
      const Tensor w = rand_tensor(rng, {shape[0], B, shape[2], shape[3]}, -1.f, 1.f);
      const Tensor want = weighted_sum(ref, inputs, w);
      for (const Context& ctx : fast_contexts())
        EXPECT_BITWISE(weighted_sum(ctx, inputs, w), want,
                       label("weighted_sum B=" + std::to_string(B) + " " + shape_str(shape), ctx));
    }
}

TEST_CASE(pad_and_concat_fast_match_reference) {
  const Context ref = reference_ctx();
  Rng rng(800);
  const Tensor x = rand_tensor(rng, {2, 3, 5, 6});
  const std::array<int, 4> pad_sets[] = {{0, 0, 0, 0}, {1, 2, 3, 0}, {4, 4, 4, 4}, {0, 5, 0, 1}};
  for (const Context& ctx : fast_contexts()) {
    for (const auto& p : pad_sets) {
      const std::string s = " {" + std::to_string(p[0]) + "," + std::to_string(p[1]) + "," +
                            std::to_string(p[2]) + "," + std::to_string(p[3]) + "}";
      EXPECT_BITWISE(pad(ctx, x, p, PadMode::Zeros), pad(ref, x, p, PadMode::Zeros),
                     label("pad zeros" + s, ctx));
      EXPECT_BITWISE(pad(ctx, x, p, PadMode::Zeros, -2.5f), pad(ref, x, p, PadMode::Zeros, -2.5f),
                     label("pad value" + s, ctx));
      EXPECT_BITWISE(pad(ctx, x, p, PadMode::Replicate), pad(ref, x, p, PadMode::Replicate),
                     label("pad replicate" + s, ctx));
      EXPECT_BITWISE(pad(ctx, x, p, PadMode::Reflect), pad(ref, x, p, PadMode::Reflect),
                     label("pad reflect" + s, ctx));
    }
    const Tensor a = rand_tensor(rng, {2, 1, 5, 6}), b = rand_tensor(rng, {2, 4, 5, 6});
    EXPECT_BITWISE(concat(ctx, {x, a, b}), concat(ref, {x, a, b}), label("concat", ctx));
    EXPECT_BITWISE(concat(ctx, {a}), concat(ref, {a}), label("concat one", ctx));
    // concat is a copy: the pieces appear in order along dimension 1.
    const Tensor c = concat(ctx, {a, b});
    CHECK(c.shape() == (Shape{2, 5, 5, 6}));
    CHECK(std::memcmp(c.data(), a.data(), 30 * sizeof(float)) == 0);
    CHECK(std::memcmp(c.data() + 30, b.data(), 120 * sizeof(float)) == 0);
    // Batch 1 with rows long enough to be cut into pieces across threads (rows of 3 * 50021
    // and 2 * 50021 floats: not multiples of the piece length), and batch 3.
    for (int64_t n : {1, 3}) {
      const Tensor big_a = rand_tensor(rng, {n, 3, 53, 943}),
                   big_b = rand_tensor(rng, {n, 2, 53, 943});
      EXPECT_BITWISE(concat(ctx, {big_a, big_b}), concat(ref, {big_a, big_b}),
                     label("concat long rows n=" + std::to_string(n), ctx));
    }
  }
}

// ---- argument checks reach C++ callers as deblurcore exceptions --------------------------

TEST_CASE(bad_arguments_throw_value_errors) {
  Context ctx;
  Rng rng(900);
  const Tensor x = rand_tensor(rng, {1, 3, 5, 5});
  CHECK_THROWS(ValueError, conv2d(ctx, x, rand_tensor(rng, {4, 2, 3, 3})), "conv2d");
  CHECK_THROWS(ValueError, fac(ctx, x, rand_tensor(rng, {1, 3 * 9, 5, 5}), 4), "fac");
  CHECK_THROWS(ValueError, pad(ctx, x, {5, 0, 0, 0}, PadMode::Reflect), "pad");
  CHECK_THROWS(Error, add(ctx, x, rand_tensor(rng, {1, 3, 5, 4})), "add");
}

int main() { return testing::run_all(); }
