// ASPDC (Huo et al., CVPR 2022 NTIRE workshop): single-image motion deblurring with
// atrous-spatial-pyramid deformable convolutions (DCNv2). Member names are the official
// state_dict names (DeblurringNet of networks/sub_networks.py) so that forward() reads side by
// side with the original. Layer semantics: the ASPDC reference spec.
//
// The constructor arguments `norm_layer` of the original modules are never used there (no
// InstanceNorm exists in the network), so there is nothing to load or run for them.
#include <vector>

#include "backends.h"
#include "deblurcore/error.h"
#include "deblurcore/safetensors.h"
#include "models/layers.h"
#include "models/registry.h"
#include "deblurcore/ops.h"

namespace deblurcore {

namespace {

constexpr float kSlope = 0.1f;  // every LeakyReLU of ASPDC
constexpr int64_t kC = 128;     // channels of the six stages
constexpr int64_t kTaps = 9;    // every deformable conv is 3x3

const Epilogue kLrelu = Epilogue::leaky_relu(kSlope);

Epilogue plus(const Tensor& residual) {
  Epilogue e;
  e.residual = residual;
  return e;
}

// How the dilation-0 branch reads its mask (see ZeroOffsetBranch).
enum class D0Mode {
  // As the official model runs (mmcv 1.3.9): the (h-2) x (w-2) mask buffer is read with the
  // strides of an h x w map, and what lies past its end reads as 0. The default: the trained
  // weights expect it.
  MmcvFlat,
  // What the code presumably meant: m_conv padded by 1, so the mask is per-pixel and aligned.
  // For experiments only; it does not reproduce the official outputs.
  Intended,
};

D0Mode parse_d0_mode(const std::string& file, const std::string& value) {
  if (value == "mmcv_flat") return D0Mode::MmcvFlat;
  if (value == "intended") return D0Mode::Intended;
  fail<ValueError>(file, ": metadata 'd0_mode' must be 'mmcv_flat' or 'intended', got '", value,
                   "'");
}

// Copies `count` rows of `row_floats` floats between strided places on ctx's device.
void copy_rows(const Context& ctx, const float* src, int64_t src_stride, float* dst,
               int64_t dst_stride, int64_t row_floats, int64_t count) {
  switch (ctx.device()) {
    case Device::CPU: cpu::copy_rows(ctx, src, src_stride, dst, dst_stride, row_floats, count); break;
    case Device::CUDA: cuda::copy_rows(ctx, src, src_stride, dst, dst_stride, row_floats, count); break;
  }
}

// Channels [c0, c1) of a batch-1 map (1, C, h, w): a view, as they are contiguous.
Tensor channels(const Tensor& t, int64_t c0, int64_t c1) {
  const int64_t h = t.size(2), w = t.size(3);
  return t.reshape({t.size(1), h, w}).slice0(c0, c1).reshape({1, c1 - c0, h, w});
}

// Weights of several convolutions with the same geometry and input, stacked along the output
// channels so that one convolution computes them all (outputs in the order given).
Conv2d stack_outputs(const Context& ctx, const std::vector<const Conv2d*>& convs) {
  std::vector<Tensor> w, b;
  for (const Conv2d* c : convs) {
    const Shape& s = c->weight.shape();
    w.push_back(c->weight.reshape({1, s[0], s[1] * s[2] * s[3], 1}));
    b.push_back(c->bias.reshape({1, s[0], 1, 1}));
  }
  Conv2d out = *convs[0];
  const Shape& s = convs[0]->weight.shape();
  const Tensor wc = concat(ctx, w, 1), bc = concat(ctx, b, 1);
  out.weight = wc.reshape({wc.size(1), s[1], s[2], s[3]});
  out.bias = bc.reshape({bc.size(1)});
  return out;
}

// The mmcv flat-buffer re-reading of the d0 branch. The official mask conv is unpadded and
// gives `small` (C, h-2, w-2) = the interior of the same conv with padding 1, which is what
// `full` (1, C, h, w) holds (computed together with the d1 predictors). mmcv indexes `small`
// as if it were (C, h, w) (the output size), contiguous from the start of the buffer:
//   value(c, y, x) = small.flat[c*h*w + y*w + x]   if that index < C*(h-2)*(w-2), else 0,
// where the official kernel reads past the end of the buffer instead (undefined values; 0 is
// the deterministic choice of the spec: the tap contributes nothing). The result is therefore
// the interior's flat buffer followed by zeros, viewed as (1, C, h, w): sheared and scrambled
// relative to the pixels, exactly as the network was trained.
Tensor mmcv_flat_reinterpret(const Context& ctx, const Tensor& full) {
  const int64_t C = full.size(1), h = full.size(2), w = full.size(3);
  Tensor big = ctx.zeros({1, C, h, w});
  for (int64_t c = 0; c < C; ++c)
    copy_rows(ctx, full.data() + (c * h + 1) * w + 1, w, big.data() + c * (h - 2) * (w - 2),
              w - 2, w - 2, h - 2);
  return big;
}

// mmcv ModulatedDeformConv2d(128, 128, 3, stride 1, padding 1, dilation 1, deform_groups 1);
// keys `<name>.weight`, `<name>.bias`.
struct ModulatedDeformConv2d {
  Tensor weight, bias;
  static ModulatedDeformConv2d load(Weights& w, const std::string& name) {
    return {w.get(name + ".weight", {kC, kC, 3, 3}), w.get(name + ".bias", {kC})};
  }
  Tensor operator()(const Context& ctx, const Tensor& x, const Tensor& offset,
                    const Tensor& mask) const {
    return deform_conv2d(ctx, x, offset, weight, bias, 1, 1, 1, mask);
  }
};

// ResBlock (modules.py): x + model.2(lrelu(model.0(x))), no activation after the sum.
struct ResBlock {
  Conv2d model_0, model_2;
  static ResBlock load(Weights& w, const std::string& name, int64_t c) {
    return {Conv2d::load(w, name + ".model.0", c, c, 3), Conv2d::load(w, name + ".model.2", c, c, 3)};
  }
  Tensor operator()(const Context& ctx, const Tensor& x) const {
    return model_2(ctx, model_0(ctx, x, kLrelu), plus(x));
  }
};

// DeformConv (modules.py) with "atrous" dilation d: the offset and mask predictors are 3x3
// convs with dilation d and padding d; the deformable conv itself samples a plain 3x3 grid.
// The offsets are used unbounded. (The original also returns the offset; nothing uses it.)
// Both predictors (and, for d = 1, the d0 branch's mask conv: `extra`) run as one
// convolution with their output channels stacked: offsets 0..17, mask logits 18..26, extra
// 27.., which reads the input once instead of two or three times.
struct DeformConv {
  Conv2d p_conv, m_conv;
  ModulatedDeformConv2d dconv;
  Conv2d predictors;  // p_conv, m_conv (and the extra conv) stacked
  static DeformConv load(const Context& ctx, Weights& w, const std::string& name, int d,
                         const Conv2d* extra = nullptr) {
    DeformConv c{Conv2d::load(w, name + ".p_conv", kC, 2 * kTaps, 3, 1, d, d),
                 Conv2d::load(w, name + ".m_conv", kC, kTaps, 3, 1, d, d),
                 ModulatedDeformConv2d::load(w, name + ".dconv"), Conv2d()};
    std::vector<const Conv2d*> parts{&c.p_conv, &c.m_conv};
    if (extra) parts.push_back(extra);
    c.predictors = stack_outputs(ctx, parts);
    return c;
  }
  // Returns the branch output; `extra_out` receives the extra conv's channels (if any).
  Tensor operator()(const Context& ctx, const Tensor& r, Tensor* extra_out = nullptr) const {
    const Tensor pm = predictors(ctx, r);
    const Tensor offset = channels(pm, 0, 2 * kTaps);
    const Tensor mask = sigmoid(ctx, channels(pm, 2 * kTaps, 3 * kTaps));
    if (extra_out) *extra_out = channels(pm, 3 * kTaps, pm.size(1));
    return dconv(ctx, r, offset, mask);
  }
};

// hallucination_module with dilation 1, 2 or 4: a DeformConv under `hallucination_conv`.
struct DeformBranch {
  DeformConv hallucination_conv;
  static DeformBranch load(const Context& ctx, Weights& w, const std::string& name, int d,
                           const Conv2d* extra = nullptr) {
    return {DeformConv::load(ctx, w, name + ".hallucination_conv", d, extra)};
  }
  Tensor operator()(const Context& ctx, const Tensor& r, Tensor* extra_out = nullptr) const {
    return hallucination_conv(ctx, r, extra_out);
  }
};

// hallucination_module with dilation 0: zero offsets and a learned mask from an UNPADDED 3x3
// conv, (h-2) x (w-2), handed to mmcv for an h x w output. See mmcv_flat_reinterpret.
// The zero offsets have the same flat re-reading; inside the buffer they are 0, and past its
// end 0 is again the deterministic choice, so the offsets are all zero. The mask conv is run
// with padding 1 as part of the d1 predictors (same input, kernel and dilation): its interior
// is the unpadded conv (MmcvFlat), all of it the padded one (Intended).
struct ZeroOffsetBranch {
  Conv2d m_conv;
  ModulatedDeformConv2d dconv;
  D0Mode mode = D0Mode::MmcvFlat;
  static ZeroOffsetBranch load(Weights& w, const std::string& name, D0Mode mode) {
    return {Conv2d::load(w, name + ".m_conv", kC, kTaps, 3, 1, 1),
            ModulatedDeformConv2d::load(w, name + ".dconv"), mode};
  }
  // `logits`: the mask conv with padding 1, (1, 9, h, w).
  Tensor operator()(const Context& ctx, const Tensor& r, const Tensor& logits,
                    const Tensor& zero_offset) const {
    Tensor mask = sigmoid(ctx, logits);
    if (mode == D0Mode::MmcvFlat) mask = mmcv_flat_reinterpret(ctx, mask);
    return dconv(ctx, r, zero_offset, mask);
  }
};

// hallucination_res_block (the ASPDC block): four branches on r = lrelu(res_conv(x)), blended
// per pixel by a softmax over 4 logits computed from the block input x, then a fusion conv and
// the residual x.
struct HallucinationResBlock {
  Conv2d res_conv_0;
  ZeroOffsetBranch hallucination_d0;
  DeformBranch hallucination_d1, hallucination_d2, hallucination_d3;
  Conv2d mask_conv_0;
  ResBlock mask_conv_2, mask_conv_3;
  Conv2d mask_conv_4, fusion_conv;

