// ASPDC (Huo et al., CVPR 2022 NTIRE workshop): single-image motion deblurring with
// atrous-spatial-pyramid deformable convolutions (DCNv2). A transcription of DeblurringNet
// (networks/sub_networks.py, networks/modules.py): members carry the official state_dict
// names and forward() reads beside the original. Layer semantics: the ASPDC reference spec.
//
// The constructor arguments `norm_layer` of the original modules are never used there (no
// InstanceNorm exists in the network), so there is nothing to load or run for them. The
// offset maps that the ASPDC blocks also return (hallucination_map_list) are never used at
// inference and are not computed.
#include "blocks/concat_conv.h"
#include "blocks/stacked_conv.h"
#include "deblurcore/error.h"
#include "deblurcore/ops.h"
#include "deblurcore/safetensors.h"
#include "models/metadata.h"
#include "models/precision_policy.h"
#include "models/registry.h"
#include "nn/layers.h"
#include "nn/modulated_deform_conv.h"

namespace deblurcore {

namespace {

using nn::last_use;
using nn::Scope;

constexpr float kSlope = 0.1f;                    // every LeakyReLU of ASPDC
constexpr int64_t ch0 = 32, ch1 = 64, ch2 = 128;  // intermediate_channels[0..2]
constexpr int kernel_size = 3;

// modules.ResBlock: model = Sequential(Conv2d, LeakyReLU, Conv2d); x + model(x).
struct ResBlock {
  nn::Sequential model;
  ResBlock() = default;
  ResBlock(const Scope& s, int64_t in_channels, int64_t out_channels)
      : model(nn::Sequential(s["model"])
                  .add<nn::Conv2d>(in_channels, out_channels, kernel_size, 1, 1)
                  .add(nn::LeakyReLU{kSlope})
                  .add<nn::Conv2d>(out_channels, in_channels, kernel_size, 1, 1)) {}
  Tensor operator()(const Context& ctx, const Tensor& x) const {
    return model(ctx, x, nn::plus(x));
  }
};

// modules.DeformConv(inc, outc, modulation=True, dilation): offset and mask predictors are
// 3x3 convs with dilation and padding `dilation`; the deformable conv samples a plain 3x3
// grid (padding 1). The offsets are used unbounded.
struct DeformConv {
  nn::Conv2d p_conv, m_conv;
  nn::ModulatedDeformConv2d dconv;
  blocks::StackedConv2d p_and_m_conv;  // p_conv and m_conv as one conv (reads x once)
  DeformConv() = default;
  DeformConv(const Scope& s, int64_t inc, int64_t outc, int dilation)
      : p_conv(s["p_conv"], inc, 2 * kernel_size * kernel_size, 3, 1, dilation, dilation),
        m_conv(s["m_conv"], inc, kernel_size * kernel_size, 3, 1, dilation, dilation),
        dconv(s["dconv"], inc, outc, kernel_size, 1, 1),
        p_and_m_conv({&p_conv, &m_conv}) {}
  // Returns x_offset_conv (the offset it also returns is never used at inference).
  Tensor operator()(const Context& ctx, const Tensor& x) const {
    const std::vector<Tensor> p_and_m = p_and_m_conv(ctx, x);
    const Tensor& offset = p_and_m[0];             // self.p_conv(x)
    const Tensor mask = sigmoid(ctx, p_and_m[1]);  // sigmoid(self.m_conv(x))
    return dconv(ctx, x, offset, mask);
  }
};

// modules.hallucination_module(in, out, dilation). Dilation 0: zero offsets and a learned
// mask from an UNPADDED 3x3 conv, (h-2) x (w-2), handed to mmcv's deformable conv for an
// h x w output, which reads them with the output's strides (nn/modulated_deform_conv.h).
// With the metadata's d0_mode "intended" (experiments only; it does not reproduce the
// official outputs) m_conv has padding 1, so the mask is per-pixel and aligned.
struct HallucinationModule {
  int dilation = 0;
  DeformConv hallucination_conv;    // dilation != 0
  nn::Conv2d m_conv;                // dilation 0
  nn::ModulatedDeformConv2d dconv;  // dilation 0
  HallucinationModule() = default;
  HallucinationModule(const Scope& s, int64_t in_channels, int64_t out_channels, int dilation_,
                      int d0_mask_padding)
      : dilation(dilation_) {
    if (dilation != 0) {
      hallucination_conv =
          DeformConv(s["hallucination_conv"], out_channels, out_channels, dilation);
    } else {
      m_conv = nn::Conv2d(s["m_conv"], in_channels, 3 * 3, 3, 1, d0_mask_padding);
      dconv = nn::ModulatedDeformConv2d(s["dconv"], in_channels, out_channels, 3, 1, 1);
    }
  }
  Tensor operator()(const Context& ctx, const Tensor& x) const {
    if (dilation != 0) return hallucination_conv(ctx, x);
    Tensor mask = sigmoid(ctx, m_conv(ctx, x));
    Tensor offset = ctx.zeros({mask.size(0), 2 * mask.size(1), mask.size(2), mask.size(3)});
    return dconv(ctx, x, offset, mask);
  }
};

// modules.hallucination_res_block(in, out, dilations=(0, 1, 2, 4)).
struct HallucinationResBlock {
  nn::Sequential res_conv;
  HallucinationModule hallucination_d0, hallucination_d1, hallucination_d2, hallucination_d3;
  nn::Sequential mask_conv;
  nn::Conv2d fusion_conv;

