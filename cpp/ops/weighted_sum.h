// weighted_sum: a per-pixel blend of B same-shaped feature maps by B weight planes (ASPDC's
// branch fusion). Internal to the library (models use it); not part of the public op API.
#pragma once

#include <vector>

#include "deblurcore/context.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

// inputs: B tensors (N, C, H, W); weights (N, B, H, W) ->
//   out[n,c,y,x] = sum_b weights[n,b,y,x] * inputs[b][n,c,y,x],
// accumulated in float32 in the order b = 0, 1, ..., B-1.
Tensor weighted_sum(const Context& ctx, const std::vector<Tensor>& inputs, const Tensor& weights);

}  // namespace deblurcore
