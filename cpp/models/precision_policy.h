// Which blocks of the models keep float convolutions when a model runs in Precision::BF16
// (deblurcore/context.h): the one place that decides it, from measurement
// (benchmarks/bf16_accuracy.py: bf16 against our fp32 output on natural-looking images; the
// target is max abs <= 2/255 and PSNR >= 50 dB for every model, and ten times the accuracy of
// OpenVINO's bf16 for the models OpenVINO runs, STFAN and IFAN).
#pragma once

#include "deblurcore/context.h"

namespace deblurcore {

// The blocks the models place. A model in FP32 runs every block in FP32.
enum class ModelBlock : int {
  StfanEncoder,           // STFAN's encoder conv1_1 .. conv3_3
  StfanFilterEncoder,     // kconv1_1 .. kconv3_3
  StfanFilterBodies,      // fac_warp.0 - .2 and fac_deblur.0 - .2
  StfanWarpFilterHead,    // fac_warp.3, the 1x1 conv that outputs kernel_warp (run inside the FAC)
  StfanKconv4,            // kconv4, the 1x1 conv over kernel_warp
  StfanDeblurFilterHead,  // fac_deblur.3, the 1x1 conv that outputs kernel_deblur
  StfanFea,               // fea
  StfanDecoder,           // upconv*, img_prd
  IfanFeatures,           // IFAN's feature extractor (conv1_1 .. conv4_3)
  IfanFilterEncoder,      // kconv1_1 .. kconv4_3
  IfanFilterPredictor,    // DME, conv_DME, conv4_4 and F.0 - F.2
  IfanFilterHead,         // F.3, the 1x1 conv that outputs the IAC filters (run inside the IAC)
  IfanReconstructor,      // conv_res, the up-convolutions and out_res
  Aspdc,                  // all of ASPDC
  AsAnalysis,             // Analysis-Synthesis: the kernel estimation network
  AsSynthesis,            // Analysis-Synthesis: the restoration network
};

// True when `block` keeps float convolutions in a BF16 model.
bool keeps_fp32(ModelBlock block);

// The context each block runs with: the model's own, or a float copy of it. In a bf16 model
// the float blocks run the 3x3 convolutions by Winograd F(6x6, 3x3) (Context::winograd_tile):
// 1.05-1.2x faster than F(4x4, 3x3) on 64- and 128-channel layers, about 1.5 times its
// rounding error, far inside the bf16 mode's budget; an fp32 model keeps F(4x4, 3x3) and its
// agreement with PyTorch.
class PrecisionPolicy {
 public:
  explicit PrecisionPolicy(const Context& model_ctx)
      : model_(model_ctx),
        fp32_(model_ctx.precision() == Precision::BF16
                  ? model_ctx.with_precision(Precision::FP32).with_winograd_tile(6)
                  : model_ctx) {}
  const Context& operator()(ModelBlock block) const { return keeps_fp32(block) ? fp32_ : model_; }

 private:
  Context model_, fp32_;
};

}  // namespace deblurcore