  HallucinationResBlock() = default;
  HallucinationResBlock(const Scope& s, int64_t in_channels, int64_t out_channels,
                        int d0_mask_padding)
      : res_conv(nn::Sequential(s["res_conv"])
                     .add<nn::Conv2d>(in_channels, out_channels, kernel_size, 1, 1)
                     .add(nn::LeakyReLU{kSlope})),
        hallucination_d0(s["hallucination_d0"], in_channels, out_channels, 0, d0_mask_padding),
        hallucination_d1(s["hallucination_d1"], in_channels, out_channels, 1, d0_mask_padding),
        hallucination_d2(s["hallucination_d2"], in_channels, out_channels, 2, d0_mask_padding),
        hallucination_d3(s["hallucination_d3"], in_channels, out_channels, 4, d0_mask_padding),
        mask_conv(nn::Sequential(s["mask_conv"])
                      .add<nn::Conv2d>(out_channels, out_channels, 3, 1, 1)
                      .add(nn::LeakyReLU{kSlope})
                      .add<ResBlock>(out_channels, out_channels)
                      .add<ResBlock>(out_channels, out_channels)
                      .add<nn::Conv2d>(out_channels, 4, 1, 1)),
        fusion_conv(s["fusion_conv"], in_channels, in_channels, 3, 1, 1) {}

