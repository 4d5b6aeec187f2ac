// STFAN (Zhou et al., ICCV 2019): spatio-temporal filter adaptive network for video
// deblurring. Member names are the official state_dict names so that forward() reads side by
// side with the original DeblurNet. Layer semantics: the STFAN reference spec.
#include <optional>
#include <vector>

#include "deblurcore/error.h"
#include "deblurcore/safetensors.h"
#include "models/layers.h"
#include "models/registry.h"

namespace deblurcore {

namespace {

constexpr float kSlope = 0.1f;  // every LeakyReLU of STFAN
constexpr int kFacSize = 5;     // both FAC layers are 5x5

const Epilogue kLrelu = Epilogue::leaky_relu(kSlope);

// STFAN's ResnetBlock: x + conv(lrelu(conv(x))), no activation after the sum; keys
// `<name>.stem.0.*` and `<name>.stem.2.*`.
struct ResnetBlock {
  Conv2d stem0, stem2;
  static ResnetBlock load(Weights& w, const std::string& name, int64_t c) {
    return {Conv2d::load(w, name + ".stem.0", c, c, 3), Conv2d::load(w, name + ".stem.2", c, c, 3)};
  }
  Tensor operator()(const Context& ctx, const Tensor& x) const {
    Epilogue add_input;
    add_input.residual = x;
    return stem2(ctx, stem0(ctx, x, kLrelu), add_input);
  }
};

// `upconv(cin, cout)`: ConvTranspose2d(4, stride 2, padding 1) + LeakyReLU(0.1); keys `<name>.0.*`.
struct UpconvLrelu {
  ConvTranspose2d conv;
  static UpconvLrelu load(Weights& w, const std::string& name, int64_t cin, int64_t cout) {
    return {ConvTranspose2d::load(w, name + ".0", cin, cout, 4, 2, 1)};
  }
  Tensor operator()(const Context& ctx, const Tensor& x) const { return conv(ctx, x, kLrelu); }
};

// The channels [c0, c1) of a (1, C, H, W) tensor, sharing its memory.
Tensor channels(const Tensor& t, int64_t c0, int64_t c1) {
  const int64_t C = t.size(1), H = t.size(2), W = t.size(3);
  return t.reshape({C, H, W}).slice0(c0, c1).reshape({1, c1 - c0, H, W});
}

// fac_warp / fac_deblur: [conv 3x3 + lrelu, ResnetBlock, ResnetBlock, conv 1x1 -> C*25 + lrelu],
// whose output is the per-pixel filter tensor of a FAC layer.
//
// The filter tensor has 128*25 = 3200 channels (737 MB at 720p). FAC channel c reads only the
// filter channels [25c, 25c + 25), so the last 1x1 conv and the FAC are computed together in
// groups of kGroup feature channels: only one group's filters (92 MB at 720p) exist at a time.
// Bit for bit this is the same computation as the whole conv followed by the whole FAC.
struct FilterHead {
  static constexpr int64_t kGroup = 16;  // feature channels per group; divides 128
  static constexpr int64_t kTaps = int64_t(kFacSize) * kFacSize;

  ConvLrelu c0;
  ResnetBlock r1, r2;
  ConvLrelu c3;  // the 1x1 conv to 128*25 filter channels (official keys `<name>.3.0.*`)

  static FilterHead load(Weights& w, const std::string& name, int64_t cin) {
    return {ConvLrelu::load(w, name + ".0", cin, 128, 3), ResnetBlock::load(w, name + ".1", 128),
            ResnetBlock::load(w, name + ".2", 128),
            ConvLrelu::load(w, name + ".3", 128, 128 * kTaps, 1)};
  }

  // The head up to (not including) its last conv.
  Tensor features(const Context& ctx, const Tensor& x) const { return r2(ctx, r1(ctx, c0(ctx, x))); }

