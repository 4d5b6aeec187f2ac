// The fused blocks below the models (cpp/blocks) against the unfused op compositions they
// replace, and the mmcv_flat_reinterpret op (fast kernel against the reference kernel and
// against its definition). The blocks use only the public op API, so this test compiles
// their sources directly.
//
// Tolerances. A block computes the same sums of products as its composition, split into
// partial sums (per input part, per output group) and added in another order: each result
// is compared with |block - composition| <= 1e-5 * S per element, where S is the composition
// run on |inputs| and |weights| (the sum of the absolute values of the terms); the sums here
// have at most a few hundred terms, so the worst-case reordering error n * 2**-24 * S stays
// below that. Outputs that only select or copy values must be bit-identical.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "blocks/adaptive_conv_streamed.h"
#include "blocks/concat_conv.h"
#include "blocks/stacked_conv.h"
#include "blocks/streamed_filters.h"
#include "deblurcore/deblurcore.h"
#include "test_util.h"

using namespace deblurcore;

namespace {

constexpr double kSumRtol = 1e-5;

struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
  float uniform(float lo, float hi) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(state >> 11) / 9007199254740992.0;
    return static_cast<float>(lo + (hi - lo) * u);
  }
};

Tensor rand_tensor(Rng& rng, const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.uniform(-1.f, 1.f);
  return t;
}

Tensor abs_of(const Tensor& t) {
  Tensor a = t.clone();
  for (int64_t i = 0; i < a.numel(); ++i) a.data()[i] = std::fabs(a.data()[i]);
  return a;
}

nn::Conv2d make_conv(Rng& rng, int64_t cin, int64_t cout, int k, int stride, int padding,
                     int dilation, Activation act = Activation::None) {
  nn::Conv2d c;
  c.weight = rand_tensor(rng, {cout, cin, k, k});
  c.bias = rand_tensor(rng, {cout});
  c.stride = stride;
  c.padding = padding;
  c.dilation = dilation;
  if (act == Activation::LeakyReLU) c.activation = Epilogue::leaky_relu(0.1f);
  return c;
}

// The conv with |weight| and |bias| and no activation: the scale S of its sums.
nn::Conv2d abs_conv(const nn::Conv2d& c) {
  nn::Conv2d a = c;
  a.weight = abs_of(c.weight);
  a.bias = abs_of(c.bias);
  a.activation = Epilogue{};
  return a;
}

void expect_close(const Tensor& ours, const Tensor& ref, const Tensor& scale,
                  const std::string& what) {
  if (ours.shape() != ref.shape()) {
    testing::report_failure(__FILE__, __LINE__,
                            what + ": shape " + ours.shape_str() + " != " + ref.shape_str());
    return;
  }
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double err = std::fabs(double(ours.data()[i]) - double(ref.data()[i]));
    const double tol = kSumRtol * double(scale.data()[i]) + 1e-30;
    if (!(err <= tol)) {
      testing::report_failure(__FILE__, __LINE__,
                              what + ": element " + std::to_string(i) + ": " +
                                  testing::repr(ours.data()[i]) + " vs " +
                                  testing::repr(ref.data()[i]));
      return;
    }
  }
}

void expect_bitwise(const Tensor& ours, const Tensor& ref, const std::string& what) {
  if (ours.shape() != ref.shape() ||
      (ref.numel() > 0 && std::memcmp(ours.data(), ref.data(), ref.nbytes()) != 0))
    testing::report_failure(__FILE__, __LINE__, what + ": not bit-identical");
}

}  // namespace

