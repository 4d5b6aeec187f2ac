// Internal interface of the Winograd F(4x4, 3x3) algorithm of the fast CPU conv2d (stride 1,
// dilation 1, 3x3 kernel, any zero padding): the weight transform and the driver
// (conv_winograd.cpp), and the per-tile-block kernel compiled per instruction set from
// conv_winograd_impl.h (conv_winograd_generic.cpp, _avx2.cpp, _avx512.cpp). The ISA files
// include this header, so it holds no inline code they could call (see cpp/cpu/README.md).
//
// The algorithm (Lavin & Gray 2016): the output is cut into 4x4 tiles, each computed from the
// 6x6 input tile under it as
//     Y = A^T [ sum_ci (G g G^T) (.) (B^T d B) ] A          ((.) = elementwise product)
// so the 36 positions xi of the transformed 6x6 tiles are 36 independent GEMMs
// M[xi] (Cout x tiles) = U[xi] (Cout x Cin) * V[xi] (Cin x tiles): 36 multiplies per tile and
// channel pair instead of the 144 of the direct convolution.
//
// Interpolation points 0, 1, -1, 1/2, -1/2 and infinity. The matrices are the Toom-Cook
// construction for correlation derived here (benchmarks/winograd_accuracy.py re-derives them
// in exact rational arithmetic and checks them): with V the 6x6 Vandermonde matrix of the
// points (row of infinity = e_5), B^T = V^{-T}, G = the 6x3 Vandermonde rows (infinity: e_2),
// A^T = the 4x6 transposed Vandermonde rows (infinity: e_3). Rows of B^T are then scaled to
// small integers and G by the inverse factors:
//   B^T = [ 1  0 -5  0  4  0 ]   G = [ 1    0    0   ]   A^T = [ 1  1  1  1    1    0 ]
//         [ 0 -1 -1  4  4  0 ]       [ 1/6  1/6  1/6 ]         [ 0  1 -1  1/2 -1/2  0 ]
//         [ 0  1 -1 -4  4  0 ]       [ 1/6 -1/6  1/6 ]         [ 0  1  1  1/4  1/4  0 ]
//         [ 0  1  2 -1 -2  0 ]       [ 4/3  2/3  1/3 ]         [ 0  1 -1  1/8 -1/8  1 ]
//         [ 0 -1  2  1 -2  0 ]       [ 4/3 -2/3  1/3 ]
//         [ 0  1  0 -5  0  4 ]       [ 0    0    1/4 ]
// With +-1/2 instead of Lavin & Gray's +-2, A^T's entries are <= 1 and B^T's <= 5; the
// measured error on the models' layers is the same as with +-2 (benchmarks/winograd.py: both
// about 5x the direct convolution's max relative error, 3x its rms).
#pragma once

#include <cstdint>

#include "deblurcore/context.h"
#include "epilogue.h"
#include "op_params.h"