  // The filters of feature channels [g0, g1): lrelu(conv1x1(features)) restricted to the
  // filter channels [25*g0, 25*g1).
  Tensor filters(const Context& ctx, const Tensor& features, int64_t g0, int64_t g1) const {
    const Tensor w = c3.conv.weight.slice0(g0 * kTaps, g1 * kTaps);
    const Tensor b = c3.conv.bias.slice0(g0 * kTaps, g1 * kTaps);
    return conv2d(ctx, features, w, b, 1, 0, 1, kLrelu);
  }

  // FAC(x, head(input)), group by group; appends the groups' outputs to `out` (so that a
  // concat can assemble them). `each_group(g0, g1, filters)` sees every group's filters.
  template <typename OnFilters>
  void fac(const Context& ctx, const Tensor& input, const Tensor& x, std::vector<Tensor>& out,
           OnFilters each_group) const {
    const Tensor f = features(ctx, input);
    for (int64_t g0 = 0; g0 < x.size(1); g0 += kGroup) {
      const int64_t g1 = g0 + kGroup;
      Tensor k = filters(ctx, f, g0, g1);
      out.push_back(deblurcore::fac(ctx, channels(x, g0, g1), k, kFacSize));
      each_group(g0, g1, k);
    }
  }
};

// kconv4: lrelu(conv1x1(kernel_warp) + b), 3200 -> 128 channels, accumulated over the filter
// groups of the warp head as they are produced (the sum over input channels is split into
// partial sums; only the summation order differs from one 1x1 conv).
struct Kconv4 {
  Tensor bias;
  std::vector<Tensor> weight_groups;  // weight[:, 25*g0 : 25*g1] per group, made contiguous

  static Kconv4 load(Weights& w, const std::string& name, int64_t cin, int64_t cout,
                     int64_t group_cols) {
    const Tensor weight = w.get(name + ".0.weight", {cout, cin, 1, 1});
    Kconv4 k;
    k.bias = w.get(name + ".0.bias", {cout});
    const Tensor host = weight.to(Device::CPU);
    for (int64_t c0 = 0; c0 < cin; c0 += group_cols) {
      Tensor g = Tensor::empty({cout, group_cols, 1, 1});
      for (int64_t o = 0; o < cout; ++o)
        for (int64_t i = 0; i < group_cols; ++i) g.data()[o * group_cols + i] = host.data()[o * cin + c0 + i];
      k.weight_groups.push_back(g.to(weight.device()));
    }
    return k;
  }

