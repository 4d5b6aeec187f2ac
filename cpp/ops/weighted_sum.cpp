// Front end of weighted_sum: validate, allocate the output from the context, dispatch.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor weighted_sum(const Context& ctx, const std::vector<Tensor>& inputs, const Tensor& weights) {
  const char* op = "weighted_sum";
  check(!inputs.empty(), op, ": inputs must not be empty");
  check_input(ctx, op, "weights", weights, 4, "(N, B, H, W)");
  check_input(ctx, op, "inputs[0]", inputs[0], 4, "(N, C, H, W)");
  const Shape& s = inputs[0].shape();
  std::vector<const float*> ptrs;
  for (size_t b = 0; b < inputs.size(); ++b) {
    check_any(ctx, op, "inputs", inputs[b]);
    check_same_shape(op, "every input", inputs[b], "inputs[0]", s);
    ptrs.push_back(inputs[b].data());
  }
  const Shape want{s[0], static_cast<int64_t>(inputs.size()), s[2], s[3]};
  check(weights.shape() == want, op, ": weights must have shape ", shape_str(want),
        " (one plane per input), got ", weights.shape_str());
  WeightedSumParams p{s[0], static_cast<int64_t>(inputs.size()), s[1], s[2] * s[3]};
  Tensor out = ctx.empty(s);
  const ProfileScope prof(ctx, op, {{"first", &inputs[0]}, {"weights", &weights}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::weighted_sum(ctx, p, ptrs.data(), weights.data(), out.data());
      else
        cpu::weighted_sum(ctx, p, ptrs.data(), weights.data(), out.data());
      break;
    case Device::CUDA: cuda::weighted_sum(ctx, p, ptrs.data(), weights.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
