// A 1x1 convolution with few output channels (Cout <= 8, stride 1, no padding), such as
// ASPDC's mask head (128 -> 4 channels): a memory-bound pass that reads the Cin input planes
// once and writes Cout planes. The GEMM driver tiles output channels by its register block
// (mr >= 8 rows) and packs the input, so at Cout = 4 it computes and moves several times the
// useful data: measured on one thread for x (1, 128, 180, 320), 3.9-4.4 ms per call through
// the GEMM, 1.8-2.0 ms here (30 MB read at ~16 GB/s, on a machine loaded by other work).
//
// Work item: one block of kBlock pixels of one image; its Cout accumulator rows stay in L1
// while the Cin input rows of the block are streamed through them in channel order (each a
// contiguous run of the plane), then the epilogue of epilogue.h writes the outputs. The block
// loop is compiled per instruction set (conv1x1_small_cout_impl.h); conv1x1_small_cout.cpp
// shares the blocks out across threads.
#pragma once

#include <cstdint>

#include "backends.h"

namespace deblurcore {
namespace cpu {
namespace conv1x1 {

constexpr int64_t kMaxCout = 8;
constexpr int64_t kBlock = 512;  // pixels per work item

// Whether p is a convolution this path runs: 1x1, stride 1, no padding, Cout <= kMaxCout.
bool small_cout_applies(const Conv2dParams& p);

// conv2d for such p (fp32; the caller keeps bf16 contexts on their own path).
void small_cout(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
                const float* bias, const float* residual, float* out);

// Pixels [begin, begin + len) of image n (len <= kBlock).
using BlockFn = void (*)(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                         const float* residual, float* out, int64_t n, int64_t begin, int64_t len);

#define DEBLURCORE_DECLARE_CONV1X1(isa)                                                            \
  namespace isa {                                                                                  \
  void small_cout_block(const Conv2dParams& p, const float* x, const float* w, const float* bias,  \
                        const float* residual, float* out, int64_t n, int64_t begin, int64_t len); \
  }
DEBLURCORE_DECLARE_CONV1X1(generic)
DEBLURCORE_DECLARE_CONV1X1(avx2)
DEBLURCORE_DECLARE_CONV1X1(avx512)
#undef DEBLURCORE_DECLARE_CONV1X1

}  // namespace conv1x1
}  // namespace cpu
}  // namespace deblurcore
