// IFAN (Lee et al., CVPR 2021): iterative filter adaptive network for single-image defocus
// deblurring. A transcription of Network (models/archs/IFAN.py, models/nn_common.py):
// members carry the official state_dict names (without the checkpoint's 'module.Network.'
// prefix, which the converter strips) and forward() reads beside the original. Layer
// semantics: the IFAN reference spec.
//
// Variants (one class), from the weights' metadata (written by `deblurcore convert`, which
// detects them from the tensors; the shapes are checked here as every weight is loaded):
// `iterations` N = 17 (IFAN, IFAN_16bit), 8, 26, 35, 44; `bit_depth` 16 for the model
// trained on 16-bit images (input scaling only); `dual_pixel`: the filter encoder reads
// cat(R, L) (6 channels) instead of the image.
//
// The filter tensor F (896*N channels, 877 MB at 720p for N = 17) is never made whole: the
// official IAC reads only the F1 and bias rows of it (its horizontal pass reuses F1; the
// released weights were trained that way) and iteration i only its own, so F's last 1x1 conv
// is split at load time by iteration into the 384 F1_i and 128 b_i rows, each computed right
// before its iteration (blocks/streamed_filters.h): 30 MB alive at 720p.
#include "deblurcore/ifan.h"
#include "blocks/adaptive_conv_streamed.h"
#include "blocks/streamed_filters.h"
#include "deblurcore/error.h"
#include "deblurcore/ops.h"
#include "deblurcore/safetensors.h"
#include "models/metadata.h"
#include "models/precision_policy.h"
#include "models/registry.h"
#include "nn/layers.h"

