// The fast CPU kernels of the convolutions (conv2d, conv_transpose2d, their epilogues and
// per-side padding, deform_conv2d) against the scalar reference kernels (the executable
// spec), through the public API only: Context::set_reference_kernels(true) runs the reference,
// and each instruction set this CPU supports (set_isa) runs the fast kernels. Shapes are small
// (the suite also runs under AddressSanitizer) but cover strides, padding, dilation, odd
// sizes, bias or none, every epilogue and several batch/channel counts.
//
// Tolerances: see op_test_util.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "deblurcore/deblurcore.h"
#include "op_test_util.h"
#include "test_util.h"

using namespace deblurcore;
using namespace deblurcore::op_test;

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
    {2, 5, 7, 130, 3, 3, 3, 1, 1, 1, true},          // few output channels, wide rows with tails
    {1, 6, 5, 70, 1, 3, 3, 2, 1, 1, false},          // one output channel, stride 2
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
// the CPU path transforms itself. A dilated conv with padding = dilation runs by Winograd on
// its polyphase sub-images (conv_winograd_dilated.cpp), except with a residual (epilogues
// 3-5), which runs the direct conv; both must match.
TEST_CASE(conv2d_winograd_matches_reference_and_prepared_weights) {
  const Context ref = reference_ctx();
  struct Case {
    int64_t n, cin, h, w, cout;
    Padding2d padding;
    int64_t dilation;
  };
  const Case cases[] = {
      {1, 3, 9, 11, 5, Padding2d::symmetric(1), 1},    // partial tiles both ways
      {2, 17, 5, 6, 33, Padding2d::symmetric(1), 1},   // batch, Cout past a panel
      {1, 16, 13, 70, 24, {0, 1, 0, 1}, 1},            // per-side padding, several tile blocks
      {1, 20, 8, 8, 16, Padding2d::symmetric(2), 1},   // padding beyond the kernel radius
      {1, 4, 3, 3, 2, Padding2d::symmetric(0), 1},     // one output pixel
      {1, 8, 20, 37, 27, Padding2d::symmetric(2), 2},  // dilated: sub-images of unequal sizes
      {2, 5, 17, 23, 9, Padding2d::symmetric(4), 4},   // dilated, batch
      {1, 3, 3, 5, 8, Padding2d::symmetric(4), 4},     // dilation beyond the image
  };
  int index = 0;
  for (const Case& c : cases) {
    Rng rng(300 + index);
    const Tensor x = rand_tensor(rng, {c.n, c.cin, c.h, c.w});
    const Tensor wt = rand_tensor(rng, {c.cout, c.cin, 3, 3});
    const Tensor b = rand_tensor(rng, {c.cout});
    const int64_t d = c.dilation;
    const Tensor plain = conv2d(ref, x, wt, b, 1, c.padding, d);
    const Tensor residual = rand_tensor(rng, plain.shape());
    const Tensor abs_sum = conv2d(ref, abs_of(x), abs_of(wt), abs_of(b), 1, c.padding, d);
    for (int e = 0; e < 6; ++e) {
      const Epilogue epi = epilogue_variant(e, residual);
      const Tensor want = conv2d(ref, x, wt, b, 1, c.padding, d, epi);
      const Tensor scale = add_abs(abs_sum, epi.residual);
      for (Context ctx : fast_contexts()) {
        ctx.set_conv_algorithm(ConvAlgorithm::Winograd);
        const std::string what =
            "winograd case " + std::to_string(index) + " epilogue " + std::to_string(e);
        const Tensor got = conv2d(ctx, x, wt, b, 1, c.padding, d, epi);
        expect_sum_close(got, want, scale, 2e-5, label(what, ctx), __FILE__, __LINE__);
        const PreparedConv2dWeight prepared = conv2d_prepare(ctx, wt);
        EXPECT_BITWISE(conv2d(ctx, x, prepared, b, 1, c.padding, d, epi), got,
                       label(what + " prepared", ctx));
      }
    }
    ++index;
  }
}

