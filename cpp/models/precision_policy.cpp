// The bf16 policy table (see precision_policy.h). Measured with benchmarks/bf16_accuracy.py at
// 256x208 on random official-layout weights, bf16 against our fp32 output, max abs in 8-bit
// levels / PSNR (block in bf16, everything else in fp32 unless said):
//   STFAN all bf16 (6 frames)                       0.45 / 75.4 dB   (then all of STFAN ran bf16)
//   ASPDC all bf16                                  0.22 / 80.6 dB
//   IFAN all bf16                                  22.5  / 46.7 dB
//   IFAN: only the reconstructor in bf16            4.7  / 58.8 dB
//   IFAN: filter encoder + predictor + head fp32    5.9  / 56.6 dB
//   Analysis-Synthesis all bf16                    17.0  / 42.4 dB
//   Analysis-Synthesis: analysis bf16, synthesis fp32  0.04 / 94.1 dB
// Re-measured with the bf16 Winograd of the 3x3 layers (conv_winograd.h; less accurate than the
// direct bf16 GEMM used above), same random weights and images:
//   STFAN all bf16 (6 frames, 640x360)              0.92 / 68.6 dB
//   ASPDC all bf16 (640x360)                        0.26 / 79.7 dB
//   ASPDC, the deformable convs' products in bf16 too (their sampling stays float; 640x360)
//                                                   0.30 / 79.8 dB
//   IFAN, one block in bf16 (256x192): features 1.64 / 64.3 (but 2.69 / 65.9 at 640x360),
//     filter encoder 5.10 / 54.8, filter predictor 2.43 / 62.0, filter head 1.99 / 65.1,
//     reconstructor 7.61 / 52.6; the filter head alone at 640x360 / 1280x720: 2.46 / 2.50
// so IFAN still keeps every block in float. Rounding the weights alone moves it that far: with
// only IFAN's conv weights rounded to bf16 and everything else in fp32
// (benchmarks/bf16_weight_floor.py, 640x360, natural image) the output moves by 13.6 levels /
// 49.1 dB, and by 2.2 - 15.7 levels with one block's weights rounded (features 5.6, filter
// encoder 15.7, filter predictor 3.4, filter head 2.2, reconstructor 2.2). A perturbation of
// 2^-9 relative is amplified to several levels by these weights, whatever rounds it.
// All of these use random weights in the official layouts (no trained checkpoint was at
// hand); trained weights may behave differently.
// STFAN, part by part (the blocks of precision_policy.h, fac_warp and fac_deblur apart), same
// random weights (seed 0), 640x360, max abs against our fp32 output on the uniform-noise frame
// of benchmarks/models.py (its second frame) / on a 10-frame natural clip:
//   all bf16                                        2.5e-3 / 4.6e-3   (720p: 1.69 s, fp32 2.64)
//   filter encoder kconv*                           5.4e-4 / 8.1e-4
//   fac_warp body / fac_deblur body                 6.0e-4 / 3.2e-4,  4.9e-4 / 1.6e-4
//   encoder conv*, fea, decoder upconv*, img_prd    8.2e-4 / 6.8e-4,  4.7e-4 / 7.4e-4,
//                                                   2.1e-3 / 3.8e-3,  4.3e-4 / 6.4e-4
//   fac_warp.3 / fac_deblur.3 / kconv4 (1x1)        1.1e-4 / 1.7e-4,  8.2e-5 / 9.2e-5,
//                                                   5.3e-6 / 7.6e-6
//   fac_deblur.3 + kconv4 (the policy)              8.0e-5 / 9.2e-5   (720p noise 8.6e-5)
//   the three 1x1 convs                             1.1e-4 / 2.1e-4   (720p noise 1.1e-4)
// OpenVINO's bf16 errs 1.3e-3 on that noise frame and 3.2e-3 on such a clip
// (benchmarks/bf16_openvino.py). All of STFAN in bf16 is 1.4x faster than fp32 but twice
// OpenVINO's error. Only the 1x1 convs that make and consume the FAC filters stay ten times
// below it, and not all three together: in benchmarks/models.py at 1280x720 (against PyTorch,
// OpenVINO bf16 1.3e-3 in both runs) the three gave 1.3e-4 (9.6 times more accurate) and
// 2.41-2.44 s against fp32's 2.53-2.67, fac_deblur.3 + kconv4 gave 8.3e-5 (15 times) and
// 2.37 s against 2.43. So those two run in bf16 and fac_warp.3 (the larger error of the
// three) in float.
// IFAN's output goes through 17 recursive IAC passes whose filters come from the filter
// encoder, and every one of its blocks alone exceeds 2 levels in bf16: it stays in float. The
// synthesis network of Analysis-Synthesis works on 0..255 values modulated per channel by the
// kernel guidance and stays in float; its analysis network runs in bf16.
// The float blocks of a bf16 model run their 3x3 convolutions by Winograd F(6x6, 3x3)
// (PrecisionPolicy in precision_policy.h; 1.04-1.2x faster than F(4x4, 3x3) on 64- and
// 128-channel layers, 1.5x its rounding error). Measured with it (640x360, same weights and
// images as above, against our fp32 output): IFAN 6.8e-6 on the natural clip (0.0017 levels,
// OpenVINO bf16 6.3e-2), STFAN 9.2e-5 (unchanged), Analysis-Synthesis 3.5e-4 (3.4e-4 before);
// at 1280x720 (benchmarks/models.py) IFAN took 1.62 s against fp32's 1.73, STFAN 2.16 s against
// 2.45.
#include "models/precision_policy.h"

namespace deblurcore {

bool keeps_fp32(ModelBlock block) {
  switch (block) {
    case ModelBlock::StfanKconv4:
    case ModelBlock::StfanDeblurFilterHead:
    case ModelBlock::Aspdc:
    case ModelBlock::AsAnalysis: return false;
    case ModelBlock::StfanWarpFilterHead:
    case ModelBlock::StfanEncoder:
    case ModelBlock::StfanFilterEncoder:
    case ModelBlock::StfanFilterBodies:
    case ModelBlock::StfanFea:
    case ModelBlock::StfanDecoder:
    case ModelBlock::IfanFeatures:
    case ModelBlock::IfanFilterEncoder:
    case ModelBlock::IfanFilterPredictor:
    case ModelBlock::IfanFilterHead:
    case ModelBlock::IfanReconstructor:
    case ModelBlock::AsSynthesis: return true;
  }
  return true;
}

}  // namespace deblurcore