namespace deblurcore {

namespace {

using nn::last_use;
using nn::Scope;

constexpr float kSlope = 0.1f;  // every LeakyReLU of IFAN
constexpr int ks = 3, Fs = 3;   // config.ks, config.Fs
constexpr int res_num = 2;      // config.res_num
constexpr int64_t ch1 = 32, ch2 = ch1 * 2, ch3 = ch1 * 4, ch4 = ch1 * 4;

// nn_common.conv: Sequential(Conv2d(padding (k-1)/2), LeakyReLU); keys `<name>.0.*`.
struct Conv {
  nn::Conv2d conv;  // <name>.0, with <name>.1 (the LeakyReLU) fused
  Conv() = default;
  Conv(const Scope& s, int64_t cin, int64_t cout, int kernel_size = 3, int stride = 1)
      : conv(s[0], cin, cout, kernel_size, stride, (kernel_size - 1) / 2) {
    conv.activation = Epilogue::leaky_relu(kSlope);
  }
  Tensor operator()(const Context& ctx, const Tensor& x) const { return conv(ctx, x); }
  Tensor operator()(const Context& ctx, const Tensor& x, const nn::Plus& p) const {
    return conv(ctx, x, p);
  }
};

// nn_common.upconv: Sequential(ConvTranspose2d(4, stride 2, padding 1), LeakyReLU).
nn::Sequential upconv(const Scope& s, int64_t cin, int64_t cout) {
  return nn::Sequential(s).add<nn::ConvTranspose2d>(cin, cout, 4, 2, 1).add(nn::LeakyReLU{kSlope});
}

// nn_common.ResnetBlock(res_num): stem = ModuleList of Sequential(Conv2d, LeakyReLU, Conv2d);
// x = leaky_relu(x + stem[i](x)) for each, then + the block input when res_num > 1.
struct ResnetBlock {
  std::vector<nn::Sequential> stem;
  ResnetBlock() = default;
  ResnetBlock(const Scope& s, int64_t c, int res_num_) {
    for (int i = 0; i < res_num_; ++i)
      stem.push_back(nn::Sequential(s["stem"][i])
                         .add<nn::Conv2d>(c, c, ks, 1, (ks - 1) / 2)
                         .add(nn::LeakyReLU{kSlope})
                         .add<nn::Conv2d>(c, c, ks, 1, (ks - 1) / 2));
  }
  Tensor operator()(const Context& ctx, const Tensor& input) const {
    Tensor x = input;
    for (const nn::Sequential& unit : stem) x = unit(ctx, x, nn::plus_then_leaky_relu(x, kSlope));
    if (stem.size() > 1) x = add(ctx, x, input);
    return x;
  }
};

// self.F = Sequential(conv(ch4, ch4), resnet_block, resnet_block, Conv2d 1x1 ch4 -> 896*N):
// children 0-2 run as usual; the last conv is streamed, one group per IAC iteration i made of
// its F1_i rows [768i, 768i + 384) and b_i rows [768N + 128i, 768N + 128i + 128); the F2 rows
// are never read by the official IAC, so never computed.
struct FilterPredictor {
  nn::Sequential body;           // F.0 .. F.2
  blocks::StreamedConv1x1 last;  // F.3
  FilterPredictor() = default;
  // head: the scope of F.3 (with the context of ModelBlock::IfanFilterHead).
  FilterPredictor(const Scope& s, const Scope& head, int N)
      : body(nn::Sequential(s)
                 .add<Conv>(ch4, ch4, ks)
                 .add<ResnetBlock>(ch4, res_num)
                 .add<ResnetBlock>(ch4, res_num)) {
    const int64_t ck = ch4 * Fs, kernel_dim = N * (ck * 2) + N * ch4;
    std::vector<std::vector<blocks::StreamedConv1x1::RowRange>> per_iteration;
    for (int64_t i = 0; i < N; ++i)
      per_iteration.push_back(
          {{2 * ck * i, 2 * ck * i + ck}, {2 * ck * N + ch4 * i, 2 * ck * N + ch4 * (i + 1)}});
    last = blocks::StreamedConv1x1(nn::Conv2d(head, ch4, kernel_dim, 1), per_iteration);
  }
  // self.F(f), made iteration by iteration by the IAC.
  blocks::StreamedFilters filters_streamed(const Context& ctx, const Tensor& f) const {
    return {last, body(ctx, f)};
  }
};

class Network final : public IfanModel {
 public:
  Network(const SafetensorsFile& file, const Context& ctx)
      : IfanModel(ctx, read_image_format(file, "ifan", {{"RGB", "BGR"}, {"0,1"}, 8})) {
    Weights w(file, ctx.device());
    w.require_meta("architecture", "ifan");
    const std::string& path = file.path();
    N = metadata_positive_int(file, "iterations",
                              "the number of IAC iterations N, 1/896 of the rows of F.3.weight");
    const Shape f3 = file.contains("F.3.weight") ? file.shape("F.3.weight") : Shape{};
    check(f3.empty() || (f3.size() == 4 && f3[0] == 896 * int64_t(N)), path,
          ": metadata iterations=", N, " needs F.3.weight of ", 896 * int64_t(N),
          " rows, but it is ", shape_str(f3));
    dual_ = metadata_choice(file, "ifan", "dual_pixel", {"false", "true"}) == "true";
    bit_depth_ = metadata_choice(file, "ifan", "bit_depth", {"8", "16"}) == "16" ? 16 : 8;
    const std::string scale = metadata_choice(file, "ifan", "input_scale", {"255", "65535"});
    check(scale == (bit_depth_ == 16 ? "65535" : "255"), path, ": metadata input_scale=", scale,
          " does not match bit_depth=", bit_depth_);
    check(!(bit_depth_ == 16 && dual_), path, ": there is no 16-bit dual-pixel IFAN");
    metadata_choice(file, "ifan", "iac_filter_size", {std::to_string(Fs)});
    // The variant name the converter derives from N, dual_pixel and bit_depth.
    const std::string suffix = N == 17 ? "" : "_" + std::to_string(N);
    variant_ = bit_depth_ == 16 ? "IFAN_16bit" : (dual_ ? "IFAN_dual" : "IFAN") + suffix;
    check_implied_metadata(file, "ifan",
                           {{"variant", {variant_}},
                            {"inputs", {dual_ ? "C,R,L" : "C"}},
                            {"output_range", {"0,1"}},
                            {"output_clamped", {"true"}},
                            {"size_policy", size_policies("crop")},
                            {"recurrent", {"false"}}});

    // Each block's layers are prepared for the context it runs with (precision_policy.h).
    const PrecisionPolicy precision(ctx);
    const Scope s(w, ctx);
    const Scope s_feat = s.on(precision(ModelBlock::IfanFeatures));
    const Scope s_k = s.on(precision(ModelBlock::IfanFilterEncoder));
    const Scope s_f = s.on(precision(ModelBlock::IfanFilterPredictor));
    const Scope s_r = s.on(precision(ModelBlock::IfanReconstructor));
    const Scope s_head = s.on(precision(ModelBlock::IfanFilterHead));
    // feature extractor
    conv1_1 = Conv(s_feat["conv1_1"], 3, ch1, ks, 1);
    conv1_2 = Conv(s_feat["conv1_2"], ch1, ch1, ks, 1);
    conv1_3 = Conv(s_feat["conv1_3"], ch1, ch1, ks, 1);
    conv2_1 = Conv(s_feat["conv2_1"], ch1, ch2, ks, 2);
    conv2_2 = Conv(s_feat["conv2_2"], ch2, ch2, ks, 1);
    conv2_3 = Conv(s_feat["conv2_3"], ch2, ch2, ks, 1);
    conv3_1 = Conv(s_feat["conv3_1"], ch2, ch3, ks, 2);
    conv3_2 = Conv(s_feat["conv3_2"], ch3, ch3, ks, 1);
    conv3_3 = Conv(s_feat["conv3_3"], ch3, ch3, ks, 1);
    conv4_1 = Conv(s_feat["conv4_1"], ch3, ch4, ks, 2);
    conv4_2 = Conv(s_feat["conv4_2"], ch4, ch4, ks, 1);
    conv4_3 = Conv(s_feat["conv4_3"], ch4, ch4, ks, 1);
    conv4_4 = nn::Sequential(s_f["conv4_4"])
                  .add<Conv>(2 * ch4, ch4, ks)
                  .add<ResnetBlock>(ch4, res_num)
                  .add<ResnetBlock>(ch4, res_num)
                  .add<Conv>(ch4, ch4, ks);
    // reconstructor
    conv_res = nn::Sequential(s_r["conv_res"])
                   .add<Conv>(ch4, ch4, ks)
                   .add<ResnetBlock>(ch4, 3)
                   .add<Conv>(ch4, ch4, ks);
    upconv3_u = upconv(s_r["upconv3_u"], ch4, ch3);
    upconv3_1 = ResnetBlock(s_r["upconv3_1"], ch3, 1);
    upconv3_2 = ResnetBlock(s_r["upconv3_2"], ch3, 1);
    upconv2_u = upconv(s_r["upconv2_u"], ch3, ch2);
    upconv2_1 = ResnetBlock(s_r["upconv2_1"], ch2, 1);
    upconv2_2 = ResnetBlock(s_r["upconv2_2"], ch2, 1);
    upconv1_u = upconv(s_r["upconv1_u"], ch2, ch1);
    upconv1_1 = ResnetBlock(s_r["upconv1_1"], ch1, 1);
    upconv1_2 = ResnetBlock(s_r["upconv1_2"], ch1, 1);
    out_res = Conv(s_r["out_res"], ch1, 3, ks);
    // filter encoder (IFAN_dual: it reads cat(R, L))
    kconv1_1 = Conv(s_k["kconv1_1"], dual_ ? 6 : 3, ch1, ks, 1);
    kconv1_2 = Conv(s_k["kconv1_2"], ch1, ch1, ks, 1);
    kconv1_3 = Conv(s_k["kconv1_3"], ch1, ch1, ks, 1);
    kconv2_1 = Conv(s_k["kconv2_1"], ch1, ch2, ks, 2);
    kconv2_2 = Conv(s_k["kconv2_2"], ch2, ch2, ks, 1);
    kconv2_3 = Conv(s_k["kconv2_3"], ch2, ch2, ks, 1);
    kconv3_1 = Conv(s_k["kconv3_1"], ch2, ch3, ks, 2);
    kconv3_2 = Conv(s_k["kconv3_2"], ch3, ch3, ks, 1);
    kconv3_3 = Conv(s_k["kconv3_3"], ch3, ch3, ks, 1);
    kconv4_1 = Conv(s_k["kconv4_1"], ch3, ch4, ks, 2);
    kconv4_2 = Conv(s_k["kconv4_2"], ch4, ch4, ks, 1);
    kconv4_3 = Conv(s_k["kconv4_3"], ch4, ch4, ks, 1);
    // disparity map estimator; its last conv has act=None: a bare Conv2d
    DME = nn::Sequential(s_f["DME"])
              .add<Conv>(ch4, ch4, ks)
              .add<ResnetBlock>(ch4, res_num)
              .add<ResnetBlock>(ch4, res_num)
              .add<nn::Conv2d>(ch4, 1, 3, 1, 1);
    // filter predictor
    conv_DME = Conv(s_f["conv_DME"], 1, ch4, 3);
    F = FilterPredictor(s_f["F"], s_head["F"][3], N);
    w.check_all_used();
  }