TEST_CASE(concat_conv_equals_conv_of_the_concat) {
  Rng rng(1);
  Context ctx(Device::CPU, 2);
  struct Case {
    std::vector<int64_t> parts;
    int k, stride, padding, dilation;
    Activation act;
  };
  for (const Case& c :
       {Case{{5, 3, 8}, 3, 1, 1, 1, Activation::LeakyReLU}, Case{{4}, 3, 2, 1, 1, Activation::None},
        Case{{6, 6, 6, 6, 6, 6}, 3, 1, 2, 2, Activation::LeakyReLU},
        Case{{16, 16, 16}, 1, 1, 0, 1, Activation::LeakyReLU}}) {
    int64_t cin = 0;
    std::vector<Tensor> xs;
    for (int64_t p : c.parts) {
      cin += p;
      xs.push_back(rand_tensor(rng, {1, p, 9, 11}));
    }
    const nn::Conv2d conv = make_conv(rng, cin, 7, c.k, c.stride, c.padding, c.dilation, c.act);
    const blocks::ConcatConv2d block(conv, c.parts);
    const Tensor cat = concat(ctx, xs, 1);
    const Tensor ref = conv(ctx, cat);
    const Tensor scale = abs_conv(conv)(ctx, abs_of(cat));
    expect_close(block(ctx, xs), ref, scale,
                 "ConcatConv2d, " + std::to_string(xs.size()) + " parts");
    // The running sum, one part at a time, gives the same.
    auto sum = block.running_sum(ctx);
    for (const Tensor& x : xs) sum.add(x);
    expect_bitwise(sum.result(), block(ctx, xs), "RunningSum vs ConcatConv2d");
  }
}

TEST_CASE(concat_conv_refuses_bad_use) {
  Rng rng(2);
  Context ctx(Device::CPU, 1);
  const nn::Conv2d conv = make_conv(rng, 6, 2, 3, 1, 1, 1);
  CHECK_THROWS(ValueError, blocks::ConcatConv2d(conv, {2, 3}), "sum to 5");
  const blocks::ConcatConv2d block(conv, {2, 4});
  const Tensor a = rand_tensor(rng, {1, 2, 5, 5}), b = rand_tensor(rng, {1, 4, 5, 5});
  CHECK_THROWS(ValueError, block(ctx, {a}), "expected 2 inputs");
  CHECK_THROWS(ValueError, block(ctx, {b, a}), "input 0 must be (N, 2, H, W)");
  auto sum = block.running_sum(ctx);
  sum.add(a);
  CHECK_THROWS(ValueError, sum.result(), "1 of 2 inputs");
  sum.add(b);
  CHECK_THROWS(ValueError, sum.add(b), "already added");
}

TEST_CASE(streamed_conv1x1_groups_are_rows_of_the_whole_conv) {
  Rng rng(3);
  Context ctx(Device::CPU, 2);
  const nn::Conv2d conv = make_conv(rng, 12, 20, 1, 1, 0, 1, Activation::LeakyReLU);
  const Tensor x = rand_tensor(rng, {1, 12, 6, 7});
  const Tensor whole = conv(ctx, x), scale = abs_conv(conv)(ctx, abs_of(x));
  // Two groups made of scattered row ranges, as IFAN's F1_i + b_i.
  const blocks::StreamedConv1x1 head(conv, {{{0, 3}, {16, 18}}, {{5, 9}, {18, 20}}});
  CHECK_EQ(head.groups(), size_t(2));
  const std::vector<std::vector<std::pair<int64_t, int64_t>>> rows{{{0, 3}, {16, 18}},
                                                                   {{5, 9}, {18, 20}}};
  for (size_t g = 0; g < 2; ++g) {
    std::vector<Tensor> ref_parts, scale_parts;
    for (const auto& [b, e] : rows[g]) {
      ref_parts.push_back(whole.reshape({20, 6, 7}).slice0(b, e).reshape({1, e - b, 6, 7}));
      scale_parts.push_back(scale.reshape({20, 6, 7}).slice0(b, e).reshape({1, e - b, 6, 7}));
    }
    expect_close(head.group(ctx, x, g), concat(ctx, ref_parts, 1), concat(ctx, scale_parts, 1),
                 "StreamedConv1x1 group " + std::to_string(g));
  }
  CHECK_THROWS(ValueError, blocks::StreamedConv1x1::in_groups_of(conv, 3), "do not divide");
  CHECK_THROWS(ValueError,
               blocks::StreamedConv1x1::in_groups_of(make_conv(rng, 4, 4, 3, 1, 1, 1), 2),
               "must be 1x1");
}

