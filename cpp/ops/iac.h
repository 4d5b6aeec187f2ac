// IAC on filter tensors of any channel layout, for the models (the public iac() in
// deblurcore/ops.h uses the layout of the official IFAN filter head). IFAN computes only the
// filter rows its IAC reads, one iteration at a time, and hands them over in a packed layout.
#pragma once

#include <cstdint>

#include "deblurcore/context.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

// Where the filters of iteration i are (see IacParams): F1_i starts at channel
// f1_base + i*f1_step, F2_i at f2_base + i*f2_step (ignored when the vertical filter is
// reused), b_i at bias_base + i*bias_step. `filter_channels` is dim 1 of the filter tensor.
struct IacLayout {
  int64_t filter_channels;
  int64_t f1_base, f1_step, f2_base, f2_step, bias_base, bias_step;

  // The official layout: n blocks (F1_i, F2_i), then n bias blocks.
  static IacLayout official(int64_t n_iterations, int64_t channels, int64_t k);
  // F1_i blocks of C*k channels, then bias blocks, no F2: n*C*(k+1) channels. Only valid with
  // the vertical filter reused.
  static IacLayout packed(int64_t n_iterations, int64_t channels, int64_t k);
};

Tensor iac_with_layout(const Context& ctx, const Tensor& x, const Tensor& filters,
                       int n_iterations, int kernel_size, const IacLayout& layout,
                       bool reuse_vertical_filter, bool final_activation);

}  // namespace deblurcore
