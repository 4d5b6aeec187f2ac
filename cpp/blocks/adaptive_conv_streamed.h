// The adaptive convolutions on StreamedFilters: each group of filters is computed, consumed
// and freed before the next one exists (see blocks/streamed_filters.h).
#pragma once

#include <functional>

#include "blocks/streamed_filters.h"
#include "deblurcore/ops.h"

namespace deblurcore {
namespace blocks {

// Receives each group of filters after its adaptive conv used it, so that another consumer
// of the same filter tensor (STFAN's kconv4 reads kernel_warp too) takes it before it is
// freed, e.g. a ConcatConv2d::RunningSum.
using FilterSink = std::function<void(const Tensor&)>;

// fac(x, filters, kernel_size) for x (1, C, H, W) and filters whose groups hold the
// kernel_size^2 taps of consecutive feature channels (group g: Cg channels' worth, Cg*k*k
// filter channels); the groups together must cover the C channels of x. The output is the
// same as one fac on the whole filter tensor: each channel is computed from the same values.
// Each group's channels are written straight into their place in the output (no concat);
// with `out` (1, C, H, W) given, e.g. a channel range of a larger map, into `out`, which is
// returned.
Tensor fac_streamed(const Context& ctx, const Tensor& x, const StreamedFilters& filters,
                    int kernel_size, const FilterSink& sink = {}, Tensor out = {});

// IFAN's IAC (reuse_vertical_filter, LeakyReLU after every iteration) with one iteration per
// group: group i holds F1_i (C*k channels) then b_i (C channels), for x (N, C, H, W). The
// same as iac() on the official filter tensor whose F1_i and b_i rows these are.
Tensor iac_streamed(const Context& ctx, const Tensor& x, const StreamedFilters& filters,
                    int kernel_size);

}  // namespace blocks
}  // namespace deblurcore