TEST_CASE(fac_streamed_equals_fac_on_the_whole_filter_tensor) {
  Rng rng(4);
  Context ctx(Device::CPU, 2);
  constexpr int k = 5;
  const int64_t C = 8, feat = 6, group = 2;
  const nn::Conv2d conv = make_conv(rng, feat, C * k * k, 1, 1, 0, 1, Activation::LeakyReLU);
  const Tensor features = rand_tensor(rng, {1, feat, 7, 9});
  const Tensor x = rand_tensor(rng, {1, C, 7, 9});
  const Tensor whole = conv(ctx, features);
  const Tensor ref = fac(ctx, x, whole, k);
  // S: fac of |x| with the filters' scale (|lrelu(s)| <= |s| <= conv(|f|, |w|) + |b|).
  const Tensor scale = fac(ctx, abs_of(x), abs_conv(conv)(ctx, abs_of(features)), k);
  const blocks::StreamedConv1x1 head = blocks::StreamedConv1x1::in_groups_of(conv, group * k * k);
  const blocks::StreamedFilters filters(head, features);
  // The sink sees every group of filters, in order: together they are the whole tensor.
  std::vector<Tensor> seen;
  const Tensor out =
      blocks::fac_streamed(ctx, x, filters, k, [&](const Tensor& g) { seen.push_back(g); });
  expect_close(out, ref, scale, "fac_streamed");
  CHECK_EQ(seen.size(), size_t(C / group));
  expect_close(concat(ctx, seen, 1), whole, abs_conv(conv)(ctx, abs_of(features)),
               "fac_streamed sink");
  // The groups must cover the channels of x exactly.
  CHECK_THROWS(ValueError,
               blocks::fac_streamed(ctx, rand_tensor(rng, {1, C + 1, 7, 9}), filters, k),
               "cover 8 of the 9 channels");
}

TEST_CASE(fac_streamed_writes_into_a_channel_range_of_a_larger_map) {
  Rng rng(14);
  Context ctx(Device::CPU, 2);
  constexpr int k = 3;
  const int64_t C = 6, feat = 5, H = 5, W = 11;
  const nn::Conv2d conv = make_conv(rng, feat, C * k * k, 1, 1, 0, 1, Activation::LeakyReLU);
  const Tensor features = rand_tensor(rng, {1, feat, H, W});
  const Tensor x = rand_tensor(rng, {1, C, H, W});
  const blocks::StreamedConv1x1 head = blocks::StreamedConv1x1::in_groups_of(conv, 2 * k * k);
  const blocks::StreamedFilters filters(head, features);
  const Tensor ref = blocks::fac_streamed(ctx, x, filters, k);
  // Channels [2, 2 + C) of a (1, C + 4, H, W) map; the channels around it stay untouched.
  Tensor big = rand_tensor(rng, {1, C + 4, H, W});
  const Tensor before = big.to(Device::CPU);
  Tensor planes = big.reshape({C + 4, H, W});
  const Tensor out =
      blocks::fac_streamed(ctx, x, filters, k, {}, planes.slice0(2, 2 + C).reshape({1, C, H, W}));
  CHECK(out.data() == big.data() + 2 * H * W);
  CHECK(std::memcmp(out.data(), ref.data(), sizeof(float) * ref.numel()) == 0);
  CHECK(std::memcmp(big.data(), before.data(), sizeof(float) * 2 * H * W) == 0);
  CHECK(std::memcmp(big.data() + (2 + C) * H * W, before.data() + (2 + C) * H * W,
                    sizeof(float) * 2 * H * W) == 0);
  CHECK_THROWS(ValueError,
               blocks::fac_streamed(ctx, x, filters, k, {}, rand_tensor(rng, {1, C, H, W + 1})),
               "out must have the shape of x");
  // fac_into: the same values as fac, and refused overlaps and shapes.
  const Tensor kernel = conv(ctx, features);
  Tensor dst = Tensor::empty({1, C, H, W});
  fac_into(ctx, x, kernel, k, dst);
  const Tensor direct = fac(ctx, x, kernel, k);
  CHECK(std::memcmp(dst.data(), direct.data(), sizeof(float) * direct.numel()) == 0);
  CHECK_THROWS(ValueError, fac_into(ctx, x, kernel, k, x), "must not overlap");
  CHECK_THROWS(ValueError, fac_into(ctx, x, kernel, k, Tensor::empty({1, C, H, W - 1})), "out");
}