// A Winograd output of 32 MB or more is written with non-temporal stores where whole aligned
// vectors allow (conv_winograd.cpp), the rest with ordinary ones: the same values. A batch of two
// images over the threshold against each image alone (under it), bitwise; an odd width puts row
// starts at every alignment, so both kinds of stores meet in one row.
TEST_CASE(conv2d_winograd_streamed_output_equals_cached_output) {
  Rng rng(350);
  const int64_t n = 2, cin = 2, cout = 8, h = 720, w = 1283;
  const Tensor x = rand_tensor(rng, {n, cin, h, w});
  const Tensor wt = rand_tensor(rng, {cout, cin, 3, 3});
  const Tensor b = rand_tensor(rng, {cout});
  const Tensor residual = rand_tensor(rng, {n, cout, h, w});
  const int64_t in_image = cin * h * w, out_image = cout * h * w;
  CHECK(n * out_image * int64_t(sizeof(float)) >= (int64_t(32) << 20));
  CHECK(out_image * int64_t(sizeof(float)) < (int64_t(32) << 20));
  for (Context ctx : fast_contexts()) {
    ctx.set_conv_algorithm(ConvAlgorithm::Winograd);
    for (int e : {2, 4}) {
      const Epilogue epi = epilogue_variant(e, residual);
      const Tensor both = conv2d(ctx, x, wt, b, 1, 1, 1, epi);
      for (int64_t i = 0; i < n; ++i) {
        Tensor xi = ctx.empty({1, cin, h, w});
        std::copy(x.data() + i * in_image, x.data() + (i + 1) * in_image, xi.data());
        Epilogue epi_i = epi;
        if (epi.residual.defined()) {
          epi_i.residual = ctx.empty({1, cout, h, w});
          std::copy(residual.data() + i * out_image, residual.data() + (i + 1) * out_image,
                    epi_i.residual.data());
        }
        const Tensor one = conv2d(ctx, xi, wt, b, 1, 1, 1, epi_i);
        Tensor slice = ctx.empty({1, cout, h, w});
        std::copy(both.data() + i * out_image, both.data() + (i + 1) * out_image, slice.data());
        EXPECT_BITWISE(
            slice, one,
            label("streamed image " + std::to_string(i) + " epilogue " + std::to_string(e), ctx));
      }
    }
  }
}

