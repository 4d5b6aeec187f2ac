// IFAN (Lee et al., CVPR 2021): iterative filter adaptive network for single-image defocus
// deblurring. Member names are the official state_dict names (models/archs/IFAN.py, without
// the checkpoint's 'module.Network.' prefix, which the converter strips) so that forward()
// reads side by side with the original Network.forward. Layer semantics: the IFAN reference
// spec.
//
// Variants (one class): N = 17 (IFAN, IFAN_16bit), 8, 26, 35, 44 IAC iterations, read from
// the shape of the filter head F.3; the 16-bit model differs only in its input scaling; the
// dual-pixel model's filter encoder reads cat(R, L) (6 channels) instead of the image.
//
// The filter head is not run as one 1x1 conv to 896*N channels. The official IAC reads only
// the F1 and bias rows of its output (its horizontal pass reuses F1: the released weights were
// trained that way, and F2 is never read), and each iteration reads only its own rows. So the
// F.3 weight is split at load time into one 1x1 conv per iteration that produces just the
// 384 F1 rows and 128 bias rows of that iteration, and each is run right before its
// iteration and freed after it: 30 MB of filters alive at 720p instead of 877 MB. A 1x1
// conv's output channels are independent, so the result is the same.
#include <cstring>
#include <vector>

#include "deblurcore/error.h"
#include "deblurcore/ifan.h"
#include "deblurcore/safetensors.h"
#include "models/layers.h"
#include "models/registry.h"
#include "deblurcore/ops.h"

