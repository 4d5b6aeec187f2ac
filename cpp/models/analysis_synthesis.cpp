// The Analysis-Synthesis pair as a Model: the official pre- and post-processing of
// deblur_main.py / DeblurNN.deblur_batch / utils.py around the two networks (spec §6).
#include "deblurcore/analysis_synthesis.h"

#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "deblurcore/error.h"
#include "deblurcore/safetensors.h"
#include "models/analysis_synthesis_nets.h"
#include "models/metadata.h"
#include "models/precision_policy.h"
#include "models/registry.h"

namespace deblurcore {

namespace {

using analysis_synthesis::AnalysisNet;
using analysis_synthesis::SynthesisNet;

constexpr int64_t kMultiple = 16;  // 2^n_levels: the synthesis halves the image 4 times

// The "known valid shapes" (h, w) of DeblurNN (a workaround for cuFFT allocation failures of
// TF 1.x that decides what the analysis sees, so it is replicated), in order, duplicate
// included.
constexpr int64_t kKnownShapes[][2] = {
    {256, 256}, {240, 368},  {354, 640},  {368, 640}, {240, 368},  {384, 540},  {408, 608},
    {408, 688}, {480, 368},  {480, 732},  {492, 704}, {512, 512},  {512, 448},  {512, 672},
    {512, 768}, {528, 638},  {528, 558},  {528, 780}, {540, 800},  {558, 864},  {576, 688},
    {576, 800}, {592, 462},  {592, 800},  {608, 800}, {608, 1012}, {624, 414},  {624, 448},
    {624, 576}, {624, 800},  {656, 1012}, {672, 800}, {672, 1012}, {700, 1012}, {704, 608},
    {720, 958}, {720, 1072}, {732, 1080}, {750, 908}, {800, 800},  {800, 968},  {810, 942}};

}  // namespace

AnalysisCrop select_analysis_crop(int64_t H, int64_t W, MaxInputSize limit) {
  check(H > 0 && W > 0, "analysis crop: the padded size must be positive, got ", H, "x", W);
  check(limit.height >= 0 && limit.width >= 0, "max_input_size must be non-negative, got ",
        limit.height, "x", limit.width);
  // Filter by area, then append the transposed list (originals first, so they win ties).
  std::vector<std::array<int64_t, 2>> shapes;
  for (const auto& s : kKnownShapes)
    if (!limit.limited() || s[0] * s[1] <= limit.height * limit.width)
      shapes.push_back({s[0], s[1]});
  const size_t n = shapes.size();
  for (size_t i = 0; i < n; ++i) shapes.push_back({shapes[i][1], shapes[i][0]});
  // argmin of the relative L2 distance over the shapes that fit; the first minimum wins.
  double best = std::numeric_limits<double>::infinity();
  const std::array<int64_t, 2>* pick = nullptr;
  for (const auto& s : shapes) {
    if (s[0] > H || s[1] > W) continue;
    const double dy = double(H - s[0]) / double(H), dx = double(W - s[1]) / double(W);
    const double d = std::sqrt(dy * dy + dx * dx);
    if (d < best) best = d, pick = &s;
  }
  if (pick) return {(H - (*pick)[0]) / 2, (W - (*pick)[1]) / 2, (*pick)[0], (*pick)[1], true};
  // No known shape fits (the official code raises): the whole padded image, if the network
  // can take it and it respects the limit.
  check(H >= kAnalysisMinSide && W >= kAnalysisMinSide, "the padded image is ", H, "x", W,
        "; kernel estimation needs at least ", kAnalysisMinSide, "x", kAnalysisMinSide,
        " (no known analysis shape fits and the analysis network cannot run on less)");
  check(!limit.limited() || H * W <= limit.height * limit.width, "max_input_size ", limit.height,
        "x", limit.width, " admits no known analysis shape that fits the padded ", H, "x", W,
        " image, and the whole image exceeds it");
  return {0, 0, H, W, false};
}

namespace {

class AnalysisSynthesis final : public AnalysisSynthesisModel {
 public:
  AnalysisSynthesis(const SafetensorsFile& file, const Context& ctx)
      : AnalysisSynthesisModel(ctx, format_of(file)) {
    Weights w(file, ctx.device());
    w.require_meta("architecture", "analysis_synthesis");
    check_implied_metadata(file, "analysis_synthesis",
                           {{"variant", {"AnalysisSynthesis"}},
                            {"input_scale", {"255"}},
                            {"output_range", {"0,255"}},
                            {"output_clamped", {"false"}},
                            {"size_multiple", {std::to_string(kMultiple)}},
                            {"size_policy", {"pad"}},
                            {"pad_mode", {"symmetric"}},
                            {"recurrent", {"false"}},
                            {"kernel_size", {std::to_string(kKernelSize)}}});
    // Each network's layers are prepared for the context it runs with (precision_policy.h).
    const PrecisionPolicy precision(ctx);
    const nn::Scope s(w, ctx);
    analysis_ = AnalysisNet(s.on(precision(ModelBlock::AsAnalysis))["analysis"]);
    synthesis_ = SynthesisNet(s.on(precision(ModelBlock::AsSynthesis))["synthesis"]);
    w.check_all_used();
  }

