// fac_streamed (see blocks/adaptive_conv_streamed.h); public op API only.
#include "blocks/adaptive_conv_streamed.h"

#include <vector>

#include "deblurcore/error.h"

namespace deblurcore {
namespace blocks {

namespace {

// Channels [c0, c1) of a batch-1 map (1, C, H, W): a view, as they are contiguous.
Tensor channels(const Tensor& t, int64_t c0, int64_t c1) {
  const int64_t H = t.size(2), W = t.size(3);
  return t.reshape({t.size(1), H, W}).slice0(c0, c1).reshape({1, c1 - c0, H, W});
}

}  // namespace

Tensor fac_streamed(const Context& ctx, const Tensor& x, const StreamedFilters& filters,
                    int kernel_size, const FilterSink& sink, Tensor out) {
  check(x.defined() && x.dim() == 4 && x.size(0) == 1, "fac_streamed: x must be (1, C, H, W), got ",
        x.defined() ? x.shape_str() : "none");
  check(kernel_size > 0, "fac_streamed: kernel_size must be positive, got ", kernel_size);
  if (out.defined())
    check(out.shape() == x.shape(), "fac_streamed: out must have the shape of x ", x.shape_str(),
          ", got ", out.shape_str());
  else
    out = ctx.empty(x.shape());
  const int64_t taps = int64_t(kernel_size) * kernel_size;
  int64_t c0 = 0;
  for (size_t g = 0; g < filters.groups(); ++g) {
    const Tensor k = filters.group(ctx, g);
    check(k.size(1) % taps == 0, "fac_streamed: filter group ", g, " has ", k.size(1),
          " channels, not a multiple of kernel_size^2 = ", taps);
    const int64_t c1 = c0 + k.size(1) / taps;
    check(c1 <= x.size(1), "fac_streamed: the filter groups cover more than the ", x.size(1),
          " channels of x");
    fac_into(ctx, channels(x, c0, c1), k, kernel_size, channels(out, c0, c1));
    if (sink) sink(k);
    c0 = c1;
  }
  check(c0 == x.size(1), "fac_streamed: the filter groups cover ", c0, " of the ", x.size(1),
        " channels of x");
  return out;
}

}  // namespace blocks
}  // namespace deblurcore
