// conv2d on CUDA: the implicit-GEMM kernel of conv_gemm.cuh.
#include "cuda/conv_gemm.cuh"

namespace deblurcore {
namespace cuda {

void conv2d(const Context& ctx, const Conv2dParams& p, const float* x, const float* weight,
            const float* bias, const float* residual, float* out) {
  detail::ConvGemmArgs a = conv_gemm::make_args("conv2d", p, false);
  a.x = x, a.w = weight, a.bias = bias, a.residual = residual, a.out = out;
  conv_gemm::launch<false>(ctx, "conv2d", a);
}

}  // namespace cuda
}  // namespace deblurcore