namespace deblurcore {

namespace {

constexpr float kSlope = 0.1f;   // every LeakyReLU of IFAN
constexpr int kFs = 3;           // IAC filter length
constexpr int64_t kRowsPerIteration = 896;  // F.3 rows per iteration: 128*3*2 taps + 128 biases

const Epilogue kLrelu = Epilogue::leaky_relu(kSlope);

// IFAN's ResnetBlock(c, res_num): for each unit x = lrelu(x + stem[i](x)) with
// stem[i] = conv3x3, lrelu, conv3x3 (keys `<name>.stem.<i>.0.*` / `.2.*`); with more than one
// unit the block input is added at the end, without activation.
struct ResnetBlock {
  std::vector<Conv2d> conv0, conv2;
  static ResnetBlock load(Weights& w, const std::string& name, int64_t c, int res_num) {
    ResnetBlock b;
    for (int i = 0; i < res_num; ++i) {
      const std::string unit = name + ".stem." + std::to_string(i);
      b.conv0.push_back(Conv2d::load(w, unit + ".0", c, c, 3));
      b.conv2.push_back(Conv2d::load(w, unit + ".2", c, c, 3));
    }
    return b;
  }
  Tensor operator()(const Context& ctx, const Tensor& input) const {
    Tensor x = input;
    for (size_t i = 0; i < conv0.size(); ++i) {
      Epilogue e = kLrelu;  // lrelu(x + stem(x))
      e.residual = x;
      e.residual_position = Epilogue::Residual::BeforeActivation;
      x = conv2[i](ctx, conv0[i](ctx, x, kLrelu), e);
    }
    if (conv0.size() > 1) x = add(ctx, x, input);
    return x;
  }
};

// `upconv(cin, cout)`: ConvTranspose2d(4, stride 2, padding 1) + LeakyReLU(0.1); keys `<name>.0.*`.
struct UpconvLrelu {
  ConvTranspose2d conv;
  static UpconvLrelu load(Weights& w, const std::string& name, int64_t cin, int64_t cout) {
    return {ConvTranspose2d::load(w, name + ".0", cin, cout, 4, 2, 1)};
  }
  // lrelu(upconv(x)) + skip: the skip is added after the activation.
  Tensor operator()(const Context& ctx, const Tensor& x, const Tensor& skip) const {
    Epilogue e = kLrelu;
    e.residual = skip;
    return conv(ctx, x, e);
  }
};

// nn.Sequential(conv + lrelu, ResnetBlock(2), ResnetBlock(2), <head>) as conv4_4, DME and F
// are built; keys `<name>.0.0`, `<name>.1.stem...`, `<name>.2.stem...`.
struct ConvResRes {
  ConvLrelu c0;
  ResnetBlock r1, r2;
  static ConvResRes load(Weights& w, const std::string& name, int64_t cin) {
    return {ConvLrelu::load(w, name + ".0", cin, 128), ResnetBlock::load(w, name + ".1", 128, 2),
            ResnetBlock::load(w, name + ".2", 128, 2)};
  }
  Tensor operator()(const Context& ctx, const Tensor& x) const {
    return r2(ctx, r1(ctx, c0(ctx, x)));
  }
};

// Copies rows [begin, begin + count) of a host tensor seen as rows of `row_floats` floats.
void host_rows(const Tensor& host, int64_t row_floats, int64_t begin, int64_t count, float* dst) {
  std::memcpy(dst, host.data() + begin * row_floats, sizeof(float) * count * row_floats);
}

class IFAN final : public IfanModel {
 public:
  IFAN(const SafetensorsFile& file, const Context& ctx) : IfanModel(ctx, format_of(file)) {
    Weights w(file, ctx.device());
    w.require_meta("architecture", "ifan");
    const std::string& path = file.path();

    // The variant, from the shapes (the metadata, when present, must agree).
    check(w.has("F.3.weight") && w.has("kconv1_1.0.weight"), path,
          ": not IFAN weights (F.3.weight / kconv1_1.0.weight missing)");
    const Shape head = file.shape("F.3.weight");
    check(head.size() == 4 && head[0] > 0 && head[0] % kRowsPerIteration == 0 && head[1] == ch4 &&
              head[2] == 1 && head[3] == 1,
          path, ": F.3.weight must be (896*N, 128, 1, 1), got ", shape_str(head));
    N_ = static_cast<int>(head[0] / kRowsPerIteration);
    const Shape k11 = file.shape("kconv1_1.0.weight");
    check(k11.size() == 4 && (k11[1] == 3 || k11[1] == 6), path,
          ": kconv1_1.0.weight must have 3 (or 6 for dual-pixel) input channels, got ",
          shape_str(k11));
    dual_ = k11[1] == 6;
    const std::string meta_n = w.meta("iterations", "");
    check(meta_n.empty() || meta_n == std::to_string(N_), path, ": metadata iterations=", meta_n,
          " but F.3.weight has ", head[0], " rows (N=", N_, ")");
    const std::string meta_dual = w.meta("dual_pixel", "");
    check(meta_dual.empty() || meta_dual == (dual_ ? "true" : "false"), path,
          ": metadata dual_pixel=", meta_dual, " but kconv1_1.0.weight has ", k11[1],
          " input channels");
    const std::string bits = w.meta("bit_depth", w.meta("input_scale", "255") == "65535" ? "16" : "8");
    check(bits == "8" || bits == "16", path, ": metadata bit_depth must be 8 or 16, got ", bits);
    bit_depth_ = bits == "16" ? 16 : 8;
    check(!(bit_depth_ == 16 && dual_), path, ": there is no 16-bit dual-pixel IFAN");
    const std::string fs = w.meta("iac_filter_size", "3");
    check(fs == "3", path, ": metadata iac_filter_size must be 3, got ", fs);
    variant_ = w.meta("variant", "");
    if (variant_.empty())
      variant_ = bit_depth_ == 16 ? "IFAN_16bit"
                                  : std::string(dual_ ? "IFAN_dual" : "IFAN") +
                                        (N_ == 17 ? "" : "_" + std::to_string(N_));

    // Feature extractor (image path).
    conv1_1 = ConvLrelu::load(w, "conv1_1", 3, ch1);
    conv1_2 = ConvLrelu::load(w, "conv1_2", ch1, ch1);
    conv1_3 = ConvLrelu::load(w, "conv1_3", ch1, ch1);
    conv2_1 = ConvLrelu::load(w, "conv2_1", ch1, ch2, 3, 2);
    conv2_2 = ConvLrelu::load(w, "conv2_2", ch2, ch2);
    conv2_3 = ConvLrelu::load(w, "conv2_3", ch2, ch2);
    conv3_1 = ConvLrelu::load(w, "conv3_1", ch2, ch3, 3, 2);
    conv3_2 = ConvLrelu::load(w, "conv3_2", ch3, ch3);
    conv3_3 = ConvLrelu::load(w, "conv3_3", ch3, ch3);
    conv4_1 = ConvLrelu::load(w, "conv4_1", ch3, ch4, 3, 2);
    conv4_2 = ConvLrelu::load(w, "conv4_2", ch4, ch4);
    conv4_3 = ConvLrelu::load(w, "conv4_3", ch4, ch4);
    // conv4_4 = conv(256 -> 128), RB(2), RB(2), conv.
    conv4_4 = ConvResRes::load(w, "conv4_4", 2 * ch4);
    conv4_4_3 = ConvLrelu::load(w, "conv4_4.3", ch4, ch4);
    // Reconstructor.
    conv_res_0 = ConvLrelu::load(w, "conv_res.0", ch4, ch4);
    conv_res_1 = ResnetBlock::load(w, "conv_res.1", ch4, 3);
    conv_res_2 = ConvLrelu::load(w, "conv_res.2", ch4, ch4);
    upconv3_u = UpconvLrelu::load(w, "upconv3_u", ch4, ch3);
    upconv3_1 = ResnetBlock::load(w, "upconv3_1", ch3, 1);
    upconv3_2 = ResnetBlock::load(w, "upconv3_2", ch3, 1);
    upconv2_u = UpconvLrelu::load(w, "upconv2_u", ch3, ch2);
    upconv2_1 = ResnetBlock::load(w, "upconv2_1", ch2, 1);
    upconv2_2 = ResnetBlock::load(w, "upconv2_2", ch2, 1);
    upconv1_u = UpconvLrelu::load(w, "upconv1_u", ch2, ch1);
    upconv1_1 = ResnetBlock::load(w, "upconv1_1", ch1, 1);
    upconv1_2 = ResnetBlock::load(w, "upconv1_2", ch1, 1);
    out_res = ConvLrelu::load(w, "out_res", ch1, 3);
    // Filter encoder.
    kconv1_1 = ConvLrelu::load(w, "kconv1_1", dual_ ? 6 : 3, ch1);
    kconv1_2 = ConvLrelu::load(w, "kconv1_2", ch1, ch1);
    kconv1_3 = ConvLrelu::load(w, "kconv1_3", ch1, ch1);
    kconv2_1 = ConvLrelu::load(w, "kconv2_1", ch1, ch2, 3, 2);
    kconv2_2 = ConvLrelu::load(w, "kconv2_2", ch2, ch2);
    kconv2_3 = ConvLrelu::load(w, "kconv2_3", ch2, ch2);
    kconv3_1 = ConvLrelu::load(w, "kconv3_1", ch2, ch3, 3, 2);
    kconv3_2 = ConvLrelu::load(w, "kconv3_2", ch3, ch3);
    kconv3_3 = ConvLrelu::load(w, "kconv3_3", ch3, ch3);
    kconv4_1 = ConvLrelu::load(w, "kconv4_1", ch3, ch4, 3, 2);
    kconv4_2 = ConvLrelu::load(w, "kconv4_2", ch4, ch4);
    kconv4_3 = ConvLrelu::load(w, "kconv4_3", ch4, ch4);
    // Defocus map estimator: conv, RB(2), RB(2), bare conv 128 -> 1.
    DME = ConvResRes::load(w, "DME", ch4);
    DME_3 = Conv2d::load(w, "DME.3", ch4, 1, 3);
    conv_DME = ConvLrelu::load(w, "conv_DME", 1, ch4);
    // Filter predictor: conv, RB(2), RB(2), bare 1x1 conv 128 -> 896*N (split below).
    F = ConvResRes::load(w, "F", ch4);
    load_filter_head(w);
    w.check_all_used();
  }