// Precision::BF16 (CPUs with AVX512_BF16): the bf16 Winograd and the direct bf16 GEMM against the
// reference. Both round the operands of every product to bfloat16 (relative error <= 2^-9
// each; Winograd rounds the transformed input and weights), so each product is off by at most
// 2^-8 of its size; the sums are float. Bound: 2^-8 of the sum of |terms| S for the direct
// GEMM (rigorous). Winograd's products are those of the transformed tiles, whose sum of
// |terms| is not bounded by a multiple of S (it holds products that cancel exactly), so here
// it is only a sanity check against S: measured at most 0.06 S for 16-17 input channels and
// 0.13 S for 3 (0.24 S for 1) on uniform data, so 0.15 S and 0.5 S. The rigorous elementwise
// bound is checked in tests/test_conv_winograd_bf16.py.
// Weights prepared on a bf16 context (packed and transformed in bf16 at load) give results
// bit-identical to the plain weight, which the CPU path then converts on each call.
TEST_CASE(conv2d_bf16_direct_and_winograd_match_reference_and_prepared_weights) {
  if (!cpu_supports_bf16() || detect_isa() != Isa::AVX512) return;
  const Context ref = reference_ctx();
  struct Case {
    int64_t n, cin, h, w, cout, k;
  };
  const Case cases[] = {
      {1, 3, 9, 11, 5, 3},     // odd Cin (a half pair), partial tiles
      {2, 17, 5, 6, 33, 3},    // batch, Cout past a panel
      {1, 16, 13, 70, 24, 3},  // several tile blocks
      {1, 32, 6, 40, 16, 1},   // 1x1 (direct only)
      {2, 7, 5, 100, 3, 3},    // few output channels (their own tile kernel), tails
  };
  int index = 0;
  for (const Case& c : cases) {
    Rng rng(500 + index);
    const Tensor x = rand_tensor(rng, {c.n, c.cin, c.h, c.w});
    const Tensor wt = rand_tensor(rng, {c.cout, c.cin, c.k, c.k});
    const Tensor b = rand_tensor(rng, {c.cout});
    const int pad = int(c.k / 2);
    const Tensor plain = conv2d(ref, x, wt, b, 1, pad);
    const Tensor residual = rand_tensor(rng, plain.shape());
    const Tensor abs_sum = conv2d(ref, abs_of(x), abs_of(wt), abs_of(b), 1, pad);
    for (int e = 0; e < 6; ++e) {
      const Epilogue epi = epilogue_variant(e, residual);
      const Tensor want = conv2d(ref, x, wt, b, 1, pad, 1, epi);
      const Tensor scale = add_abs(abs_sum, epi.residual);
      for (ConvAlgorithm algo : {ConvAlgorithm::Direct, ConvAlgorithm::Winograd}) {
        Context ctx(Device::CPU, 2);
        ctx.set_precision(Precision::BF16);
        ctx.set_conv_algorithm(algo);
        const bool wino = algo == ConvAlgorithm::Winograd && c.k == 3;
        const std::string what = std::string(wino ? "bf16 winograd" : "bf16 direct") + " case " +
                                 std::to_string(index) + " epilogue " + std::to_string(e);
        const Tensor got = conv2d(ctx, x, wt, b, 1, pad, 1, epi);
        const double rtol = !wino ? 1.01 * std::ldexp(1.0, -8) : c.cin >= 16 ? 0.15 : 0.5;
        expect_sum_close(got, want, scale, rtol, what, __FILE__, __LINE__);
        const PreparedConv2dWeight prepared = conv2d_prepare(ctx, wt);
        CHECK(prepared.bf16.defined());
        EXPECT_BITWISE(conv2d(ctx, x, prepared, b, 1, pad, 1, epi), got, what + " prepared");
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
    {2, 6, 11, 37, 10, 4, 2, 1, 0, 1, true},         // several row tiles, masked column tails
    {1, 3, 4, 5, 2, 1, 3, 0, 0, 1, true},            // stride 3 > kernel: phases without taps
    {1, 4, 6, 7, 5, 4, 2, 0, 0, 1, true},            // no padding: even columns first
    {1, 3, 5, 6, 4, 3, 2, 0, 0, 1, true},            // odd output width: unequal phases
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

// The upsampling layer (4x4, stride 2, padding 1) by Winograd: its four output phases as one
// 3x3 convolution (cpu/conv_transpose2d.cpp), forced here on every shape. Tolerance: relative
// to the sum of |terms| S its error is larger than a 3x3 conv's (4 of the 9 taps of a phase
// weight are non-zero, so the transforms' growth weighs on fewer terms): at most 2.2e-5 * S
// measured on these shapes, so 1e-4 * S here (the rigorous bound is checked in
// tests/test_conv_transpose_winograd.py). Prepared weights give bit-identical results to the
// plain weight, and parameters the phase convolution does not cover run the direct phases even
// when Winograd is asked for.
TEST_CASE(conv_transpose2d_winograd_matches_reference_and_prepared_weights) {
  const Context ref = reference_ctx();
  struct Case {
    int64_t n, cin, h, w, cout;
  };
  const Case cases[] = {
      {1, 4, 5, 6, 3},     // partial tiles both ways, 12 phase channels (a panel and a half)
      {2, 9, 3, 3, 17},    // batch, less than a tile
      {2, 6, 11, 37, 10},  // several tile rows, masked column tails
      {1, 16, 13, 70, 8},  // several tile blocks in a row
      {1, 3, 1, 1, 2},     // one input pixel
  };
  int index = 0;
  for (const Case& c : cases) {
    Rng rng(400 + index);
    const Tensor x = rand_tensor(rng, {c.n, c.cin, c.h, c.w});
    const Tensor wt = rand_tensor(rng, {c.cin, c.cout, 4, 4});
    const Tensor b = index % 2 ? Tensor() : rand_tensor(rng, {c.cout});
    const Tensor plain = conv_transpose2d(ref, x, wt, b, 2, 1);
    const Tensor residual = rand_tensor(rng, plain.shape());
    const Tensor abs_sum = conv_transpose2d(ref, abs_of(x), abs_of(wt), abs_of(b), 2, 1);
    for (int e = 0; e < 6; ++e) {
      const Epilogue epi = epilogue_variant(e, residual);
      const Tensor want = conv_transpose2d(ref, x, wt, b, 2, 1, 0, 1, epi);
      const Tensor scale = add_abs(abs_sum, epi.residual);
      for (Context ctx : fast_contexts()) {
        ctx.set_conv_algorithm(ConvAlgorithm::Winograd);
        const std::string what = "conv_transpose2d winograd case " + std::to_string(index) +
                                 " epilogue " + std::to_string(e);
        const Tensor got = conv_transpose2d(ctx, x, wt, b, 2, 1, 0, 1, epi);
        expect_sum_close(got, want, scale, 1e-4, label(what, ctx), __FILE__, __LINE__);
        const PreparedConvTranspose2dWeight prepared = conv_transpose2d_prepare(ctx, wt);
        CHECK(prepared.winograd.defined() == (4 * c.cout >= 8));
        EXPECT_BITWISE(conv_transpose2d(ctx, x, prepared, b, 2, 1, 0, 1, epi), got,
                       label(what + " prepared", ctx));
      }
    }
    ++index;
  }
  // Padding 0, output_padding 1, stride 1: not the phase convolution's geometry.
  Rng rng(450);
  const Tensor x = rand_tensor(rng, {1, 5, 6, 7});
  const Tensor wt = rand_tensor(rng, {5, 4, 4, 4});
  for (Context ctx : fast_contexts()) {
    const PreparedConvTranspose2dWeight prepared = conv_transpose2d_prepare(ctx, wt);
    for (const auto& [stride, padding, output_padding] :
         {std::tuple<int, int, int>{2, 0, 0}, {2, 1, 1}, {1, 1, 0}}) {
      ctx.set_conv_algorithm(ConvAlgorithm::Direct);
      const Tensor direct = conv_transpose2d(ctx, x, wt, Tensor(), stride, padding, output_padding);
      ctx.set_conv_algorithm(ConvAlgorithm::Winograd);
      EXPECT_BITWISE(conv_transpose2d(ctx, x, prepared, Tensor(), stride, padding, output_padding),
                     direct, label("conv_transpose2d not the phase geometry", ctx));
    }
  }
}

TEST_CASE(conv_transpose2d_prepared_weight_of_another_shape_is_refused) {
  Rng rng(10);
  const Context ctx(Device::CPU, 1);
  const PreparedConvTranspose2dWeight prepared =
      conv_transpose2d_prepare(ctx, rand_tensor(rng, {16, 8, 4, 4}));
  CHECK(prepared.winograd.defined());
  PreparedConvTranspose2dWeight wrong = prepared;
  wrong.weight = rand_tensor(rng, {16, 4, 4, 4});
  CHECK_THROWS(ValueError,
               conv_transpose2d(ctx, rand_tensor(rng, {1, 16, 8, 8}), wrong, Tensor(), 2, 1),
               "prepared weight");
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

struct DeformCase {
  int64_t n, cin, h, w, cout, groups;
  int k;
  Pair stride, padding, dilation;
  bool bias, mask;
};
// The forward test runs all of them, the backward test all but the last (the 1x1 kernel).
const DeformCase kDeformCases[] = {
    {1, 4, 7, 8, 3, 1, 3, 1, 1, 1, true, true},
    {2, 4, 6, 7, 5, 2, 3, 1, 1, 1, false, true},  // two offset groups, batch 2
    {1, 3, 9, 8, 4, 1, 3, 2, 1, 1, true, false},  // stride 2, no mask
    {1, 2, 8, 8, 3, 1, 3, 1, 2, 2, true, true},   // dilation 2
    {1, 6, 5, 6, 2, 3, 1, 1, 0, 1, true, true},   // 1x1 kernel, three groups
};

TEST_CASE(deform_conv2d_fast_matches_reference) {
  const Context ref = reference_ctx();
  int index = 0;
  for (const DeformCase& c : kDeformCases) {
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

// The gradients of deform_conv2d: the fast kernel (float32 sums, chunks of pixels) against the
// reference (double sums). Offsets are an integer plus a fraction in [0.1, 0.9], so no sample
// sits on an integer position where the bilinear derivative jumps. Each gradient is compared
// against 1e-4 of its largest magnitude (float32 sums of at most a few hundred terms).
TEST_CASE(deform_conv2d_backward_fast_matches_reference) {
  const Context ref = reference_ctx();
  // The 3x3 cases: all but the last.
  const int cases = static_cast<int>(std::size(kDeformCases)) - 1;
  for (int index = 0; index < cases; ++index) {
    const DeformCase& c = kDeformCases[index];
    Rng rng(400 + index);
    const Tensor x = rand_tensor(rng, {c.n, c.cin, c.h, c.w});
    const Tensor wt = rand_tensor(rng, {c.cout, c.cin, c.k, c.k});
    const Tensor b = c.bias ? rand_tensor(rng, {c.cout}) : Tensor();
    const int64_t ho = (c.h + 2 * c.padding.h - c.dilation.h * (c.k - 1) - 1) / c.stride.h + 1;
    const int64_t wo = (c.w + 2 * c.padding.w - c.dilation.w * (c.k - 1) - 1) / c.stride.w + 1;
    const int64_t taps = c.groups * c.k * c.k;
    Tensor offset = rand_tensor(rng, {c.n, 2 * taps, ho, wo}, 0.1f, 0.9f);
    for (int64_t i = 0; i < offset.numel(); ++i)
      offset.data()[i] += std::floor(rng.uniform(-3.f, 3.f));
    const Tensor mask = c.mask ? rand_tensor(rng, {c.n, taps, ho, wo}, 0.f, 1.f) : Tensor();
    const Tensor g = rand_tensor(rng, {c.n, c.cout, ho, wo});
    const DeformConv2dGrads want =
        deform_conv2d_backward(ref, g, x, offset, wt, b, c.stride, c.padding, c.dilation, mask);
    for (const Context& ctx : fast_contexts()) {
      const DeformConv2dGrads got =
          deform_conv2d_backward(ctx, g, x, offset, wt, b, c.stride, c.padding, c.dilation, mask);
      CHECK(got.x.shape() == x.shape() && got.offset.shape() == offset.shape());
      CHECK(got.mask.defined() == c.mask && got.bias.defined() == c.bias);
      CHECK(max_rel_diff(got.x, want.x) < 1e-4);
      CHECK(max_rel_diff(got.offset, want.offset) < 1e-4);
      CHECK(max_rel_diff(got.weight, want.weight) < 1e-4);
      if (c.mask) CHECK(max_rel_diff(got.mask, want.mask) < 1e-4);
      if (c.bias) CHECK(max_rel_diff(got.bias, want.bias) < 1e-4);
    }
  }
}

// The 1x1 convolutions with few output channels (Cout <= 8) run a path of their own
// (cpu/conv1x1_small_cout.h): Cout 1, 3, 4 and 8, batch 1 and 2, planes shorter than one SIMD
// vector, off the vector width, and longer than one block of pixels; every epilogue.
TEST_CASE(conv2d_1x1_small_cout_fast_matches_reference) {
  const Context ref = reference_ctx();
  struct Case {
    int64_t n, cin, h, w, cout;
    bool bias;
  };
  const Case cases[] = {{1, 128, 3, 5, 4, true},
                        {2, 5, 23, 45, 3, true},
                        {1, 7, 1, 3, 1, false},
                        {2, 16, 17, 61, 8, true},
                        {1, 3, 40, 40, 4, false}};
  int index = 0;
  for (const Case& c : cases) {
    Rng rng(300 + index++);
    const Tensor x = rand_tensor(rng, {c.n, c.cin, c.h, c.w});
    const Tensor wt = rand_tensor(rng, {c.cout, c.cin, 1, 1});
    const Tensor b = c.bias ? rand_tensor(rng, {c.cout}) : Tensor();
    const Tensor plain = conv2d(ref, x, wt, b);
    const Tensor residual = rand_tensor(rng, plain.shape());
    const Tensor abs_sum = conv2d(ref, abs_of(x), abs_of(wt), abs_of(b));
    for (int e = 0; e < 6; ++e) {
      const Epilogue epi = epilogue_variant(e, residual);
      const Tensor want = conv2d(ref, x, wt, b, 1, 0, 1, epi);
      const Tensor scale = add_abs(abs_sum, epi.residual);
      for (const Context& ctx : fast_contexts())
        EXPECT_SUM_CLOSE(conv2d(ctx, x, wt, b, 1, 0, 1, epi), want, scale,
                         label("conv2d 1x1 Cout=" + std::to_string(c.cout) + " " +
                                   shape_str(x.shape()) + " epilogue " + std::to_string(e),
                               ctx));
    }
  }
}

int main() { return testing::run_all(); }