  static HallucinationResBlock load(const Context& ctx, Weights& w, const std::string& name,
                                    D0Mode d0_mode) {
    HallucinationResBlock b;
    b.res_conv_0 = Conv2d::load(w, name + ".res_conv.0", kC, kC, 3);
    b.hallucination_d0 = ZeroOffsetBranch::load(w, name + ".hallucination_d0", d0_mode);
    b.hallucination_d1 =
        DeformBranch::load(ctx, w, name + ".hallucination_d1", 1, &b.hallucination_d0.m_conv);
    b.hallucination_d2 = DeformBranch::load(ctx, w, name + ".hallucination_d2", 2);
    b.hallucination_d3 = DeformBranch::load(ctx, w, name + ".hallucination_d3", 4);  // dilation 4
    b.mask_conv_0 = Conv2d::load(w, name + ".mask_conv.0", kC, kC, 3);
    b.mask_conv_2 = ResBlock::load(w, name + ".mask_conv.2", kC);
    b.mask_conv_3 = ResBlock::load(w, name + ".mask_conv.3", kC);
    b.mask_conv_4 = Conv2d::load(w, name + ".mask_conv.4", kC, 4, 1);
    b.fusion_conv = Conv2d::load(w, name + ".fusion_conv", kC, kC, 3);
    return b;
  }