  std::string architecture() const override { return "analysis_synthesis"; }
  std::string variant() const override { return "AnalysisSynthesis"; }

  // x: the padded image (1, 3, H, W) in 0..255, H and W multiples of 16. The kernel from the
  // analysis crop, then the raw synthesis output (not clipped).
  Tensor forward(const Tensor& x) override {
    check_rgb(x, "x");
    check(x.size(2) % kMultiple == 0 && x.size(3) % kMultiple == 0,
          "Analysis-Synthesis: H and W must be multiples of 16, got ", x.size(2), "x", x.size(3));
    const Tensor k = kernel_of_padded(x, {});
    release_idle_memory();
    return synthesis_(PrecisionPolicy(ctx_)(ModelBlock::AsSynthesis), x, k);
  }

  void process(const ImageView& in, const MutableImageView& out) override {
    deblur(in, out, nullptr, {});
  }

  Tensor estimate_kernel(const ImageView& image, MaxInputSize limit) override {
    int64_t top = 0, left = 0;
    const Tensor padded = padded_image(image, &top, &left);
    return kernel_of_padded(padded, limit).reshape({kKernelSize, kKernelSize}).to(Device::CPU);
  }

  void deblur(const ImageView& image, const MutableImageView& out, const Tensor* kernel,
              MaxInputSize limit) override {
    check(out.height == image.height && out.width == image.width, "output image must be ",
          image.height, "x", image.width, " like the input, got ", out.height, "x", out.width);
    check<TypeError>(out.type == image.type, "output image must have the input's pixel type ",
                     pixel_type_name(image.type), ", got ", pixel_type_name(out.type));
    int64_t top = 0, left = 0;
    Tensor padded = padded_image(image, &top, &left);
    Tensor k;
    if (kernel != nullptr) {
      check(kernel->defined() && kernel->numel() == kKernelSize * kKernelSize &&
                (kernel->dim() == 2 || (kernel->dim() == 3 && kernel->size(0) == 1)),
            "kernel must be (85, 85) or (1, 85, 85), got ",
            kernel->defined() ? kernel->shape_str() : std::string("an undefined tensor"));
      const Tensor host = kernel->to(Device::CPU);
      for (int64_t i = 0; i < host.numel(); ++i)
        check(std::isfinite(host.data()[i]),
              "kernel has a NaN or infinite value (first at flat "
              "index ",
              i, ")");
      k = kernel->to(ctx_.device()).reshape({1, kKernelSize, kKernelSize});
    } else {
      k = kernel_of_padded(padded, limit);
      release_idle_memory();
    }
    Tensor raw = synthesis_(PrecisionPolicy(ctx_)(ModelBlock::AsSynthesis), padded, k);
    padded = Tensor();
    // Remove the padding; tensor_to_image clips to [0, 255] (the official np.clip) and
    // rounds integers half to even (np.round).
    raw = crop(ctx_, raw, top, left, image.height, image.width);
    tensor_to_image(raw, format_, out);
  }

  Tensor analysis(const Tensor& rgb) override {
    check_rgb(rgb, "rgb");
    check(rgb.size(2) >= kAnalysisMinSide && rgb.size(3) >= kAnalysisMinSide,
          "analysis: the input must be at least ", kAnalysisMinSide, "x", kAnalysisMinSide,
          ", got ", rgb.size(2), "x", rgb.size(3));
    return analysis_(PrecisionPolicy(ctx_)(ModelBlock::AsAnalysis), rgb);
  }

