// Reference kernel of mmcv_flat_reinterpret: the definition, element by element.
#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace ref {

void mmcv_flat_reinterpret(const Context&, const MmcvFlatReinterpretParams& p, const float* x,
                           float* out) {
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t i = 0; i < p.out_numel; ++i)
      out[n * p.out_numel + i] = i < p.in_numel ? x[n * p.in_numel + i] : 0.f;
}

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
