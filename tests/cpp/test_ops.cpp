// The fast CPU kernels of every op against the scalar reference kernels (the executable
// spec), through the public API only: Context::set_reference_kernels(true) runs the reference,
// and each instruction set this CPU supports (set_isa) runs the fast kernels. Shapes are small
// (the suite also runs under AddressSanitizer) but cover strides, padding, dilation, odd
// sizes, bias or none, every epilogue and several batch/channel counts.
//
// Tolerances. A float32 sum of products computed in another order (or with FMA) differs from
// the reference by at most a few units of roundoff of the sum of the absolute values of its
// terms: each comparison of a sum uses |fast - ref| <= 1e-5 * S per element, where S is the
// same op on |inputs| run by the reference kernel (for a convolution, conv(|x|, |w|) + |b|,
// plus |residual|; activations only shrink it). The sums here have at most a few hundred
// terms, so the worst-case bound n * 2**-24 * S stays below 1e-5 * S. Elementwise ops, pad
// and concat round once (or copy) and must be bit-exact.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "deblurcore/deblurcore.h"
#include "test_util.h"

using namespace deblurcore;

namespace {

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

Tensor rand_tensor(Rng& rng, const Shape& shape, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.uniform(lo, hi);
  return t;
}

Tensor abs_of(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor a = t.clone();
  for (int64_t i = 0; i < a.numel(); ++i) a.data()[i] = std::fabs(a.data()[i]);
  return a;
}

Tensor add_abs(const Tensor& s, const Tensor& r) {  // s + |r|, or s when r is undefined
  if (!r.defined()) return s;
  Tensor out = s.clone();
  for (int64_t i = 0; i < out.numel(); ++i) out.data()[i] += std::fabs(r.data()[i]);
  return out;
}

Context reference_ctx() {
  Context ctx(Device::CPU, 2);
  ctx.set_reference_kernels(true);
  return ctx;
}

// One context per instruction set this CPU has (the fast kernels dispatch on it).
std::vector<Context> fast_contexts() {
  std::vector<Context> out;
  for (Isa isa : {Isa::Generic, Isa::AVX2, Isa::AVX512})
    if (static_cast<int>(isa) <= static_cast<int>(detect_isa())) {
      Context ctx(Device::CPU, 2);
      ctx.set_isa(isa);
      out.push_back(ctx);
    }
  return out;
}

std::string label(const std::string& what, const Context& ctx) {
  return what + " [" + isa_name(ctx.isa()) + "]";
}

void expect_sum_close(const Tensor& ours, const Tensor& ref, const Tensor& scale, double rtol,
                      const std::string& what, const char* file, int line) {
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

void expect_bitwise(const Tensor& ours, const Tensor& ref, const std::string& what,
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
double max_rel_diff(const Tensor& a, const Tensor& b) {
  double err = 0, mag = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    err = std::max(err, std::fabs(double(a.data()[i]) - double(b.data()[i])));
    mag = std::max(mag, std::fabs(double(b.data()[i])));
  }
  return mag > 0 ? err / mag : err;
}

}  // namespace

#define EXPECT_SUM_CLOSE(ours, ref, scale, what) \
  expect_sum_close(ours, ref, scale, kSumRtol, what, __FILE__, __LINE__)
#define EXPECT_BITWISE(ours, ref, what) expect_bitwise(ours, ref, what, __FILE__, __LINE__)

// ---- conv2d ----------------------------------------------------------------------------

struct ConvCase {
  int64_t n, cin, h, w, cout;
  int kh, kw;
  Pair stride, padding, dilation;
  bool bias;
};

const ConvCase kConvCases[] = {
    {1, 3, 9, 11, 5, 3, 3, 1, 1, 1, true},           // the common 3x3 "same" conv
    {2, 4, 8, 7, 6, 3, 3, 2, 1, 1, true},            // stride 2, odd width, batch 2
    {1, 5, 6, 9, 4, 1, 1, 1, 0, 1, false},           // 1x1, no bias
    {1, 3, 10, 10, 8, 5, 5, 1, 2, 1, true},          // 5x5
    {1, 4, 9, 8, 3, 3, 3, 1, 2, 2, true},            // dilation 2
    {1, 2, 7, 9, 5, 3, 1, {2, 1}, {1, 0}, 1, true},  // non-square kernel and stride
    {1, 17, 5, 6, 33, 3, 3, 1, 1, 1, true},          // channel counts off the SIMD width
    {1, 3, 4, 4, 2, 3, 3, 1, 0, 1, true},            // no padding: 2x2 output
};

Epilogue epilogue_variant(int which, const Tensor& residual) {
  Epilogue e;
  switch (which) {
    case 0: break;
    case 1: e = Epilogue::relu(); break;
    case 2: e = Epilogue::leaky_relu(0.1f); break;
    case 3:
      e = Epilogue::leaky_relu(0.2f);
      e.residual = residual;
      break;
    case 4:
      e = Epilogue::leaky_relu(0.1f);
      e.residual = residual;
      e.residual_position = Epilogue::Residual::BeforeActivation;
      break;
    case 5: e.residual = residual; break;
  }
  return e;
}

TEST_CASE(conv2d_fast_matches_reference) {
  const Context ref = reference_ctx();
  int index = 0;
  for (const ConvCase& c : kConvCases) {
    Rng rng(100 + index);
    const Tensor x = rand_tensor(rng, {c.n, c.cin, c.h, c.w});
    const Tensor wt = rand_tensor(rng, {c.cout, c.cin, c.kh, c.kw});
    const Tensor b = c.bias ? rand_tensor(rng, {c.cout}) : Tensor();
    const Tensor plain = conv2d(ref, x, wt, b, c.stride, c.padding, c.dilation);
    const Tensor residual = rand_tensor(rng, plain.shape());
    const Tensor abs_sum =
        conv2d(ref, abs_of(x), abs_of(wt), abs_of(b), c.stride, c.padding, c.dilation);
    for (int e = 0; e < 6; ++e) {
      const Epilogue epi = epilogue_variant(e, residual);
      const Tensor want = conv2d(ref, x, wt, b, c.stride, c.padding, c.dilation, epi);
      const Tensor scale = add_abs(abs_sum, epi.residual);
      for (const Context& ctx : fast_contexts()) {
        const Tensor got = conv2d(ctx, x, wt, b, c.stride, c.padding, c.dilation, epi);
        EXPECT_SUM_CLOSE(
            got, want, scale,
            label("conv2d case " + std::to_string(index) + " epilogue " + std::to_string(e), ctx));
      }
    }
    ++index;
  }
}

TEST_CASE(conv2d_thread_count_does_not_change_the_result) {
  Rng rng(7);
  const Tensor x = rand_tensor(rng, {2, 6, 9, 10});
  const Tensor wt = rand_tensor(rng, {7, 6, 3, 3});
  const Tensor b = rand_tensor(rng, {7});
  Context one(Device::CPU, 1), three(Device::CPU, 3);
  EXPECT_BITWISE(conv2d(three, x, wt, b, 1, 1), conv2d(one, x, wt, b, 1, 1), "conv2d threads");
}

// Winograd F(4x4, 3x3), forced, against the reference. Its rounding error relative to the
// direct convolution's sum of |terms| is larger (the transforms combine up to 36 products of
// transformed values; see tests/test_conv_winograd.py for the rigorous bound, checked
// there): at most 3.8e-6 * S measured on random data of these shapes, so 2e-5 * S here.
// Weights prepared by conv2d_prepare give bit-identical results to the plain weight, which
// the CPU path transforms itself.
TEST_CASE(conv2d_winograd_matches_reference_and_prepared_weights) {
  const Context ref = reference_ctx();
  struct Case {
    int64_t n, cin, h, w, cout;
    Padding2d padding;
  };
  const Case cases[] = {
      {1, 3, 9, 11, 5, Padding2d::symmetric(1)},   // partial tiles both ways
      {2, 17, 5, 6, 33, Padding2d::symmetric(1)},  // batch, Cout past a panel
      {1, 16, 13, 70, 24, {0, 1, 0, 1}},           // per-side padding, several tile blocks
      {1, 20, 8, 8, 16, Padding2d::symmetric(2)},  // padding beyond the kernel radius
      {1, 4, 3, 3, 2, Padding2d::symmetric(0)},    // one output pixel
  };
  int index = 0;
  for (const Case& c : cases) {
    Rng rng(300 + index);
    const Tensor x = rand_tensor(rng, {c.n, c.cin, c.h, c.w});
    const Tensor wt = rand_tensor(rng, {c.cout, c.cin, 3, 3});
    const Tensor b = rand_tensor(rng, {c.cout});
    const Tensor plain = conv2d(ref, x, wt, b, 1, c.padding);
    const Tensor residual = rand_tensor(rng, plain.shape());
    const Tensor abs_sum = conv2d(ref, abs_of(x), abs_of(wt), abs_of(b), 1, c.padding);
    for (int e = 0; e < 6; ++e) {
      const Epilogue epi = epilogue_variant(e, residual);
      const Tensor want = conv2d(ref, x, wt, b, 1, c.padding, 1, epi);
      const Tensor scale = add_abs(abs_sum, epi.residual);
      for (Context ctx : fast_contexts()) {
        ctx.set_conv_algorithm(ConvAlgorithm::Winograd);
        const std::string what =
            "winograd case " + std::to_string(index) + " epilogue " + std::to_string(e);
        const Tensor got = conv2d(ctx, x, wt, b, 1, c.padding, 1, epi);
        expect_sum_close(got, want, scale, 2e-5, label(what, ctx), __FILE__, __LINE__);
        const PreparedConv2dWeight prepared = conv2d_prepare(ctx, wt);
        EXPECT_BITWISE(conv2d(ctx, x, prepared, b, 1, c.padding, 1, epi), got,
                       label(what + " prepared", ctx));
      }
    }
    ++index;
  }
}

TEST_CASE(conv2d_prepared_weight_of_another_shape_is_refused) {
  Rng rng(9);
  const Context ctx(Device::CPU, 1);
  const PreparedConv2dWeight prepared = conv2d_prepare(ctx, rand_tensor(rng, {32, 16, 3, 3}));
  CHECK(prepared.winograd.defined());
  PreparedConv2dWeight wrong = prepared;
  wrong.weight = rand_tensor(rng, {32, 24, 3, 3});
  CHECK_THROWS(ValueError, conv2d(ctx, rand_tensor(rng, {1, 24, 8, 8}), wrong, Tensor(), 1, 1),
               "prepared weight");
}

// ---- conv_transpose2d ------------------------------------------------------------------

struct ConvTCase {
  int64_t n, cin, h, w, cout;
  int k;
  Pair stride, padding, output_padding, dilation;
  bool bias;
};

const ConvTCase kConvTCases[] = {
    {1, 4, 5, 6, 3, 4, 2, 1, 0, 1, true},            // STFAN's upconv: 4x4, stride 2, padding 1
    {2, 3, 4, 4, 5, 3, 2, 1, 1, 1, true},            // output_padding 1
    {1, 2, 5, 5, 4, 3, 1, 0, 0, 2, false},           // dilation 2, no bias
    {1, 5, 3, 7, 2, 3, {2, 1}, {0, 1}, 0, 1, true},  // per-axis stride and padding
    {1, 9, 3, 3, 17, 4, 2, 1, 0, 1, true},           // channel counts off the SIMD width
};

TEST_CASE(conv_transpose2d_fast_matches_reference) {
  const Context ref = reference_ctx();
  int index = 0;
  for (const ConvTCase& c : kConvTCases) {
    Rng rng(200 + index);
    const Tensor x = rand_tensor(rng, {c.n, c.cin, c.h, c.w});
    const Tensor wt = rand_tensor(rng, {c.cin, c.cout, c.k, c.k});
    const Tensor b = c.bias ? rand_tensor(rng, {c.cout}) : Tensor();
    const Tensor plain =
        conv_transpose2d(ref, x, wt, b, c.stride, c.padding, c.output_padding, c.dilation);
    const Tensor residual = rand_tensor(rng, plain.shape());
    const Tensor abs_sum = conv_transpose2d(ref, abs_of(x), abs_of(wt), abs_of(b), c.stride,
                                            c.padding, c.output_padding, c.dilation);
    for (int e = 0; e < 6; ++e) {
      const Epilogue epi = epilogue_variant(e, residual);
      const Tensor want =
          conv_transpose2d(ref, x, wt, b, c.stride, c.padding, c.output_padding, c.dilation, epi);
      const Tensor scale = add_abs(abs_sum, epi.residual);
      for (const Context& ctx : fast_contexts()) {
        const Tensor got =
            conv_transpose2d(ctx, x, wt, b, c.stride, c.padding, c.output_padding, c.dilation, epi);
        EXPECT_SUM_CLOSE(got, want, scale,
                         label("conv_transpose2d case " + std::to_string(index) + " epilogue " +
                                   std::to_string(e),
                               ctx));
      }
    }
    ++index;
  }
}

// ---- per-sample affine epilogue and per-side padding ------------------------------------

// |conv| scaled by |scale| plus |shift| and |residual|: the magnitude the epilogue's result
// error is relative to (the affine map multiplies the sum's error by |scale|).
Tensor affine_magnitude(const Tensor& abs_sum, const Epilogue& e) {
  Tensor out = abs_sum.clone();
  const int64_t N = out.size(0), C = out.size(1), plane = out.size(2) * out.size(3);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < plane; ++i) {
        float& v = out.data()[(n * C + c) * plane + i];
        if (e.scale.defined()) v *= std::fabs(e.scale.data()[n * C + c]);
        if (e.shift.defined()) v += std::fabs(e.shift.data()[n * C + c]);
      }
  return add_abs(out, e.residual);
}