  // Adds the contribution of filter group `index` to `acc`; the last group adds the bias and
  // applies the LeakyReLU.
  void accumulate(const Context& ctx, size_t index, const Tensor& filters, Tensor& acc) const {
    const bool last = index + 1 == weight_groups.size();
    Epilogue e = last ? kLrelu : Epilogue{};
    e.residual = acc;
    e.residual_position = Epilogue::Residual::BeforeActivation;
    acc = conv2d(ctx, filters, weight_groups[index], last ? bias : Tensor(), 1, 0, 1, e);
  }
};

class STFAN final : public Model {
 public:
  STFAN(const SafetensorsFile& file, const Context& ctx) : Model(ctx, format_of(file)) {
    Weights w(file, ctx.device());
    w.require_meta("architecture", "stfan");
    fea = ConvLrelu::load(w, "fea", 2 * c3, c3, 3);
    // deblurring branch (encoder)
    conv1_1 = ConvLrelu::load(w, "conv1_1", 3, c1, 3);
    conv1_2 = ResnetBlock::load(w, "conv1_2", c1);
    conv1_3 = ResnetBlock::load(w, "conv1_3", c1);
    conv2_1 = ConvLrelu::load(w, "conv2_1", c1, c2, 3, 2);
    conv2_2 = ResnetBlock::load(w, "conv2_2", c2);
    conv2_3 = ResnetBlock::load(w, "conv2_3", c2);
    conv3_1 = ConvLrelu::load(w, "conv3_1", c2, c3, 3, 2);
    conv3_2 = ResnetBlock::load(w, "conv3_2", c3);
    conv3_3 = ResnetBlock::load(w, "conv3_3", c3);
    // decoder
    upconv2_u = UpconvLrelu::load(w, "upconv2_u", 2 * c3, c2);
    upconv2_2 = ResnetBlock::load(w, "upconv2_2", c2);
    upconv2_1 = ResnetBlock::load(w, "upconv2_1", c2);
    upconv1_u = UpconvLrelu::load(w, "upconv1_u", c2, c1);
    upconv1_2 = ResnetBlock::load(w, "upconv1_2", c1);
    upconv1_1 = ResnetBlock::load(w, "upconv1_1", c1);
    img_prd = ConvLrelu::load(w, "img_prd", c1, 3, 3);
    // kernel-prediction branch
    kconv1_1 = ConvLrelu::load(w, "kconv1_1", 9, c1, 3);
    kconv1_2 = ResnetBlock::load(w, "kconv1_2", c1);
    kconv1_3 = ResnetBlock::load(w, "kconv1_3", c1);
    kconv2_1 = ConvLrelu::load(w, "kconv2_1", c1, c2, 3, 2);
    kconv2_2 = ResnetBlock::load(w, "kconv2_2", c2);
    kconv2_3 = ResnetBlock::load(w, "kconv2_3", c2);
    kconv3_1 = ConvLrelu::load(w, "kconv3_1", c2, c3, 3, 2);
    kconv3_2 = ResnetBlock::load(w, "kconv3_2", c3);
    kconv3_3 = ResnetBlock::load(w, "kconv3_3", c3);
    fac_warp = FilterHead::load(w, "fac_warp", c3);
    kconv4 = Kconv4::load(w, "kconv4", c3 * FilterHead::kTaps, c3, FilterHead::kGroup * FilterHead::kTaps);
    fac_deblur = FilterHead::load(w, "fac_deblur", 2 * c3);
    w.check_all_used();
  }

  std::string architecture() const override { return "stfan"; }
  bool is_recurrent() const override { return true; }

  void reset() override {
    last_img_blur_ = Tensor();
    output_last_img_ = Tensor();
    output_last_fea_ = Tensor();
  }