TEST_CASE(stacked_conv_equals_separate_convs) {
  Rng rng(5);
  Context ctx(Device::CPU, 2);
  const nn::Conv2d p = make_conv(rng, 10, 18, 3, 1, 2, 2), m = make_conv(rng, 10, 9, 3, 1, 2, 2);
  const blocks::StackedConv2d stacked({&p, &m});
  const Tensor x = rand_tensor(rng, {1, 10, 8, 11});
  const std::vector<Tensor> out = stacked(ctx, x);
  CHECK_EQ(out.size(), size_t(2));
  expect_close(out[0], p(ctx, x), abs_conv(p)(ctx, abs_of(x)), "stacked p_conv");
  expect_close(out[1], m(ctx, x), abs_conv(m)(ctx, abs_of(x)), "stacked m_conv");
  const nn::Conv2d other = make_conv(rng, 10, 9, 3, 1, 1, 1);
  CHECK_THROWS(ValueError, blocks::StackedConv2d({&p, &other}), "same input channels and geometry");
}

TEST_CASE(mmcv_flat_reinterpret_reads_the_buffer_with_the_output_strides) {
  Rng rng(6);
  Context fast(Device::CPU, 2), ref(Device::CPU, 1);
  ref.set_reference_kernels(true);
  struct Case {
    int64_t N, C, h, w;
    int H, W;
  };
  for (const Case& c : {Case{1, 9, 3, 4, 5, 6}, Case{2, 18, 6, 7, 8, 9}, Case{1, 2, 4, 4, 3, 3},
                        Case{1, 1, 1, 1, 1, 1}}) {
    const Tensor x = rand_tensor(rng, {c.N, c.C, c.h, c.w});
    const Tensor got = mmcv_flat_reinterpret(fast, x, c.H, c.W);
    const Tensor want = mmcv_flat_reinterpret(ref, x, c.H, c.W);
    expect_bitwise(got, want, "mmcv_flat_reinterpret fast vs reference");
    // The definition (aspdc spec 4.3): value(n, k, y, x) = flat[k*H*W + y*W + x] of sample n
    // if inside its C*h*w buffer, else 0.
    const int64_t in = c.C * c.h * c.w, out = c.C * int64_t(c.H) * c.W;
    bool ok = got.shape() == Shape{c.N, c.C, c.H, c.W};
    for (int64_t n = 0; ok && n < c.N; ++n)
      for (int64_t k = 0; k < c.C; ++k)
        for (int64_t y = 0; y < c.H; ++y)
          for (int64_t xx = 0; xx < c.W; ++xx) {
            const int64_t f = k * c.H * c.W + y * c.W + xx;
            const float v = f < in ? x.data()[n * in + f] : 0.f;
            ok = ok && got.data()[n * out + f] == v;
          }
    CHECK(ok);
  }
  const Tensor x = rand_tensor(rng, {1, 2, 3, 3});
  CHECK_THROWS(ValueError, mmcv_flat_reinterpret(fast, x, 0, 3), "height must be positive");
  CHECK_THROWS(ValueError, mmcv_flat_reinterpret(fast, x.reshape({2, 3, 3}), 3, 3),
               "x must be 4-D");
}

int main() { return testing::run_all(); }
