// The bf16 convolution GEMM (Precision::BF16, see deblurcore/context.h): the driver of
// conv_gemm.cpp with a tile kernel whose operands are pairs of bfloat16 values (TileKernel::
// k_pack 2) and whose products accumulate in float, through the AVX512_BF16 dot product
// vdpbf16ps: acc[j] += a[2j] * b[2j] + a[2j+1] * b[2j+1]. A pair holds input channels 2c and
// 2c+1 at the same tap, so that a vector of B is 16 consecutive output pixels of one tap, read
// straight from the packed input patch as in the float kernel.
//
// Rounding: weights and activations are rounded to bfloat16 (8 significant bits, relative
// error <= 2^-9) to the nearest, ties to even, when packed (conv_gemm_bf16.cpp); the products
// and sums are float. The tile kernel is compiled for AVX-512 + AVX512_BF16 only
// (conv_gemm_bf16_avx512bf16.cpp, namespace cpu::avx512bf16); Context::set_precision refuses
// BF16 on CPUs without it.
#pragma once

#include <cstdint>

#include "cpu/conv_gemm.h"

namespace deblurcore {
namespace cpu {
namespace convgemm {

// The bf16 tile kernel (ValueError when this CPU or build has none; Context::set_precision
// has already checked that).
const TileKernel& select_bf16_tile_kernel(const Context& ctx);

// pack_patch of conv_gemm.cpp for k_pack 2: channel pairs [cp0, cp0+npairs) of image x (input
// channels 2*cp0 ..), each element the 32-bit pair (bf16(x[2c]), bf16(x[2c+1])), zero outside
// the image and for a channel past g.Cin. Rows that read consecutive input columns are
// converted by kern.pair_run.
void pack_patch_bf16_pairs(const TileKernel& kern, const ConvGeometry& g, const float* x,
                           int64_t cp0, int64_t npairs, int64_t iy0, int64_t rows, int64_t ix0,
                           int64_t Wq, int64_t cpitch, float* buf);

// The 32-bit pair (bf16(lo), bf16(hi)), lo in the low half, rounded to nearest, ties to even:
// the operand element of the bf16 kernels (also the Winograd ones, conv_winograd.h).
uint32_t bf16_pair_word(float lo, float hi);

// The tile kernel of Precision::BF16 contexts on this build and CPU, or null where there is
// none (the layout of weights packed ahead of time for it, see conv2d_prepare).
const TileKernel* bf16_tile_kernel_or_null();

}  // namespace convgemm

// The tile kernel of the AVX-512 + AVX512_BF16 instruction set.
namespace avx512bf16 {
extern const convgemm::TileKernel conv_gemm_bf16_kernel;
}
}  // namespace cpu
}  // namespace deblurcore
