// conv_transpose2d on CUDA: the implicit-GEMM kernel of conv_gemm.cuh.
#include "cuda/conv_gemm.cuh"

namespace deblurcore {
namespace cuda {

void conv_transpose2d(const Context& ctx, const ConvTranspose2dParams& p, const float* x,
                      const float* weight, const float* bias, const float* residual, float* out) {
  detail::ConvGemmArgs a = conv_gemm::make_args("conv_transpose2d", p, true);
  a.x = x, a.w = weight, a.bias = bias, a.residual = residual, a.out = out;
  conv_gemm::launch<true>(ctx, "conv_transpose2d", a);
}

}  // namespace cuda
}  // namespace deblurcore