  Tensor synthesis(const Tensor& rgb, const Tensor& kernel) override {
    check_rgb(rgb, "rgb");
    check<TypeError>(kernel.device() == ctx_.device(), "kernel is on device '",
                     device_name(kernel.device()), "' but the model runs on '",
                     device_name(ctx_.device()), "'");
    release_idle_memory();
    return synthesis_(PrecisionPolicy(ctx_)(ModelBlock::AsSynthesis), rgb, kernel);
  }

 private:
  static ImageFormat format_of(const SafetensorsFile& file) {
    const std::string order = file.metadata_value("channel_order", "RGB");
    check(order == "RGB", file.path(),
          ": the Analysis-Synthesis pair takes RGB input, but the metadata says channel_order '",
          order, "'");
    const std::string range = file.metadata_value("input_range", "0,255");
    check(range == "0,255", file.path(),
          ": the Analysis-Synthesis pair takes values in 0..255, but the metadata says "
          "input_range '",
          range, "'");
    ImageFormat f;
    f.bgr = false;
    f.range = ImageFormat::Range::Byte;
    f.size_multiple = kMultiple;  // reached by symmetric padding here, not by image_to_tensor
    return f;
  }

  void check_rgb(const Tensor& x, const char* name) const {
    check(x.dim() == 4 && x.size(0) == 1 && x.size(1) == 3, "Analysis-Synthesis: ", name,
          " must be (1, 3, H, W), got ", x.shape_str());
    check<TypeError>(x.device() == ctx_.device(), "Analysis-Synthesis: ", name, " is on device '",
                     device_name(x.device()), "' but the model runs on '",
                     device_name(ctx_.device()), "'");
  }

  // The image in 0..255 (1, 3, H, W), padded to multiples of 16 by numpy's 'symmetric'
  // mirror (edge included), (r // 2, r - r // 2) per axis; (top, left) of the image in it.
  Tensor padded_image(const ImageView& image, int64_t* top, int64_t* left) const {
    check(image.height >= kMultiple / 2 && image.width >= kMultiple / 2, "image is ", image.height,
          "x", image.width,
          "; the Analysis-Synthesis pair needs at least 8x8 (symmetric padding to 16)");
    check_finite_image(image, "image");
    ImageFormat unpadded = format_;
    unpadded.size_multiple = 1;
    Tensor x = image_to_tensor(ctx_, image, unpadded);
    const int rh = static_cast<int>((kMultiple - image.height % kMultiple) % kMultiple);
    const int rw = static_cast<int>((kMultiple - image.width % kMultiple) % kMultiple);
    *top = rh / 2;
    *left = rw / 2;
    if (rh == 0 && rw == 0) return x;
    return pad(ctx_, x, {rw / 2, rw - rw / 2, rh / 2, rh - rh / 2}, PadMode::Symmetric);
  }

  // The analysis (on a crop, at other sizes) leaves idle blocks in the model's caching
  // allocator that the synthesis cannot reuse; at 1280x720 they would add up to ~1 GB to the
  // synthesis' own peak. Fresh blocks cost a page fault per page, negligible here.
  void release_idle_memory() const { ctx_.allocator().release_idle(); }

  // The kernel (1, 85, 85) of a padded image: the analysis on its crop (§6.2).
  Tensor kernel_of_padded(const Tensor& padded, MaxInputSize limit) const {
    const AnalysisCrop c = select_analysis_crop(padded.size(2), padded.size(3), limit);
    const PrecisionPolicy precision(ctx_);
    const Context& actx = precision(ModelBlock::AsAnalysis);
    if (c.height == padded.size(2) && c.width == padded.size(3)) return analysis_(actx, padded);
    return analysis_(actx, crop(ctx_, padded, c.top, c.left, c.height, c.width));
  }

  AnalysisNet analysis_;
  SynthesisNet synthesis_;
};

}  // namespace

std::unique_ptr<Model> load_analysis_synthesis(const SafetensorsFile& file, const Context& ctx) {
  return std::make_unique<AnalysisSynthesis>(file, ctx);
}

}  // namespace deblurcore
