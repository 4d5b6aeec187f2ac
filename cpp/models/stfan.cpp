// STFAN (Zhou et al., ICCV 2019): spatio-temporal filter adaptive network for video
// deblurring. A transcription of DeblurNet (models/DeblurNet.py, models/submodules.py):
// members carry the official state_dict names and forward() reads beside the original; the
// places where it departs from it (order of the branches, the filter tensors that are never
// whole) are commented there. Layer semantics: the STFAN reference spec.
#include <utility>

#include "blocks/adaptive_conv_streamed.h"
#include "blocks/concat_conv.h"
#include "blocks/streamed_filters.h"
#include "deblurcore/error.h"
#include "deblurcore/safetensors.h"
#include "memory/device_memory.h"
#include "models/metadata.h"
#include "models/precision_policy.h"
#include "models/registry.h"
#include "nn/layers.h"

namespace deblurcore {

namespace {

using nn::chain;
using nn::last_use;
using nn::Scope;

constexpr float kLeakyValue = 0.1f;  // cfg.NETWORK.LEAKY_VALUE
constexpr int ks = 3, ks_2d = 5;
constexpr int64_t ch1 = 32, ch2 = 64, ch3 = 128;
// Feature channels per group of a streamed filter tensor: 16 * 25 = 400 filter channels,
// 92 MB at 720p instead of 737 MB for the whole tensor. Divides ch3.
constexpr int64_t kFilterGroup = 16;

// submodules.conv: Sequential(Conv2d(padding (k-1)/2), LeakyReLU); keys `<name>.0.*`.
struct Conv {
  nn::Conv2d conv;  // <name>.0, with <name>.1 (the LeakyReLU) fused
  Conv() = default;
  Conv(const Scope& s, int64_t cin, int64_t cout, int kernel_size = 3, int stride = 1)
      : conv(s[0], cin, cout, kernel_size, stride, (kernel_size - 1) / 2) {
    conv.activation = Epilogue::leaky_relu(kLeakyValue);
  }
  Tensor operator()(const Context& ctx, const Tensor& x) const { return conv(ctx, x); }
  Tensor operator()(const Context& ctx, const Tensor& x, const nn::Plus& p) const {
    return conv(ctx, x, p);
  }
};

// submodules.upconv: Sequential(ConvTranspose2d(4, stride 2, padding 1), LeakyReLU).
nn::Sequential upconv(const Scope& s, int64_t cin, int64_t cout) {
  return nn::Sequential(s)
      .add<nn::ConvTranspose2d>(cin, cout, 4, 2, 1)
      .add(nn::LeakyReLU{kLeakyValue});
}

// submodules.ResnetBlock: stem = Sequential(Conv2d, LeakyReLU, Conv2d); out = stem(x) + x.
struct ResnetBlock {
  nn::Sequential stem;
  ResnetBlock() = default;
  ResnetBlock(const Scope& s, int64_t c)
      : stem(nn::Sequential(s["stem"])
                 .add<nn::Conv2d>(c, c, ks, 1, (ks - 1) / 2)
                 .add(nn::LeakyReLU{kLeakyValue})
                 .add<nn::Conv2d>(c, c, ks, 1, (ks - 1) / 2)) {}
  Tensor operator()(const Context& ctx, const Tensor& x) const { return stem(ctx, x, nn::plus(x)); }
};

// fac_warp / fac_deblur = Sequential(conv(cin, ch3), resnet_block, resnet_block,
// conv(ch3, ch3 * ks_2d**2, kernel_size=1)): children 0-2 run as usual, the last conv is
// streamed, so that the filter tensor it outputs is never whole (blocks/streamed_filters.h).
struct FilterHead {
  nn::Sequential body;  // <name>.0 .. <name>.2
  blocks::StreamedConv1x1
      last;  // <name>.3 (conv 1x1 + LeakyReLU), kFilterGroup channels' filters per group
  FilterHead() = default;
  // s: the body's scope; head: the scope of <name>.3 (each with its block's context).
  FilterHead(const Scope& s, const Scope& head, int64_t cin)
      : body(nn::Sequential(s).add<Conv>(cin, ch3, ks).add<ResnetBlock>(ch3).add<ResnetBlock>(ch3)),
        last(blocks::StreamedConv1x1::in_groups_of(Conv(head, ch3, ch3 * ks_2d * ks_2d, 1).conv,
                                                   kFilterGroup * ks_2d * ks_2d)) {}
  // self.fac_*(x): the filters, made group by group by whoever consumes them.
  blocks::StreamedFilters filters_streamed(const Context& ctx, const Tensor& x) const {
    return {last, body(ctx, x)};
  }
};

// KernelConv2D.KernelConv2D(kernel_size): the FAC layer, on streamed filters. `also` receives
// each group of filters after use (another consumer of the same filter tensor).
struct KernelConv2D {
  int kernel_size = ks_2d;
  // With `out` given (1, C, H, W), the result is written there.
  Tensor operator()(const Context& ctx, const Tensor& x, const blocks::StreamedFilters& kernel,
                    const blocks::FilterSink& also = {}, Tensor out = {}) const {
    return blocks::fac_streamed(ctx, x, kernel, kernel_size, also, std::move(out));
  }
};

class DeblurNet final : public Model {
 public:
  DeblurNet(const SafetensorsFile& file, const Context& ctx)
      : Model(ctx, read_image_format(file, "stfan", {{"BGR", "RGB"}, {"0,1"}, 4})) {
    Weights w(file, ctx.device());
    w.require_meta("architecture", "stfan");
    metadata_choice(file, "stfan", "fac_kernel_size", {std::to_string(ks_2d)});
    check_implied_metadata(file, "stfan",
                           {{"variant", {"STFAN"}},
                            {"input_scale", {"255"}},
                            {"output_range", {"0,1"}},
                            {"output_clamped", {"false"}},
                            {"size_policy", size_policies("error")},
                            {"recurrent", {"true"}}});
    // Each block's layers are prepared for the context it runs with (precision_policy.h).
    const PrecisionPolicy precision(ctx);
    const Scope s(w, ctx);
    const auto in = [&](ModelBlock block) { return s.on(precision(block)); };
    const Scope s_enc = in(ModelBlock::StfanEncoder), s_k = in(ModelBlock::StfanFilterEncoder);
    const Scope s_body = in(ModelBlock::StfanFilterBodies), s_fea = in(ModelBlock::StfanFea);
    const Scope s_dec = in(ModelBlock::StfanDecoder);
    fea = Conv(s_fea["fea"], 2 * ch3, ch3, ks, 1);
    // Deblurring Branch: encoder
    conv1_1 = Conv(s_enc["conv1_1"], 3, ch1, ks, 1);
    conv1_2 = ResnetBlock(s_enc["conv1_2"], ch1);
    conv1_3 = ResnetBlock(s_enc["conv1_3"], ch1);
    conv2_1 = Conv(s_enc["conv2_1"], ch1, ch2, ks, 2);
    conv2_2 = ResnetBlock(s_enc["conv2_2"], ch2);
    conv2_3 = ResnetBlock(s_enc["conv2_3"], ch2);
    conv3_1 = Conv(s_enc["conv3_1"], ch2, ch3, ks, 2);
    conv3_2 = ResnetBlock(s_enc["conv3_2"], ch3);
    conv3_3 = ResnetBlock(s_enc["conv3_3"], ch3);
    // decoder
    upconv2_u = upconv(s_dec["upconv2_u"], 2 * ch3, ch2);
    upconv2_2 = ResnetBlock(s_dec["upconv2_2"], ch2);
    upconv2_1 = ResnetBlock(s_dec["upconv2_1"], ch2);
    upconv1_u = upconv(s_dec["upconv1_u"], ch2, ch1);
    upconv1_2 = ResnetBlock(s_dec["upconv1_2"], ch1);
    upconv1_1 = ResnetBlock(s_dec["upconv1_1"], ch1);
    img_prd = Conv(s_dec["img_prd"], ch1, 3, ks);
    // Kernel Prediction Branch
    kconv1_1 = Conv(s_k["kconv1_1"], 9, ch1, ks, 1);
    kconv1_2 = ResnetBlock(s_k["kconv1_2"], ch1);
    kconv1_3 = ResnetBlock(s_k["kconv1_3"], ch1);
    kconv2_1 = Conv(s_k["kconv2_1"], ch1, ch2, ks, 2);
    kconv2_2 = ResnetBlock(s_k["kconv2_2"], ch2);
    kconv2_3 = ResnetBlock(s_k["kconv2_3"], ch2);
    kconv3_1 = Conv(s_k["kconv3_1"], ch2, ch3, ks, 2);
    kconv3_2 = ResnetBlock(s_k["kconv3_2"], ch3);
    kconv3_3 = ResnetBlock(s_k["kconv3_3"], ch3);
    fac_warp =
        FilterHead(s_body["fac_warp"], in(ModelBlock::StfanWarpFilterHead)["fac_warp"][3], ch3);
    // kconv4 = conv(ch3 * ks_2d**2, ch3, kernel_size=1), over kernel_warp's groups
    kconv4 = blocks::ConcatConv2d(
        Conv(in(ModelBlock::StfanKconv4)["kconv4"], ch3 * ks_2d * ks_2d, ch3, 1).conv,
        std::vector<int64_t>(ch3 / kFilterGroup, kFilterGroup * ks_2d * ks_2d));
    fac_deblur = FilterHead(s_body["fac_deblur"],
                            in(ModelBlock::StfanDeblurFilterHead)["fac_deblur"][3], 2 * ch3);
    w.check_all_used();
  }