  // Returns res (the map of offsets it also returns is never used at inference).
  Tensor operator()(const Context& ctx, const Tensor& x) const {
    Tensor res = res_conv(ctx, x);

    Tensor d0_out = hallucination_d0(ctx, res);
    Tensor d1_out = hallucination_d1(ctx, res);
    Tensor d2_out = hallucination_d2(ctx, res);
    Tensor d3_out = hallucination_d3(ctx, last_use(res));

    Tensor mask = mask_conv(ctx, x);
    mask = softmax(ctx, mask, 1);

    // d0_out * mask[:, 0:1] + d1_out * mask[:, 1:2] + ..., left to right, products rounded
    Tensor sum_out = weighted_sum(
        ctx, {last_use(d0_out), last_use(d1_out), last_use(d2_out), last_use(d3_out)}, mask);

    return fusion_conv(ctx, sum_out, nn::plus(x));
  }
};

class DeblurringNet final : public Model {
 public:
  DeblurringNet(const SafetensorsFile& file, const Context& ctx)
      : Model(ctx, read_image_format(file, "aspdc", {{"RGB"}, {"-1,1"}, 4})) {
    Weights w(file, ctx.device());
    w.require_meta("architecture", "aspdc");
    variant_ = metadata_choice(file, "aspdc", "variant",
                               {"DeblurringNet", "DeblurringNet_FT", "DeblurringNet_NF"});
    check_implied_metadata(file, "aspdc",
                           {{"input_scale", {"255"}},
                            {"output_range", {"-1,1"}},
                            {"output_clamped", {"false"}},
                            {"size_policy", size_policies("error")},
                            {"recurrent", {"false"}}});
    const int d0_mask_padding =
        metadata_choice(file, "aspdc", "d0_mode", {"mmcv_flat", "intended"}) == "intended" ? 1 : 0;
    const Scope s(w, ctx);
    auto res_group = [&](const std::string& name) {  // Sequential(ResBlock x num_res)
      return nn::Sequential(s[name]).add<ResBlock>(ch2, ch2).add<ResBlock>(ch2, ch2);
    };
    auto aspdc_block = [&](const std::string& name) {
      return HallucinationResBlock(s[name], ch2, ch2, d0_mask_padding);
    };

    head = nn::Sequential(s["head"])
               .add<nn::Conv2d>(3, ch0, 3, 1, 1)
               .add(nn::LeakyReLU{kSlope})
               .add<ResBlock>(ch0, ch0)
               .add<ResBlock>(ch0, ch0)
               .add<nn::Conv2d>(ch0, ch1, 3, 2, 1)
               .add(nn::LeakyReLU{kSlope})
               .add<nn::Conv2d>(ch1, ch2, 3, 2, 1)
               .add(nn::LeakyReLU{kSlope});
    en_res_group1_1 = res_group("en_res_group1_1");
    en_res_group1_2 = aspdc_block("en_res_group1_2");
    en_res_group2_1 = res_group("en_res_group2_1");
    en_res_group2_2 = aspdc_block("en_res_group2_2");
    en_res_group3_1 = res_group("en_res_group3_1");
    en_res_group3_2 = aspdc_block("en_res_group3_2");
    de_res_group3_1 = res_group("de_res_group3_1");
    de_res_group3_2 = aspdc_block("de_res_group3_2");
    de_res_group2_1 = res_group("de_res_group2_1");
    de_res_group2_2 = aspdc_block("de_res_group2_2");
    de_res_group1_1 = res_group("de_res_group1_1");
    de_res_group1_2 = aspdc_block("de_res_group1_2");
    // dense_conv = Sequential(Conv2d(6 * ch2, ch2, 3, 1, 1), LeakyReLU) over the six stage
    // outputs, without their concat (blocks/concat_conv.h)
    nn::Conv2d dense_conv_0(s["dense_conv"][0], 6 * ch2, ch2, 3, 1, 1);
    dense_conv_0.activation = Epilogue::leaky_relu(kSlope);  // dense_conv.1
    dense_conv = blocks::ConcatConv2d(dense_conv_0, std::vector<int64_t>(6, ch2));
    tail = nn::Sequential(s["tail"])
               .add<nn::ConvTranspose2d>(ch2, ch1, 3, 2, 1, /*output_padding=*/1)
               .add(nn::LeakyReLU{kSlope})
               .add<nn::ConvTranspose2d>(ch1, ch0, 3, 2, 1, /*output_padding=*/1)
               .add(nn::LeakyReLU{kSlope})
               .add<nn::Conv2d>(ch0, 3, 3, 1, 1);
    w.check_all_used();
  }

  // Padded to 12x12: the quarter-resolution maps need 3x3 for the unpadded d0 mask conv.
  int64_t min_image_size() const override { return 9; }
  std::string architecture() const override { return "aspdc"; }
  std::string variant() const override { return variant_; }