namespace deblurcore {
namespace cpu {
namespace winograd {

constexpr int kAlpha = 6;  // transformed tile side
constexpr int kTile = 4;   // output tile side
constexpr int kPoints = kAlpha * kAlpha;
// Output channels per panel of the transformed weights, on every instruction set (so that
// weights prepared once serve any of them).
constexpr int kPanel = 8;
// Extra floats between the 36 matrices of the scratch V and M: their natural pitch is a
// multiple of 4 KB, which would put all 36 rows a transform touches in the same L1 set.
constexpr int kSkew = 16;

// Floats of the transformed weights of a (Cout, Cin, 3, 3) weight:
// U[xi][panel][ci][r] = (G g G^T)[xi] of output channel panel*kPanel + r (zero past Cout).
int64_t transformed_weight_size(int64_t Cout, int64_t Cin);
// Computes U from w (Cout, Cin, 3, 3), in double precision.
void transform_weights(int64_t Cout, int64_t Cin, const float* w, float* u);

// The bf16 form (Precision::BF16, conv_winograd_bf16_avx512bf16.cpp): U rounded to bfloat16
// (nearest, ties to even) in 32-bit pairs of input channels (2c, 2c+1), the first in the low
// half (an odd last channel pairs with zero): word [((xi*panels + panel)*pairs + c)*kPanel + r],
// pairs = ceil(Cin / 2). Size in 32-bit words (floats of storage).
int64_t transformed_weight_size_bf16(int64_t Cout, int64_t Cin);
void transform_weights_bf16(int64_t Cout, int64_t Cin, const float* w, float* u);

// Whether conv2d with these parameters is a Winograd F(4x4, 3x3) candidate (3x3, stride 1,
// dilation 1).
bool applies(const Conv2dParams& p);
// Whether Winograd is faster than the direct convolution for this layer on this machine (the
// measured rule; see conv_winograd.cpp).
bool faster(const Conv2dParams& p);
// Whether weights (Cout, Cin, 3, 3) are worth transforming at load (faster() for some size).
bool worth_preparing(int64_t Cout, int64_t Cin);
// The same two for the bf16 Winograd of a Precision::BF16 context (against the direct bf16
// GEMM; the rule and its numbers are in conv_winograd.cpp).
bool faster_bf16(const Conv2dParams& p);
bool worth_preparing_bf16(int64_t Cout, int64_t Cin);

// F(6x6, 3x3) (conv_winograd6_avx512.cpp, AVX-512 only; see Context::winograd_tile): its
// transformed weights, U[xi][panel][ci][r] over 64 points xi, as for F(4x4, 3x3).
int64_t transformed_weight_size6(int64_t Cout, int64_t Cin);
void transform_weights6(int64_t Cout, int64_t Cin, const float* w, float* u);
// Whether this build and CPU have the F(6x6, 3x3) kernel, and whether weights (Cout, Cin, 3, 3)
// are worth its transform at load (float_tile() may pick it for some size).
bool f6_available();
bool worth_preparing6(int64_t Cout, int64_t Cin);
// The output tile of the float Winograd of this layer on ctx: 6 where ctx.winograd_tile() is 6,
// the kernel is available and measured faster for the layer (the rule in conv_winograd.cpp),
// else 4.
int float_tile(const Context& ctx, const Conv2dParams& p);

// Runs conv2d by Winograd: F(4x4, 3x3), the bf16 one on a Precision::BF16 context, or with
// tile 6 (float only) F(6x6, 3x3); u: the transformed weights of w in the form of that kernel,
// or null (transformed here).
void conv2d(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
            const float* u, const float* bias, const float* residual, float* out, int tile = 4);

// Dilated 3x3 convolutions (conv_winograd_dilated.cpp): stride 1, dilation d > 1 both ways
// and padding d on every side, without a residual or a per-image scale / shift, are d*d
// undilated ones on the polyphase sub-images, run as one batched Winograd conv2d above.
bool dilated_applies(const Conv2dParams& p);  // (the residual is checked by the caller)
// Whether that pays for these parameters (the measured rule in conv_winograd_dilated.cpp).
bool dilated_faster(const Conv2dParams& p, bool bf16);
void conv2d_dilated(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
                    const float* u, const float* bias, float* out, int tile = 4);
// The sub-image convolution conv2d_dilated runs (for float_tile()).
Conv2dParams sub_image_params(const Conv2dParams& p);

// One work item: tiles [tx0, tx0 + nt) of tile row ty of one image, all output channels; with
// nt2 > 0 also tiles [tx02, tx02 + nt2) of tile row ty2, in the lanes after the first run's.
struct Block {
  const float* x;  // the image (Cin, H, W)
  int64_t Cin, H, W, Cout, Hout, Wout;
  int64_t pad_top, pad_left;
  int64_t ty, tx0, nt;  // nt + nt2 <= the kernel's block_tiles
  // The second run: only with nt + nt2 <= Kernel::vector_tiles (one vector of tiles), which the
  // scheduler uses to pair the short last blocks of two tile rows.
  int64_t ty2, tx02, nt2;
  const float* u;  // transformed weights (transformed_weight_size)
  float* v;        // scratch: kPoints matrices (Cin x block_tiles), kSkew floats apart
  float* m;        // scratch: kPoints matrices (round_up(Cout, kPanel) x block_tiles), likewise
  float* out;      // the image's output (Cout, Hout, Wout)
  const float* residual;  // laid out like out, or null
  const float* bias;      // Cout values or null
  const float* scale;     // this image's Cout values or null
  const float* shift;     // likewise
  EpilogueParams epi;
  // Write the output with non-temporal stores where whole aligned vectors allow (see
  // kStreamThresholdBytes in conv_winograd.cpp).
  bool stream_out;
};

// A per-instruction-set kernel: input transform of a block into V, the 36 GEMMs into M, and the
// output transform with the fused epilogue into the output.
struct Kernel {
  int block_tiles;  // tiles per work item (a multiple of the GEMM's columns)
  void (*run)(const Block& b);
  int vector_tiles;  // tiles per vector (the lanes of one register)
  int tile = kTile;  // output tile side (F(4x4, 3x3) or F(6x6, 3x3))
  int points = kPoints;
  // Blocks are runs of block_tiles consecutive tiles of the image in row-major order (the
  // end of one tile row and the start of the next as Block's two runs; the image at least
  // block_tiles tiles wide), instead of blocks within a tile row.
  bool flat = false;
};

}  // namespace winograd

namespace generic {
extern const winograd::Kernel conv_winograd_kernel;
}
namespace avx2 {
extern const winograd::Kernel conv_winograd_kernel;
}
namespace avx512 {
extern const winograd::Kernel conv_winograd_kernel;
extern const winograd::Kernel conv_winograd6_kernel;
}  // namespace avx512
namespace avx512bf16 {
extern const winograd::Kernel conv_winograd_bf16_kernel;
}
}  // namespace cpu
}  // namespace deblurcore