  // The official test frames are far larger; 4x4 is the network's stride.
  int64_t min_image_size() const override { return 4; }
  std::string architecture() const override { return "stfan"; }
  bool is_recurrent() const override { return true; }

  // The clip's frame size is compared before padding: 37x45 and 38x46 both pad to 40x48.
  void process(const ImageView& in, const MutableImageView& out) override {
    if (last_img_blur_.defined())
      check(in.height == clip_height_ && in.width == clip_width_, "STFAN: frame size ", in.height,
            "x", in.width, " differs from the clip's ", clip_height_, "x", clip_width_,
            "; call reset() to start a new clip");
    Model::process(in, out);
    clip_height_ = in.height;
    clip_width_ = in.width;
  }

  void reset() override {
    last_img_blur_ = Tensor();
    output_last_img_ = Tensor();
    output_last_fea_ = Tensor();
  }

  // One step of the recurrence on the current blurry frame (1, 3, H, W), BGR in [0, 1]:
  // DeblurNet.forward(img_blur, last_img_blur, output_last_img, output_last_fea) with the
  // three state tensors of the test loop (core/test.py) kept here.
  Tensor forward(const Tensor& img_blur) override {
    // Each part runs with the context of its block (the model's own or float, see
    // models/precision_policy.h); ctx is the encoder's, used too for what is not a conv.
    const PrecisionPolicy precision(ctx_);
    const Context& ctx = precision(ModelBlock::StfanEncoder);
    const Context& ctx_k = precision(ModelBlock::StfanFilterEncoder);
    const Context& ctx_body = precision(ModelBlock::StfanFilterBodies);
    const Context& ctx_warp_head = precision(ModelBlock::StfanWarpFilterHead);
    const Context& ctx_kconv4 = precision(ModelBlock::StfanKconv4);
    const Context& ctx_deblur_head = precision(ModelBlock::StfanDeblurFilterHead);
    const Context& ctx_fea = precision(ModelBlock::StfanFea);
    const Context& ctx_dec = precision(ModelBlock::StfanDecoder);
    check(img_blur.dim() == 4 && img_blur.size(0) == 1 && img_blur.size(1) == 3,
          "STFAN: the frame tensor must be (1, 3, H, W), got ", img_blur.shape_str());
    check(img_blur.size(2) % 4 == 0 && img_blur.size(3) % 4 == 0,
          "STFAN: H and W must be multiples of 4, got ", img_blur.size(2), "x", img_blur.size(3));
    if (last_img_blur_.defined())
      check(last_img_blur_.shape() == img_blur.shape(), "STFAN: frame size ", img_blur.size(2), "x",
            img_blur.size(3), " differs from the clip's ", last_img_blur_.size(2), "x",
            last_img_blur_.size(3), "; call reset() to start a new clip");
    // First frame of a clip: the previous blurry and restored frames are the frame itself.
    const Tensor& last_img_blur = last_img_blur_.defined() ? last_img_blur_ : img_blur;
    const Tensor& output_last_img = output_last_img_.defined() ? output_last_img_ : img_blur;

    // conv3 (below) outlives the frame as the next one's output_last_fea: allocated first,
    // while little else is live, it takes the same low place in the allocator's arena every
    // frame instead of a hole between this frame's temporaries (which measured 50 % more
    // memory held at 720p).
    // Every later frame starts with the previous conv3 (output_last_fea_) live below this
    // one; the first frame holds a stand-in of its size there, so that the frames after it
    // find its layout and the pages under it. Measured at 720p (before the carried images
    // below left the arena): the third frame faulted in ~100 MB of fresh pages without it,
    // none with it; releasing the stand-in once kconv_warp is done (as below) kept every later
    // frame at 8 faults, holding it to the end of the frame did not (faults again in the fifth
    // frame, and 3 % more peak memory).
    const int64_t h4 = img_blur.size(2) / 4, w4 = img_blur.size(3) / 4;
    Tensor first_frame_stand_in;
    if (!output_last_fea_.defined()) first_frame_stand_in = ctx.empty({1, 2 * ch3, h4, w4});
    Tensor conv3 = ctx.empty({1, 2 * ch3, h4, w4});

    Tensor merge = concat(ctx, {img_blur, last_img_blur, output_last_img}, 1);

    // Kernel Prediction Branch. kconv1 = self.kconv1_3(self.kconv1_2(self.kconv1_1(merge)))
    // and the like are written chain(merge, kconv1_1, kconv1_2, kconv1_3) (nn::chain).
    Tensor kconv1 = chain(ctx_k, last_use(merge), kconv1_1, kconv1_2, kconv1_3);
    Tensor kconv2 = chain(ctx_k, last_use(kconv1), kconv2_1, kconv2_2, kconv2_3);
    Tensor kconv3 = chain(ctx_k, last_use(kconv2), kconv3_1, kconv3_2, kconv3_3);
    // fac: kernel_warp = self.fac_warp(kconv3) is made group by group while kconv_warp consumes
    // it (below), which needs the deblurring branch first; kconv4 and kernel_deblur follow.

    // Deblurring Branch: encoder blur
    Tensor conv1_d = chain(ctx, img_blur, conv1_1, conv1_2, conv1_3);
    Tensor conv2_d = chain(ctx, last_use(conv1_d), conv2_1, conv2_2, conv2_3);
    Tensor conv3_d = chain(ctx, last_use(conv2_d), conv3_1, conv3_2, conv3_3);

    // encoder last_clear
    Tensor output_last_fea =
        output_last_fea_.defined() ? output_last_fea_ : concat(ctx, {conv3_d, conv3_d}, 1);
    output_last_fea = fea(ctx_fea, output_last_fea);

    // conv3 = cat([conv3_d_k, conv_a_k], 1) (below) is never assembled by a concat: both
    // FAC layers write their outputs straight into its two halves.
    const Tensor conv3_planes = conv3.reshape({2 * ch3, h4, w4});
    auto conv3_half = [&](int64_t i) {
      return conv3_planes.slice0(i * ch3, (i + 1) * ch3).reshape({1, ch3, h4, w4});
    };

    // conv_a_k = kconv_warp(output_last_fea, kernel_warp), and kconv4 = kconv4(kernel_warp)
    // summed over the same groups of kernel_warp as they are made. Each filter head's
    // StreamedFilters (its features) lives in a scope of its own: released once its FAC is done.
    blocks::ConcatConv2d::RunningSum kconv4_of_kernel_warp = kconv4.running_sum(ctx_kconv4);
    {
      const blocks::StreamedFilters kernel_warp = fac_warp.filters_streamed(ctx_body, kconv3);
      kconv_warp(ctx_warp_head, last_use(output_last_fea), kernel_warp,
                 kconv4_of_kernel_warp.as_sink(), conv3_half(1));
    }
    Tensor kconv4_out = kconv4_of_kernel_warp.result();
    first_frame_stand_in = Tensor();
    {
      const blocks::StreamedFilters kernel_deblur = fac_deblur.filters_streamed(
          ctx_body, concat(ctx, {last_use(kconv3), last_use(kconv4_out)}, 1));
      // conv3_d_k = kconv_deblur(conv3_d, kernel_deblur); conv3 = cat([conv3_d_k, conv_a_k], 1)
      kconv_deblur(ctx_deblur_head, last_use(conv3_d), kernel_deblur, {}, conv3_half(0));
    }

    // decoder
    Tensor upconv2 = chain(ctx_dec, conv3, upconv2_u, upconv2_2, upconv2_1);
    Tensor upconv1 = chain(ctx_dec, last_use(upconv2), upconv1_u, upconv1_2, upconv1_1);
    Tensor output_img = img_prd(ctx_dec, last_use(upconv1), nn::plus(img_blur));
    Tensor output_fea = conv3;

    // State for the next frame (core/test.py): the output is carried clamped, the feature as is.
    // The two images are copied into buffers of their own, outside the frame's arena, reused
    // from frame to frame: held in the arena until the next frame ends, they sat among that
    // frame's blocks wherever this one had left them and shifted its layout (at 720p the
    // second frame faulted in ~120 MB of fresh pages for it).
    Tensor clamped = clamp(ctx, output_img, 0.f, 1.f);
    Tensor blur_slot = carried_slot(last_img_blur_, img_blur);
    Tensor img_slot = carried_slot(output_last_img_, clamped);
    // Only now, with nothing left that can fail, does the state change.
    memory::copy(blur_slot.data(), blur_slot.device(), img_blur.data(), img_blur.device(),
                 img_blur.nbytes());
    memory::copy(img_slot.data(), img_slot.device(), clamped.data(), clamped.device(),
                 clamped.nbytes());
    last_img_blur_ = std::move(blur_slot);
    output_last_img_ = std::move(img_slot);
    output_last_fea_ = std::move(output_fea);
    clip_height_ = img_blur.size(2);
    clip_width_ = img_blur.size(3);
    return output_img;
  }