  // rgb (1, 3, H, W) in [-1, 1], H and W multiples of 4 and at least 12 (the d0 mask conv is
  // unpadded, so the H/4 x W/4 feature maps must be at least 3x3). Returns res + rgb,
  // unclamped (the first of the official pair).
  Tensor forward(const Tensor& rgb) override {
    const PrecisionPolicy precision(ctx_);
    const Context& ctx = precision(ModelBlock::Aspdc);
    check(rgb.dim() == 4 && rgb.size(0) == 1 && rgb.size(1) == 3,
          "ASPDC: the input tensor must be (1, 3, H, W), got ", rgb.shape_str());
    check<TypeError>(rgb.device() == ctx.device(), "ASPDC: the input is on device '",
                     device_name(rgb.device()), "' but the model runs on '",
                     device_name(ctx.device()), "'");
    check(rgb.size(2) % 4 == 0 && rgb.size(3) % 4 == 0,
          "ASPDC: H and W must be multiples of 4, got ", rgb.size(2), "x", rgb.size(3));
    check(rgb.size(2) >= 12 && rgb.size(3) >= 12, "ASPDC: H and W must be at least 12, got ",
          rgb.size(2), "x", rgb.size(3));

    Tensor x = head(ctx, rgb);
    // dense_output = dense_conv(cat([en_res_out1_2, ..., de_res_out1_2])) is summed as each
    // stage output is made, so that each is released once the next stage has read it.
    blocks::ConcatConv2d::RunningSum dense_input = dense_conv.running_sum(ctx);

    // encoder1
    Tensor en_res_out1_1 = en_res_group1_1(ctx, last_use(x));
    Tensor en_res_out1_2 = en_res_group1_2(ctx, last_use(en_res_out1_1));
    dense_input.add(en_res_out1_2);
    // encoder2
    Tensor en_res_out2_1 = en_res_group2_1(ctx, last_use(en_res_out1_2));
    Tensor en_res_out2_2 = en_res_group2_2(ctx, last_use(en_res_out2_1));
    dense_input.add(en_res_out2_2);
    // encoder3
    Tensor en_res_out3_1 = en_res_group3_1(ctx, last_use(en_res_out2_2));
    Tensor en_res_out3_2 = en_res_group3_2(ctx, last_use(en_res_out3_1));
    dense_input.add(en_res_out3_2);
    // decoder3
    Tensor de_res_out3_1 = de_res_group3_1(ctx, last_use(en_res_out3_2));
    Tensor de_res_out3_2 = de_res_group3_2(ctx, last_use(de_res_out3_1));
    dense_input.add(de_res_out3_2);
    // decoder2
    Tensor de_res_out2_1 = de_res_group2_1(ctx, last_use(de_res_out3_2));
    Tensor de_res_out2_2 = de_res_group2_2(ctx, last_use(de_res_out2_1));
    dense_input.add(de_res_out2_2);
    // decoder1
    Tensor de_res_out1_1 = de_res_group1_1(ctx, last_use(de_res_out2_2));
    Tensor de_res_out1_2 = de_res_group1_2(ctx, last_use(de_res_out1_1));
    dense_input.add(last_use(de_res_out1_2));

    Tensor dense_output = dense_input.result();

    // res = self.tail(dense_output); return res + rgb
    return tail(ctx, last_use(dense_output), nn::plus(rgb));
  }

 private:
  std::string variant_;
  nn::Sequential head;
  nn::Sequential en_res_group1_1, en_res_group2_1, en_res_group3_1;
  nn::Sequential de_res_group3_1, de_res_group2_1, de_res_group1_1;
  HallucinationResBlock en_res_group1_2, en_res_group2_2, en_res_group3_2;
  HallucinationResBlock de_res_group3_2, de_res_group2_2, de_res_group1_2;
  blocks::ConcatConv2d dense_conv;
  nn::Sequential tail;
};

}  // namespace

std::unique_ptr<Model> load_aspdc(const SafetensorsFile& file, const Context& ctx) {
  return std::make_unique<DeblurringNet>(file, ctx);
}

}  // namespace deblurcore
