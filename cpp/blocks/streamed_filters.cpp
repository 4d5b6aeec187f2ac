#include "blocks/streamed_filters.h"

#include "blocks/host_slices.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace blocks {

StreamedConv1x1::StreamedConv1x1(const nn::Conv2d& conv,
                                 const std::vector<std::vector<RowRange>>& group_rows) {
  check(conv.weight.dim() == 4 && conv.weight.size(2) == 1 && conv.weight.size(3) == 1 &&
            conv.stride == 1 && conv.padding == 0 && conv.dilation == 1,
        "StreamedConv1x1: the conv must be 1x1 with stride 1, no padding and no dilation, got "
        "weight ",
        conv.weight.shape_str());
  check(!conv.activation.residual.defined(),
        "StreamedConv1x1: the conv's epilogue must not have a residual");
  check(!group_rows.empty(), "StreamedConv1x1: no groups");
  for (const auto& rows : group_rows) {
    nn::Conv2d part = conv;
    part.weight = gather_rows(conv.weight, rows);
    part.bias = gather_rows(conv.bias, rows);
    parts_.push_back(std::move(part));
  }
}

StreamedConv1x1 StreamedConv1x1::in_groups_of(const nn::Conv2d& conv, int64_t rows_per_group) {
  const int64_t rows = conv.out_channels();
  check(rows_per_group > 0 && rows % rows_per_group == 0, "StreamedConv1x1: ", rows_per_group,
        " rows per group do not divide the conv's ", rows, " output channels");
  std::vector<std::vector<RowRange>> groups;
  for (int64_t r = 0; r < rows; r += rows_per_group) groups.push_back({{r, r + rows_per_group}});
  return StreamedConv1x1(conv, groups);
}

Tensor StreamedConv1x1::group(const Context& ctx, const Tensor& features, size_t g) const {
  check(g < parts_.size(), "StreamedConv1x1: group ", g, " of ", parts_.size());
  return parts_[g](ctx, features);
}

}  // namespace blocks
}  // namespace deblurcore