  Tensor operator()(const Context& ctx, const Tensor& x, const Tensor& zero_offset) const {
    Tensor s;
    {
      const Tensor r = res_conv_0(ctx, x, kLrelu);
      Tensor d0_logits;
      const Tensor d1 = hallucination_d1(ctx, r, &d0_logits);
      const Tensor d0 = hallucination_d0(ctx, r, d0_logits, zero_offset);
      d0_logits = Tensor();
      const Tensor d2 = hallucination_d2(ctx, r);
      const Tensor d3 = hallucination_d3(ctx, r);
      const Tensor logits =
          mask_conv_4(ctx, mask_conv_3(ctx, mask_conv_2(ctx, mask_conv_0(ctx, x, kLrelu))));
      const Tensor a = softmax(ctx, logits, 1);
      // ((d0*a0 + d1*a1) + d2*a2) + d3*a3, products rounded, as the original evaluates it.
      s = weighted_sum(ctx, {d0, d1, d2, d3}, a);
    }
    return fusion_conv(ctx, s, plus(x));
  }
};

// One of the six stages: `<S>_1` (two ResBlocks) then `<S>_2` (the ASPDC block).
struct Stage {
  ResBlock s1_0, s1_1;
  HallucinationResBlock s2;
  static Stage load(const Context& ctx, Weights& w, const std::string& s, D0Mode d0_mode) {
    return {ResBlock::load(w, s + "_1.0", kC), ResBlock::load(w, s + "_1.1", kC),
            HallucinationResBlock::load(ctx, w, s + "_2", d0_mode)};
  }
  Tensor operator()(const Context& ctx, const Tensor& x, const Tensor& zero_offset) const {
    return s2(ctx, s1_1(ctx, s1_0(ctx, x)), zero_offset);
  }
};

class ASPDC final : public Model {
 public:
  ASPDC(const SafetensorsFile& file, const Context& ctx) : Model(ctx, format_of(file)) {
    Weights w(file, ctx.device());
    w.require_meta("architecture", "aspdc");
    variant_ = w.meta("variant", "DeblurringNet");
    d0_mode_ = parse_d0_mode(file.path(), w.meta("d0_mode", "mmcv_flat"));
    // head: conv 3->32 + lrelu, ResBlock, ResBlock, conv s2 32->64 + lrelu, conv s2 64->128 + lrelu
    head_0 = Conv2d::load(w, "head.0", 3, 32, 3);
    head_2 = ResBlock::load(w, "head.2", 32);
    head_3 = ResBlock::load(w, "head.3", 32);
    head_4 = Conv2d::load(w, "head.4", 32, 64, 3, 2);
    head_6 = Conv2d::load(w, "head.6", 64, 128, 3, 2);
    en_res_group1 = Stage::load(ctx, w, "en_res_group1", d0_mode_);
    en_res_group2 = Stage::load(ctx, w, "en_res_group2", d0_mode_);
    en_res_group3 = Stage::load(ctx, w, "en_res_group3", d0_mode_);
    de_res_group3 = Stage::load(ctx, w, "de_res_group3", d0_mode_);
    de_res_group2 = Stage::load(ctx, w, "de_res_group2", d0_mode_);
    de_res_group1 = Stage::load(ctx, w, "de_res_group1", d0_mode_);
    dense_conv_0 = Conv2d::load(w, "dense_conv.0", 6 * kC, kC, 3);
    // dense_conv's weight split by input channels: part i (kC, kC, 3, 3) reads stage i.
    for (int64_t i = 0; i < 6; ++i) {
      const int64_t row = kC * 9;  // one output channel of one part
      Tensor wi = ctx.empty({kC, kC, 3, 3});
      copy_rows(ctx, dense_conv_0.weight.data() + i * row, 6 * row, wi.data(), row, row, kC);
      dense_parts_.push_back(wi);
    }
    // tail: convT 128->64 + lrelu, convT 64->32 + lrelu (stride 2, padding 1, output_padding
    // 1: exactly 2x), conv 32->3
    tail_0 = ConvTranspose2d::load(w, "tail.0", 128, 64, 3, 2, 1);
    tail_2 = ConvTranspose2d::load(w, "tail.2", 64, 32, 3, 2, 1);
    tail_4 = Conv2d::load(w, "tail.4", 32, 3, 3);
    w.check_all_used();
  }

