// Front end of concat: validate, allocate the output from the context, dispatch.
#include "backends.h"
#include "deblurcore/ops.h"
#include "ops/validate.h"
#include "profile_scope.h"

namespace deblurcore {

Tensor concat(const Context& ctx, const std::vector<Tensor>& tensors, int dim) {
  const char* op = "concat";
  check(!tensors.empty(), op, ": tensors must not be empty");
  check(dim == 1 || dim == -3, op, ": only dim=1 (channels) is supported, got dim=", dim);
  int64_t channels = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const std::string name = "tensors[" + std::to_string(i) + "]";
    check_input(ctx, op, name.c_str(), t, 4, "(N, C, H, W)");
    check(t.size(0) == tensors[0].size(0) && t.size(2) == tensors[0].size(2) &&
              t.size(3) == tensors[0].size(3),
          op, ": ", name, " has shape ", t.shape_str(), ", which differs from tensors[0] ",
          tensors[0].shape_str(), " outside dim 1");
    channels += t.size(1);
  }
  ConcatParams p{tensors[0].size(0), tensors[0].size(2) * tensors[0].size(3), channels, {}};
  std::vector<const float*> inputs;
  for (const Tensor& t : tensors) {
    p.input_channels.push_back(t.size(1));
    inputs.push_back(t.data());
  }
  Tensor out = ctx.empty({p.N, channels, tensors[0].size(2), tensors[0].size(3)});
  const ProfileScope prof(ctx, op, {{"first", &tensors[0]}, {"out", &out}});
  switch (ctx.device()) {
    case Device::CPU:
      if (ctx.reference_kernels())
        cpu::ref::concat(ctx, p, inputs.data(), out.data());
      else
        cpu::concat(ctx, p, inputs.data(), out.data());
      break;
    case Device::CUDA: cuda::concat(ctx, p, inputs.data(), out.data()); break;
  }
  return out;
}

}  // namespace deblurcore
