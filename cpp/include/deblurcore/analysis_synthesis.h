// Entry points of the Analysis-Synthesis pair (Kaufman & Fattal, CVPR 2020; architecture
// "analysis_synthesis"): the estimated blur kernel, synthesis with a given kernel, and the
// official `-amis` limit on the analysis input.
//
//   auto model = deblurcore::load_model("as.safetensors");
//   auto* as = dynamic_cast<deblurcore::AnalysisSynthesisModel*>(model.get());
//   deblurcore::Tensor k = as->estimate_kernel(image);   // (85, 85), sums to 1
//   as->deblur(image, out, &k);                          // synthesis with that kernel
//
// Pipeline (the official deblur_main.py): the RGB image in 0..255 is padded to multiples of
// 16 by mirroring (numpy 'symmetric'); the analysis network estimates the kernel on the centre
// crop of the padded image to the nearest "known valid shape" (select_analysis_crop); the
// synthesis network restores the whole padded image; the padding is removed and the result
// clipped to [0, 255]. Model::process() is deblur() without options.
#pragma once

#include <cstdint>

#include "deblurcore/export.h"
#include "deblurcore/image.h"
#include "deblurcore/model.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

// The official `-amis` option: only known shapes with h * w <= height * width are used for
// the analysis crop. {0, 0} means no limit.
struct MaxInputSize {
  int64_t height = 0, width = 0;
  bool limited() const { return height > 0 && width > 0; }
};

// Where the analysis network looks in a padded H x W image.
struct AnalysisCrop {
  int64_t top = 0, left = 0, height = 0, width = 0;
  // False for the non-official fallback: no known shape fits, so the whole padded image is
  // used (the official code raises here).
  bool official = true;
};

// Smallest side the analysis network accepts: its level-3 correlation field (the input
// halved three times, rounding up, minus 18 for three valid 7x7 convs) must be at least 7
// (= max shift 6 + 1), i.e. ceil(n / 8) >= 25, n >= 193.
constexpr int64_t kAnalysisMinSide = 193;

// The crop of spec §6.2: among the known shapes (and their transposes), filtered by
// `max_input_size`, those that fit in H x W; the one nearest in relative L2 distance, first
// in list order on ties; centred. When none fits: the whole image if both sides are at least
// kAnalysisMinSide and (when limited) its area is within the limit, marked non-official;
// otherwise a ValueError that names the sizes.
DEBLURCORE_API AnalysisCrop select_analysis_crop(int64_t padded_height, int64_t padded_width,
                                                 MaxInputSize max_input_size = {});

class DEBLURCORE_API AnalysisSynthesisModel : public Model {
 public:
  static constexpr int64_t kKernelSize = 85;

  // The estimated blur kernel of an RGB image (uint8 0..255 or float 0..1): (85, 85) on the
  // host, non-negative, summing to 1 (all zero if the network's output is).
  virtual Tensor estimate_kernel(const ImageView& image, MaxInputSize max_input_size = {}) = 0;

  // The restored image into `out` (size and pixel type of `image`). With `kernel` ((85, 85)
  // or (1, 85, 85), any device) the analysis is skipped and the synthesis uses that kernel.
  virtual void deblur(const ImageView& image, const MutableImageView& out,
                      const Tensor* kernel = nullptr, MaxInputSize max_input_size = {}) = 0;

  // The networks on tensors (advanced use, tests). rgb: (1, 3, H, W) RGB in 0..255 on the
  // model's device. analysis(): H, W >= kAnalysisMinSide -> (1, 85, 85). synthesis(): H, W
  // multiples of 16, kernel (1, 85, 85) -> raw output (1, 3, H, W), not clipped.
  virtual Tensor analysis(const Tensor& rgb) = 0;
  virtual Tensor synthesis(const Tensor& rgb, const Tensor& kernel) = 0;

 protected:
  using Model::Model;
};

}  // namespace deblurcore