  std::string architecture() const override { return "ifan"; }
  std::string variant() const override { return variant_; }
  int iterations() const override { return N_; }
  bool dual_pixel() const override { return dual_; }
  int bit_depth() const override { return bit_depth_; }

  // C: (n, 3, H, W) RGB in [0, 1], H and W multiples of 8. Returns out before the clip.
  Tensor forward(const Tensor& C) override {
    check(!dual_, "IFAN_dual needs the right and left dual-pixel views: use forward_dual(C, R, L)");
    check_input_tensor("C", C, C.shape());
    return run(C, C);
  }

  Tensor forward_dual(const Tensor& C, const Tensor& R, const Tensor& L) override {
    check(dual_, "forward_dual: this IFAN variant (", variant_,
          ") is not the dual-pixel model; use forward(C)");
    check_input_tensor("C", C, C.shape());
    check_input_tensor("R", R, C.shape());
    check_input_tensor("L", L, C.shape());
    return run(C, concat(ctx_, {R, L}, 1));
  }

  void process(const ImageView& in, const MutableImageView& out) override {
    check(!dual_, "IFAN_dual needs the right and left dual-pixel views: use process_dual");
    check_pixel_type(in, "image");
    Model::process(in, out);
  }

  void process_dual(const ImageView& in, const ImageView& right, const ImageView& left,
                    const MutableImageView& out) override {
    check(dual_, "process_dual: this IFAN variant (", variant_,
          ") is not the dual-pixel model; use process");
    check_pixel_type(in, "image");
    for (const auto& [view, name] : {std::pair<const ImageView&, const char*>{right, "right"},
                                     std::pair<const ImageView&, const char*>{left, "left"}}) {
      check(view.height == in.height && view.width == in.width, name, " view must be ",
            in.height, "x", in.width, " like the image, got ", view.height, "x", view.width);
      check<TypeError>(view.type == in.type, name, " view must have the image's pixel type ",
                       pixel_type_name(in.type), ", got ", pixel_type_name(view.type));
    }
    check(out.height == in.height && out.width == in.width, "output image must be ", in.height,
          "x", in.width, " like the input, got ", out.height, "x", out.width);
    check<TypeError>(out.type == in.type, "output image must have the input's pixel type ",
                     pixel_type_name(in.type), ", got ", pixel_type_name(out.type));
    const Tensor c = image_to_tensor(ctx_, in, format_);
    const Tensor r = image_to_tensor(ctx_, right, format_);
    const Tensor l = image_to_tensor(ctx_, left, format_);
    tensor_to_image(forward_dual(c, r, l), format_, out);
  }