TEST_CASE(conv_affine_epilogue_and_per_side_padding_fast_match_reference) {
  const Context ref = reference_ctx();
  const Padding2d pads[] = {{0, 1, 0, 1}, {2, 0, 1, 3}, {1, 2, 2, 1}};
  int index = 0;
  for (const Padding2d& pad : pads) {
    Rng rng(300 + index);
    const int64_t n = 2, cin = 5, cout = 7;
    const Tensor x = rand_tensor(rng, {n, cin, 8, 9});
    const Tensor wc = rand_tensor(rng, {cout, cin, 3, 3});
    const Tensor wt = rand_tensor(rng, {cin, cout, 5, 5});
    const Tensor b = rand_tensor(rng, {cout});
    Epilogue e = Epilogue::leaky_relu(0.1f);
    e.scale = rand_tensor(rng, {n, cout}, -2.f, 2.f);
    e.shift = rand_tensor(rng, {n, cout});
    for (int transposed = 0; transposed < 2; ++transposed) {
      const auto run = [&](const Context& ctx, const Tensor& xx, const Tensor& ww, const Tensor& bb,
                           const Epilogue& epi) {
        return transposed ? conv_transpose2d(ctx, xx, ww, bb, 2, pad, 1, epi)
                          : conv2d(ctx, xx, ww, bb, 2, pad, 1, epi);
      };
      const Tensor& w = transposed ? wt : wc;
      const Tensor abs_sum = run(ref, abs_of(x), abs_of(w), abs_of(b), Epilogue());
      for (int variant = 0; variant < 3; ++variant) {
        Epilogue epi = e;
        if (variant == 1) epi.shift = Tensor();
        if (variant == 2) {
          epi.scale = Tensor();
          epi.residual = rand_tensor(rng, abs_sum.shape());
          epi.residual_position = Epilogue::Residual::BeforeActivation;
        }
        const Tensor want = run(ref, x, w, b, epi);
        const Tensor mag = affine_magnitude(abs_sum, epi);
        for (const Context& ctx : fast_contexts())
          EXPECT_SUM_CLOSE(
              run(ctx, x, w, b, epi), want, mag,
              label(std::string(transposed ? "conv_transpose2d" : "conv2d") + " pads " +
                        std::to_string(index) + " variant " + std::to_string(variant),
                    ctx));
      }
    }
    ++index;
  }
}