  // One step of the recurrence on the current blurry frame (1, 3, H, W), BGR in [0, 1].
  Tensor forward(const Tensor& img_blur) override {
    const Context& ctx = ctx_;
    check(img_blur.dim() == 4 && img_blur.size(0) == 1 && img_blur.size(1) == 3,
          "STFAN: the frame tensor must be (1, 3, H, W), got ", img_blur.shape_str());
    check(img_blur.size(2) % 4 == 0 && img_blur.size(3) % 4 == 0,
          "STFAN: H and W must be multiples of 4, got ", img_blur.size(2), "x", img_blur.size(3));
    if (last_img_blur_.defined())
      check(last_img_blur_.shape() == img_blur.shape(), "STFAN: frame size ",
            img_blur.size(2), "x", img_blur.size(3), " differs from the clip's ",
            last_img_blur_.size(2), "x", last_img_blur_.size(3), "; call reset() to start a new clip");
    // First frame of a clip: the previous blurry and restored frames are the frame itself.
    const Tensor& last_img_blur = last_img_blur_.defined() ? last_img_blur_ : img_blur;
    const Tensor& output_last_img = output_last_img_.defined() ? output_last_img_ : img_blur;

    // The two 3200-channel filter tensors (737 MB each at 720p) are never made whole: see
    // FilterHead. The branches run in another order than the original's; results are the same.
    // Deblurring branch (encoder), only the current frame enters it.
    Tensor conv3_d;
    {
      Tensor conv1_d = conv1_3(ctx, conv1_2(ctx, conv1_1(ctx, img_blur)));
      Tensor conv2_d = conv2_3(ctx, conv2_2(ctx, conv2_1(ctx, conv1_d)));
      conv3_d = conv3_3(ctx, conv3_2(ctx, conv3_1(ctx, conv2_d)));
    }
    // Kernel-prediction branch.
    Tensor kconv3;
    {
      Tensor merge = concat(ctx, {img_blur, last_img_blur, output_last_img}, 1);
      Tensor kconv1 = kconv1_3(ctx, kconv1_2(ctx, kconv1_1(ctx, merge)));
      Tensor kconv2 = kconv2_3(ctx, kconv2_2(ctx, kconv2_1(ctx, kconv1)));
      kconv3 = kconv3_3(ctx, kconv3_2(ctx, kconv3_1(ctx, kconv2)));
    }
    // Alignment of the previous frame's feature with the warp filters, and kconv4, which
    // reads the warp filters too: both consume each group of filters as it is made.
    std::vector<Tensor> conv3_parts;  // conv3 = cat(FAC(conv3_d, deblur), FAC(fea(prev), warp))
    std::vector<Tensor> conv_a_k;
    Tensor kconv4_out = ctx.zeros({1, c3, kconv3.size(2), kconv3.size(3)});
    {
      Tensor last_fea = output_last_fea_.defined() ? output_last_fea_
                                                   : concat(ctx, {conv3_d, conv3_d}, 1);
      size_t group = 0;
      fac_warp.fac(ctx, kconv3, fea(ctx, last_fea), conv_a_k,
                   [&](int64_t, int64_t, const Tensor& k) { kconv4.accumulate(ctx, group++, k, kconv4_out); });
    }
    // Deblurring of the current frame's feature with the deblur filters.
    fac_deblur.fac(ctx, concat(ctx, {kconv3, kconv4_out}, 1), conv3_d, conv3_parts,
                   [](int64_t, int64_t, const Tensor&) {});
    conv3_parts.insert(conv3_parts.end(), conv_a_k.begin(), conv_a_k.end());
    Tensor conv3 = concat(ctx, conv3_parts, 1);
    // Decoder (note: upconv*_2 runs before upconv*_1, as in the original).
    Tensor upconv2 = upconv2_1(ctx, upconv2_2(ctx, upconv2_u(ctx, conv3)));
    Tensor upconv1 = upconv1_1(ctx, upconv1_2(ctx, upconv1_u(ctx, upconv2)));
    Epilogue lrelu_plus_input = kLrelu;  // lrelu(img_prd(upconv1)) + img_blur
    lrelu_plus_input.residual = img_blur;
    Tensor output_img = img_prd.conv(ctx, upconv1, lrelu_plus_input);

    // State for the next frame: the output is carried clamped, the feature as is.
    last_img_blur_ = img_blur;
    output_last_img_ = clamp(ctx, output_img, 0.f, 1.f);
    output_last_fea_ = conv3;
    return output_img;
  }

 private:
  static ImageFormat format_of(const SafetensorsFile& file) {
    ImageFormat f;
    f.bgr = file.metadata_value("channel_order", "BGR") == "BGR";
    f.range = ImageFormat::Range::Unit;
    f.size_multiple = 4;
    return f;
  }

  static constexpr int64_t c1 = 32, c2 = 64, c3 = 128;

  ConvLrelu fea;
  ConvLrelu conv1_1, conv2_1, conv3_1;
  ResnetBlock conv1_2, conv1_3, conv2_2, conv2_3, conv3_2, conv3_3;
  UpconvLrelu upconv2_u, upconv1_u;
  ResnetBlock upconv2_2, upconv2_1, upconv1_2, upconv1_1;
  ConvLrelu img_prd;
  ConvLrelu kconv1_1, kconv2_1, kconv3_1;
  ResnetBlock kconv1_2, kconv1_3, kconv2_2, kconv2_3, kconv3_2, kconv3_3;
  FilterHead fac_warp, fac_deblur;
  Kconv4 kconv4;

  Tensor last_img_blur_, output_last_img_, output_last_fea_;
};

}  // namespace

std::unique_ptr<Model> load_stfan(const SafetensorsFile& file, const Context& ctx) {
  return std::make_unique<STFAN>(file, ctx);
}

}  // namespace deblurcore
