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
  const int64_t N = tensors[0].size(0), plane = tensors[0].size(2) * tensors[0].size(3);
  Tensor out = ctx.empty({N, channels, tensors[0].size(2), tensors[0].size(3)});
  const ProfileScope prof(ctx, op, {{"first", &tensors[0]}, {"out", &out}});
  int64_t offset = 0;  // in channels
  for (const Tensor& t : tensors) {
    // Each batch item of t is one contiguous row of C_t * plane floats.
    const int64_t row = t.size(1) * plane;
    float* dst = out.data() + offset * plane;
    switch (ctx.device()) {
      case Device::CPU: cpu::copy_rows(ctx, t.data(), row, dst, channels * plane, row, N); break;
      case Device::CUDA: cuda::copy_rows(ctx, t.data(), row, dst, channels * plane, row, N); break;
    }
    offset += t.size(1);
  }
  return out;
}

}  // namespace deblurcore