  std::string architecture() const override { return "ifan"; }
  std::string variant() const override { return variant_; }
  int iterations() const override { return N; }
  bool dual_pixel() const override { return dual_; }
  int bit_depth() const override { return bit_depth_; }
  bool takes_16bit_images() const override { return bit_depth_ == 16; }

  // C: (1, 3, H, W) RGB in [0, 1], H and W multiples of 8. Returns out before the clip.
  Tensor forward(const Tensor& C) override {
    check(!dual_, "IFAN_dual needs the right and left dual-pixel views: use forward_dual(C, R, L)");
    check_input_tensor("C", C, C.shape());
    return network(C, C);
  }

  Tensor forward_dual(const Tensor& C, const Tensor& R, const Tensor& L) override {
    check(dual_, "forward_dual: this IFAN variant (", variant_,
          ") is not the dual-pixel model; use forward(C)");
    check_input_tensor("C", C, C.shape());
    check_input_tensor("R", R, C.shape());
    check_input_tensor("L", L, C.shape());
    return network(C, concat(ctx_, {R, L}, 1));
  }

  void process(const ImageView& in, const MutableImageView& out) override {
    check(!dual_, "IFAN_dual needs the right and left dual-pixel views: use process_dual");
    Model::process(in, out);
  }

  void process_dual(const ImageView& in, const ImageView& right, const ImageView& left,
                    const MutableImageView& out) override {
    check(dual_, "process_dual: this IFAN variant (", variant_,
          ") is not the dual-pixel model; use process");
    check_images(in, out);
    check_same_image("right", right, in);
    check_same_image("left", left, in);
    check_finite_image(right, "right");
    check_finite_image(left, "left");
    const Tensor c = image_to_tensor(ctx_, in, format_);
    const Tensor r = image_to_tensor(ctx_, right, format_);
    const Tensor l = image_to_tensor(ctx_, left, format_);
    tensor_to_image(forward_dual(c, r, l), format_, out);
  }

