// Declarations of the three backends (see backend_api.inc for the kernel set). Device memory
// is not here but in memory/device_memory.h.
#pragma once

#include <cstdint>

#include "deblurcore/context.h"
#include "op_params.h"

namespace deblurcore {

namespace cpu {
namespace ref {
#include "backend_api.inc"
}  // namespace ref
#include "backend_api.inc"

// The CPU's prepared form of a conv2d weight (Cout, Cin, kh, kw) (conv2d_prepare): the size
// in floats of its Winograd F(4x4, 3x3) transform, 0 where conv2d never runs such a weight
// by Winograd; and the transform.
int64_t conv2d_winograd_weight_size(int64_t Cout, int64_t Cin, int64_t kh, int64_t kw);
void conv2d_winograd_weight(int64_t Cout, int64_t Cin, const float* weight, float* out);
// The same for Precision::BF16: the weight rounded to bfloat16 and packed for the direct bf16
// GEMM (0 where this CPU or build has no bf16 kernel), and its Winograd transform in bf16
// pairs (0 where conv2d never runs the weight by bf16 Winograd).
int64_t conv2d_bf16_weight_size(int64_t Cout, int64_t Cin, int64_t kh, int64_t kw);
void conv2d_bf16_weight(int64_t Cout, int64_t Cin, int64_t kh, int64_t kw, const float* weight,
                        float* out);
int64_t conv2d_winograd_bf16_weight_size(int64_t Cout, int64_t Cin, int64_t kh, int64_t kw);
void conv2d_winograd_bf16_weight(int64_t Cout, int64_t Cin, const float* weight, float* out);
// The same for the Winograd F(6x6, 3x3) of a context with winograd_tile() 6 (0 where this
// CPU or build has no such kernel).
int64_t conv2d_winograd6_weight_size(int64_t Cout, int64_t Cin, int64_t kh, int64_t kw);
void conv2d_winograd6_weight(int64_t Cout, int64_t Cin, const float* weight, float* out);
// The CPU's prepared form of a conv_transpose2d weight (Cin, Cout, kh, kw)
// (conv_transpose2d_prepare): the size in floats of the Winograd transform of its stride-2
// phase convolution, 0 where conv_transpose2d never runs such a weight by Winograd; and the
// transform.
int64_t conv_transpose2d_winograd_weight_size(int64_t Cin, int64_t Cout, int64_t kh, int64_t kw);
void conv_transpose2d_winograd_weight(int64_t Cin, int64_t Cout, const float* weight, float* out);
}  // namespace cpu

namespace cuda {
#include "backend_api.inc"
}  // namespace cuda

}  // namespace deblurcore