  std::string architecture() const override { return "aspdc"; }
  std::string variant() const override { return variant_; }

  // rgb (1, 3, H, W) in [-1, 1], H and W multiples of 4 and at least 12 (the d0 mask conv is
  // unpadded, so the H/4 x W/4 feature maps must be at least 3x3). Returns the raw
  // res + rgb, unclamped.
  Tensor forward(const Tensor& rgb) override {
    const Context& ctx = ctx_;
    check(rgb.dim() == 4 && rgb.size(0) == 1 && rgb.size(1) == 3,
          "ASPDC: the input tensor must be (1, 3, H, W), got ", rgb.shape_str());
    check<TypeError>(rgb.device() == ctx.device(), "ASPDC: the input is on device '",
                     device_name(rgb.device()), "' but the model runs on '",
                     device_name(ctx.device()), "'");
    check(rgb.size(2) % 4 == 0 && rgb.size(3) % 4 == 0, "ASPDC: H and W must be multiples of 4, got ",
          rgb.size(2), "x", rgb.size(3));
    check(rgb.size(2) >= 12 && rgb.size(3) >= 12, "ASPDC: H and W must be at least 12, got ",
          rgb.size(2), "x", rgb.size(3));

    Tensor x = head_6(ctx, head_4(ctx, head_3(ctx, head_2(ctx, head_0(ctx, rgb, kLrelu))), kLrelu),
                      kLrelu);
    // The offsets of every d0 branch: zeros of the output size (mmcv_flat_reinterpret).
    const Tensor zero_offset = ctx.zeros({1, 2 * kTaps, x.size(2), x.size(3)});
    // f = lrelu(dense_conv(cat[e1, e2, e3, d3, d2, d1])), as a running sum of the six
    // 128-channel parts of dense_conv, each added as soon as its stage output exists: the
    // 768-channel concat is never built, and each stage output is released once the next
    // stage has read it.
    Tensor sum;
    auto dense = [&](const Tensor& e, int part) {
      Epilogue epi;
      if (part > 0) epi.residual = sum;
      if (part == 5) {
        epi.activation = Activation::LeakyReLU;
        epi.negative_slope = kSlope;
        epi.residual_position = Epilogue::Residual::BeforeActivation;
      }
      sum = conv2d(ctx, e, dense_parts_[part], part == 0 ? dense_conv_0.bias : Tensor(), 1, 1, 1,
                   epi);
    };
    Tensor e = en_res_group1(ctx, x, zero_offset);
    x = Tensor();
    dense(e, 0);
    int part = 1;
    for (const Stage* stage :
         {&en_res_group2, &en_res_group3, &de_res_group3, &de_res_group2, &de_res_group1}) {
      e = (*stage)(ctx, e, zero_offset);
      dense(e, part++);
    }
    e = Tensor();
    Tensor f = std::move(sum);
    Tensor t = conv_transpose2d(ctx, f, tail_0.weight, tail_0.bias, 2, 1, 1, 1, kLrelu);
    f = Tensor();
    t = conv_transpose2d(ctx, t, tail_2.weight, tail_2.bias, 2, 1, 1, 1, kLrelu);
    return tail_4(ctx, t, plus(rgb));
  }