 private:
  // Network.forward(C) with `K` the filter encoder's input (C; cat(R, L) for IFAN_dual).
  Tensor network(const Tensor& C, const Tensor& K) const {
    const PrecisionPolicy precision(ctx_);
    // feature extractor
    const Context& ctx = precision(ModelBlock::IfanFeatures);
    Tensor f1 = nn::chain(ctx, C, conv1_1, conv1_2, conv1_3);
    Tensor f2 = nn::chain(ctx, f1, conv2_1, conv2_2, conv2_3);
    Tensor f3 = nn::chain(ctx, f2, conv3_1, conv3_2, conv3_3);
    Tensor f_C = nn::chain(ctx, f3, conv4_1, conv4_2, conv4_3);

    // filter encoder
    const Context& ctx_k = precision(ModelBlock::IfanFilterEncoder);
    Tensor f = nn::chain(ctx_k, K, kconv1_1, kconv1_2, kconv1_3);
    f = nn::chain(ctx_k, last_use(f), kconv2_1, kconv2_2, kconv2_3);
    f = nn::chain(ctx_k, last_use(f), kconv3_1, kconv3_2, kconv3_3);
    f = nn::chain(ctx_k, last_use(f), kconv4_1, kconv4_2, kconv4_3);

    // disparity map estimator
    const Context& ctx_f = precision(ModelBlock::IfanFilterPredictor);
    Tensor DM = DME(ctx_f, f);

    // filter predictor
    Tensor f_DM = conv_DME(ctx_f, DM);
    f = conv4_4(ctx_f, concat(ctx_f, {f, f_DM}, 1));
    const blocks::StreamedFilters F_ = F.filters_streamed(ctx_f, f);  // F = self.F(f), streamed

    // IAC
    // (the last conv of F runs group by group inside it)
    f = blocks::iac_streamed(precision(ModelBlock::IfanFilterHead), last_use(f_C), F_, Fs);

    // reconstructor
    const Context& ctx_r = precision(ModelBlock::IfanReconstructor);
    f = conv_res(ctx_r, f);

    f = upconv3_u(ctx_r, f, nn::plus(last_use(f3)));
    f = nn::chain(ctx_r, last_use(f), upconv3_1, upconv3_2);

    f = upconv2_u(ctx_r, f, nn::plus(last_use(f2)));
    f = nn::chain(ctx_r, last_use(f), upconv2_1, upconv2_2);

    f = upconv1_u(ctx_r, f, nn::plus(last_use(f1)));
    f = nn::chain(ctx_r, last_use(f), upconv1_1, upconv1_2);

    // out = self.out_res(f) + C. The official eval network clips it to [0, 1] here;
    // forward() returns the raw out and the clip happens when it becomes an image.
    return out_res(ctx_r, f, nn::plus(C));
  }

