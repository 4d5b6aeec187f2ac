// Fast irfft2 with the FFT engine (cpu/fft/): one plane per thread.
#include <vector>

#include "backends.h"
#include "cpu/fft/plane.h"

namespace deblurcore {
namespace cpu {

void irfft2(const Context& ctx, const Fft2dParams& p, const float* spectrum, float* x) {
  const fft::PlaneFft plan(p.H, p.W);
  const int64_t Wc = plan.Wc(), HWc = p.H * Wc;
  const float scale = static_cast<float>(1.0 / (double(p.H) * double(p.W)));
#pragma omp parallel num_threads(ctx.num_threads())
  {
    std::vector<float> work(plan.workspace_floats() + size_t(2 * HWc));
    float* re = work.data();
    float* im = re + HWc;
#pragma omp for schedule(dynamic)
    for (int64_t plane = 0; plane < p.planes; ++plane) {
      const float* in = spectrum + plane * HWc * 2;
      for (int64_t i = 0; i < HWc; ++i) re[i] = in[2 * i], im[i] = in[2 * i + 1];
      plan.inverse(re, im, x + plane * p.H * p.W, scale, im + HWc, ctx.isa());
    }
  }
}

}  // namespace cpu
}  // namespace deblurcore