 private:
  Conv fea;
  Conv conv1_1, conv2_1, conv3_1;
  ResnetBlock conv1_2, conv1_3, conv2_2, conv2_3, conv3_2, conv3_3;
  KernelConv2D kconv_warp, kconv_deblur;
  nn::Sequential upconv2_u, upconv1_u;
  ResnetBlock upconv2_2, upconv2_1, upconv1_2, upconv1_1;
  Conv img_prd;
  Conv kconv1_1, kconv2_1, kconv3_1;
  ResnetBlock kconv1_2, kconv1_3, kconv2_2, kconv2_3, kconv3_2, kconv3_3;
  FilterHead fac_warp;
  blocks::ConcatConv2d kconv4;
  FilterHead fac_deblur;

  // The buffer `slot` when it can hold a copy of t, else a new one (not from the Context).
  static Tensor carried_slot(const Tensor& slot, const Tensor& t) {
    if (slot.defined() && slot.shape() == t.shape() && slot.device() == t.device()) return slot;
    return Tensor::empty(t.shape(), t.device());
  }

  Tensor last_img_blur_, output_last_img_, output_last_fea_;
  int64_t clip_height_ = 0, clip_width_ = 0;  // real (unpadded) size of the clip's frames
};

}  // namespace

std::unique_ptr<Model> load_stfan(const SafetensorsFile& file, const Context& ctx) {
  return std::make_unique<DeblurNet>(file, ctx);
}

}  // namespace deblurcore
