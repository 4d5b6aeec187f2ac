// iac_streamed (see blocks/adaptive_conv_streamed.h). It runs the IAC op on filters in the
// packed layout (F1_i then b_i, no F2 rows) through iac_with_layout.
#include "blocks/adaptive_conv_streamed.h"

#include "deblurcore/error.h"
#include "deblurcore/ops.h"

namespace deblurcore {
namespace blocks {

Tensor iac_streamed(const Context& ctx, const Tensor& x, const StreamedFilters& filters,
                    int kernel_size) {
  check(x.defined() && x.dim() == 4, "iac_streamed: x must be (N, C, H, W)");
  const IacLayout layout = IacLayout::packed(1, x.size(1), kernel_size);
  Tensor f = x;
  for (size_t i = 0; i < filters.groups(); ++i)
    f = iac_with_layout(ctx, f, filters.group(ctx, i), 1, kernel_size, layout,
                        /*reuse_vertical_filter=*/true, /*final_activation=*/true);
  return f;
}

}  // namespace blocks
}  // namespace deblurcore