 private:
  static ImageFormat format_of(const SafetensorsFile& file) {
    ImageFormat f;
    f.bgr = file.metadata_value("channel_order", "RGB") == "BGR";
    f.range = ImageFormat::Range::Unit;
    f.size_multiple = 8;
    return f;
  }

  // The 8-bit models were trained on 8-bit images: a 16-bit image is refused rather than
  // silently requantised (float32 input is accepted by every variant).
  void check_pixel_type(const ImageView& in, const char* name) const {
    check<TypeError>(!(bit_depth_ == 8 && in.type == PixelType::U16), name,
                     ": uint16 images need the 16-bit IFAN (IFAN_16bit); this variant (",
                     variant_, ") takes uint8, or float32 in [0, 1]");
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

  // F.3 (896*N rows) -> per iteration i a 1x1 conv producing [F1_i (384 rows), b_i (128 rows)]
  // (official rows [768i, 768i+384) and [768N + 128i, 768N + 128i + 128)). The F2 rows are
  // never read by the official IAC.
  void load_filter_head(Weights& w) {
    const int64_t n = N_;
    const Tensor weight = w.get("F.3.weight", {kRowsPerIteration * n, ch4, 1, 1}).to(Device::CPU);
    const Tensor bias = w.get("F.3.bias", {kRowsPerIteration * n}).to(Device::CPU);
    const int64_t ck = ch4 * kFs, rows = ck + ch4;
    for (int64_t i = 0; i < n; ++i) {
      Tensor wi = Tensor::empty({rows, ch4, 1, 1}), bi = Tensor::empty({rows});
      host_rows(weight, ch4, 2 * ck * i, ck, wi.data());
      host_rows(weight, ch4, 2 * ck * n + ch4 * i, ch4, wi.data() + ck * ch4);
      host_rows(bias, 1, 2 * ck * i, ck, bi.data());
      host_rows(bias, 1, 2 * ck * n + ch4 * i, ch4, bi.data() + ck);
      Conv2d head;
      head.weight = wi.to(ctx_.device());
      head.bias = bi.to(ctx_.device());
      head.padding = 0;
      F_3.push_back(head);
    }
  }

  // Network.forward with the filter encoder reading `K` (C, or cat(R, L) for dual-pixel).
  Tensor run(const Tensor& C, const Tensor& K) {
    const Context& ctx = ctx_;
    // Feature extractor; f1, f2, f3 are kept for the decoder's skips.
    Tensor f1 = conv1_3(ctx, conv1_2(ctx, conv1_1(ctx, C)));
    Tensor f2 = conv2_3(ctx, conv2_2(ctx, conv2_1(ctx, f1)));
    Tensor f3 = conv3_3(ctx, conv3_2(ctx, conv3_1(ctx, f2)));
    Tensor f_C = conv4_3(ctx, conv4_2(ctx, conv4_1(ctx, f3)));

    // Filter encoder -> DME -> filter predictor (up to the filter head).
    Tensor f;
    {
      Tensor k1 = kconv1_3(ctx, kconv1_2(ctx, kconv1_1(ctx, K)));
      Tensor k2 = kconv2_3(ctx, kconv2_2(ctx, kconv2_1(ctx, k1)));
      k1 = Tensor();
      Tensor k3 = kconv3_3(ctx, kconv3_2(ctx, kconv3_1(ctx, k2)));
      k2 = Tensor();
      f = kconv4_3(ctx, kconv4_2(ctx, kconv4_1(ctx, k3)));
    }
    {
      Tensor DM = DME_3(ctx, DME(ctx, f));  // defocus map, no activation
      Tensor f_DM = conv_DME(ctx, DM);
      f = conv4_4_3(ctx, conv4_4(ctx, concat(ctx, {f, f_DM}, 1)));
    }
    f = F(ctx, f);

    // IAC: iteration i's filters (F1_i and b_i only) are computed right before it runs.
    Tensor x = f_C;
    f_C = Tensor();
    const IacLayout layout = IacLayout::packed(1, ch4, kFs);
    for (int i = 0; i < N_; ++i) {
      Tensor Fi = F_3[i](ctx, f);
      x = iac_with_layout(ctx, x, Fi, 1, kFs, layout, /*reuse_vertical_filter=*/true,
                          /*final_activation=*/true);  // the official net activates every one
    }
    f = Tensor();

    // Reconstructor.
    x = conv_res_2(ctx, conv_res_1(ctx, conv_res_0(ctx, x)));
    x = upconv3_2(ctx, upconv3_1(ctx, upconv3_u(ctx, x, f3)));
    f3 = Tensor();
    x = upconv2_2(ctx, upconv2_1(ctx, upconv2_u(ctx, x, f2)));
    f2 = Tensor();
    x = upconv1_2(ctx, upconv1_1(ctx, upconv1_u(ctx, x, f1)));
    f1 = Tensor();
    Epilogue lrelu_plus_input = kLrelu;  // lrelu(out_res(x)) + C
    lrelu_plus_input.residual = C;
    // The official eval network clips to [0, 1] here; forward() returns the raw output and
    // the clip happens when it becomes an image (tensor_to_image).
    return out_res.conv(ctx, x, lrelu_plus_input);
  }

  static constexpr int64_t ch1 = 32, ch2 = 64, ch3 = 128, ch4 = 128;

  int N_ = 17;
  bool dual_ = false;
  int bit_depth_ = 8;
  std::string variant_;

  ConvLrelu conv1_1, conv1_2, conv1_3, conv2_1, conv2_2, conv2_3, conv3_1, conv3_2, conv3_3;
  ConvLrelu conv4_1, conv4_2, conv4_3;
  ConvResRes conv4_4;  // conv4_4.0 .. conv4_4.2
  ConvLrelu conv4_4_3;  // conv4_4.3
  ConvLrelu conv_res_0, conv_res_2;
  ResnetBlock conv_res_1;
  UpconvLrelu upconv3_u, upconv2_u, upconv1_u;
  ResnetBlock upconv3_1, upconv3_2, upconv2_1, upconv2_2, upconv1_1, upconv1_2;
  ConvLrelu out_res;
  ConvLrelu kconv1_1, kconv1_2, kconv1_3, kconv2_1, kconv2_2, kconv2_3, kconv3_1, kconv3_2,
      kconv3_3, kconv4_1, kconv4_2, kconv4_3;
  ConvResRes DME;  // DME.0 .. DME.2
  Conv2d DME_3;    // DME.3, bare conv
  ConvLrelu conv_DME;
  ConvResRes F;               // F.0 .. F.2
  std::vector<Conv2d> F_3;    // F.3, split per iteration
};

}  // namespace

std::unique_ptr<Model> load_ifan(const SafetensorsFile& file, const Context& ctx) {
  return std::make_unique<IFAN>(file, ctx);
}

}  // namespace deblurcore
