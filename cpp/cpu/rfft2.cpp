// Fast rfft2 with the FFT engine (cpu/fft/): one plane per thread.
#include <vector>

#include "backends.h"
#include "cpu/fft/plane.h"

namespace deblurcore {
namespace cpu {

void rfft2(const Context& ctx, const Fft2dParams& p, const float* x, float* spectrum) {
  const fft::PlaneFft plan(p.H, p.W);
  const int64_t Wc = plan.Wc(), HWc = p.H * Wc;
#pragma omp parallel num_threads(ctx.num_threads())
  {
    std::vector<float> work(plan.workspace_floats() + size_t(2 * HWc));
    float* re = work.data();
    float* im = re + HWc;
#pragma omp for schedule(dynamic)
    for (int64_t plane = 0; plane < p.planes; ++plane) {
      plan.forward(x + plane * p.H * p.W, re, im, im + HWc, ctx.isa());
      float* out = spectrum + plane * HWc * 2;
      for (int64_t i = 0; i < HWc; ++i) out[2 * i] = re[i], out[2 * i + 1] = im[i];
    }
  }
}

}  // namespace cpu
}  // namespace deblurcore