// ---- deform_conv2d ---------------------------------------------------------------------

TEST_CASE(deform_conv2d_fast_matches_reference) {
  struct Case {
    int64_t n, cin, h, w, cout, groups;
    int k;
    Pair stride, padding, dilation;
    bool bias, mask;
  };
  const Case cases[] = {
      {1, 4, 7, 8, 3, 1, 3, 1, 1, 1, true, true},
      {2, 4, 6, 7, 5, 2, 3, 1, 1, 1, false, true},  // two offset groups, batch 2
      {1, 3, 9, 8, 4, 1, 3, 2, 1, 1, true, false},  // stride 2, no mask
      {1, 2, 8, 8, 3, 1, 3, 1, 2, 2, true, true},   // dilation 2
      {1, 6, 5, 6, 2, 3, 1, 1, 0, 1, true, true},   // 1x1 kernel, three groups
  };
  const Context ref = reference_ctx();
  int index = 0;
  for (const Case& c : cases) {
    Rng rng(300 + index);
    const Tensor x = rand_tensor(rng, {c.n, c.cin, c.h, c.w});
    const Tensor wt = rand_tensor(rng, {c.cout, c.cin, c.k, c.k});
    const Tensor b = c.bias ? rand_tensor(rng, {c.cout}) : Tensor();
    const int64_t ho = (c.h + 2 * c.padding.h - c.dilation.h * (c.k - 1) - 1) / c.stride.h + 1;
    const int64_t wo = (c.w + 2 * c.padding.w - c.dilation.w * (c.k - 1) - 1) / c.stride.w + 1;
    const int64_t taps = c.groups * c.k * c.k;
    // Offsets up to 2.5 pixels: samples fall between pixels and some outside the image.
    const Tensor offset = rand_tensor(rng, {c.n, 2 * taps, ho, wo}, -2.5f, 2.5f);
    const Tensor mask = c.mask ? rand_tensor(rng, {c.n, taps, ho, wo}, 0.f, 1.f) : Tensor();
    const Tensor residual = rand_tensor(rng, {c.n, c.cout, ho, wo});
    // Bilinear interpolation of |x| bounds |interpolated x|, so this bounds the sum of |terms|.
    const Tensor abs_sum = deform_conv2d(ref, abs_of(x), offset, abs_of(wt), abs_of(b), c.stride,
                                         c.padding, c.dilation, abs_of(mask));
    for (int e : {0, 2, 4}) {
      const Epilogue epi = epilogue_variant(e, residual);
      const Tensor want =
          deform_conv2d(ref, x, offset, wt, b, c.stride, c.padding, c.dilation, mask, epi);
      const Tensor scale = add_abs(abs_sum, epi.residual);
      for (const Context& ctx : fast_contexts()) {
        const Tensor got =
            deform_conv2d(ctx, x, offset, wt, b, c.stride, c.padding, c.dilation, mask, epi);
        EXPECT_SUM_CLOSE(
            got, want, scale,
            label("deform_conv2d case " + std::to_string(index) + " epilogue " + std::to_string(e),
                  ctx));
      }
    }
    ++index;
  }
}

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
  // 83 elements: a SIMD body and a tail; 1 element: only a tail.
  for (const Shape& shape : {Shape{1, 83}, Shape{2, 3, 5, 7}, Shape{1}}) {
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
  for (const Shape& shape : {Shape{2, 5, 3, 4}, Shape{1, 1, 2, 3}, Shape{1, 37, 2, 2}}) {
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
