// IFAN-specific entry points of a model loaded from IFAN weights (architecture "ifan"):
// its configuration, and the dual-pixel variant's three-view input.
//
//   auto model = deblurcore::load_model("IFAN_dual.safetensors");
//   if (auto* ifan = dynamic_cast<deblurcore::IfanModel*>(model.get()); ifan && ifan->dual_pixel())
//     ifan->process_dual(image, right, left, out);
#pragma once

#include "deblurcore/export.h"
#include "deblurcore/image.h"
#include "deblurcore/model.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

class DEBLURCORE_API IfanModel : public Model {
 public:
  // N, the number of IAC iterations (17 for the main model; 8, 26, 35, 44 for the others).
  virtual int iterations() const = 0;
  // True for IFAN_dual: the filter encoder reads the right and left dual-pixel views.
  virtual bool dual_pixel() const = 0;
  // 8, or 16 for IFAN_16bit (trained on 16-bit images scaled by 1/65535).
  virtual int bit_depth() const = 0;

  // The dual-pixel network on (1, 3, H, W) RGB tensors in [0, 1]: `c` the combined image
  // (feature path and residual), `r` and `l` the right and left views (filter encoder).
  // Raw, unclamped output as forward(). Only for dual_pixel() models.
  virtual Tensor forward_dual(const Tensor& c, const Tensor& r, const Tensor& l) = 0;
  // process() for the dual-pixel model: three images of the same size and pixel type.
  virtual void process_dual(const ImageView& image, const ImageView& right, const ImageView& left,
                            const MutableImageView& out) = 0;

 protected:
  using Model::Model;
};

}  // namespace deblurcore