 private:
  static ImageFormat format_of(const SafetensorsFile& file) {
    const std::string order = file.metadata_value("channel_order", "RGB");
    check(order == "RGB", file.path(), ": ASPDC takes RGB input, but the metadata says channel_order '",
          order, "'");
    const std::string range = file.metadata_value("input_range", "-1,1");
    check(range == "-1,1", file.path(), ": ASPDC takes input in [-1, 1], but the metadata says input_range '",
          range, "'");
    ImageFormat f;
    f.bgr = false;
    f.range = ImageFormat::Range::SymmetricUnit;
    // Other sizes are padded (replicate, bottom and right) and cropped back. The official code
    // refuses them; note that through the d0 quirk the result depends on the padded width.
    f.size_multiple = 4;
    return f;
  }

  std::string variant_;
  D0Mode d0_mode_ = D0Mode::MmcvFlat;
  Conv2d head_0, head_4, head_6;
  ResBlock head_2, head_3;
  Stage en_res_group1, en_res_group2, en_res_group3, de_res_group3, de_res_group2, de_res_group1;
  Conv2d dense_conv_0;
  std::vector<Tensor> dense_parts_;
  ConvTranspose2d tail_0, tail_2;
  Conv2d tail_4;
};

}  // namespace

std::unique_ptr<Model> load_aspdc(const SafetensorsFile& file, const Context& ctx) {
  return std::make_unique<ASPDC>(file, ctx);
}

}  // namespace deblurcore