  static void check_same_image(const char* name, const ImageView& view, const ImageView& in) {
    check(view.height == in.height && view.width == in.width, name,
          " view must have the image shape ", in.height, "x", in.width, " like the image, got ",
          view.height, "x", view.width);
    check<TypeError>(view.type == in.type, name, " view must have the image's dtype ",
                     pixel_type_name(in.type), ", got ", pixel_type_name(view.type));
  }

  void check_input_tensor(const char* name, const Tensor& t, const Shape& like) const {
    check<TypeError>(t.defined() && t.device() == ctx_.device(), "IFAN: ", name,
                     " must be a tensor on device '", device_name(ctx_.device()), "'");
    check(t.dim() == 4 && t.size(0) >= 1 && t.size(1) == 3 && t.size(2) > 0 && t.size(3) > 0,
          "IFAN: ", name, " must be (N, 3, H, W), got ", t.shape_str());
    check(t.size(2) % 8 == 0 && t.size(3) % 8 == 0, "IFAN: ", name,
          ": H and W must be multiples of 8, got ", t.size(2), "x", t.size(3));
    check(t.shape() == like, "IFAN: ", name, " must have the shape of C ", shape_str(like),
          ", got ", t.shape_str());
  }

  int N = 17;
  bool dual_ = false;
  int bit_depth_ = 8;
  std::string variant_;

  Conv conv1_1, conv1_2, conv1_3, conv2_1, conv2_2, conv2_3, conv3_1, conv3_2, conv3_3;
  Conv conv4_1, conv4_2, conv4_3;
  nn::Sequential conv4_4;
  nn::Sequential conv_res;
  nn::Sequential upconv3_u, upconv2_u, upconv1_u;
  ResnetBlock upconv3_1, upconv3_2, upconv2_1, upconv2_2, upconv1_1, upconv1_2;
  Conv out_res;
  Conv kconv1_1, kconv1_2, kconv1_3, kconv2_1, kconv2_2, kconv2_3, kconv3_1, kconv3_2, kconv3_3;
  Conv kconv4_1, kconv4_2, kconv4_3;
  nn::Sequential DME;
  Conv conv_DME;
  FilterPredictor F;
};

}  // namespace

std::unique_ptr<Model> load_ifan(const SafetensorsFile& file, const Context& ctx) {
  return std::make_unique<Network>(file, ctx);
}

}  // namespace deblurcore
