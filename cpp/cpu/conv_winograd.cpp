// Winograd F(4x4, 3x3) conv2d (conv_winograd.h): weight transform, the per-layer choice against
// the direct convolution, and the driver. Threads take work items (image, tile row, block of
// tiles) dynamically, as the direct convolution does; each has its own scratch for the
// transformed input and the GEMM output of one block, from the Context.
#include "cpu/conv_winograd.h"

#include <algorithm>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "backends.h"
#include "cpu/conv_gemm_bf16.h"
#include "cpu/isa.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cpu {
namespace winograd {

namespace {

// G of conv_winograd.h.
constexpr double kG[kAlpha][3] = {{1., 0., 0.},
                                  {1. / 6, 1. / 6, 1. / 6},
                                  {1. / 6, -1. / 6, 1. / 6},
                                  {4. / 3, 2. / 3, 1. / 3},
                                  {4. / 3, -2. / 3, 1. / 3},
                                  {0., 0., 1. / 4}};

// G of F(6x6, 3x3) (conv_winograd6_avx512.cpp): the Vandermonde rows (1, p, p^2) of the points
// 0, 1, -1, 2, -2, 1/2, -1/2 and infinity, scaled by the inverse of B^T's row factors.
constexpr double kG6[8][3] = {{1., 0., 0.},
                              {-2. / 9, -2. / 9, -2. / 9},
                              {-2. / 9, 2. / 9, -2. / 9},
                              {1. / 90, 1. / 45, 2. / 45},
                              {1. / 90, -1. / 45, 2. / 45},
                              {32. / 45, 16. / 45, 8. / 45},
                              {32. / 45, -16. / 45, 8. / 45},
                              {0., 0., 1.}};
constexpr int kPoints6 = 64;

int64_t panels_of(int64_t Cout) { return (Cout + kPanel - 1) / kPanel; }

// U[xi][panel][ci][r] = (G g G^T)[xi] of output channel panel*kPanel + r (zero past Cout), in
// double, for the A x 3 matrix G of F(4x4, 3x3) or F(6x6, 3x3).
template <int A>
void transform_weights_by(const double (&g_mat)[A][3], int64_t Cout, int64_t Cin, const float* w,
                          float* u) {
  const int64_t panels = panels_of(Cout);
  std::fill(u, u + int64_t(A) * A * panels * kPanel * Cin, 0.f);
  for (int64_t co = 0; co < Cout; ++co)
    for (int64_t ci = 0; ci < Cin; ++ci) {
      const float* g = w + (co * Cin + ci) * 9;
      double gg[A][3];  // G g
      for (int i = 0; i < A; ++i)
        for (int k = 0; k < 3; ++k)
          gg[i][k] = g_mat[i][0] * g[k] + g_mat[i][1] * g[3 + k] + g_mat[i][2] * g[6 + k];
      for (int i = 0; i < A; ++i)
        for (int j = 0; j < A; ++j) {
          const double v = gg[i][0] * g_mat[j][0] + gg[i][1] * g_mat[j][1] + gg[i][2] * g_mat[j][2];
          const int64_t xi = i * A + j;
          u[((xi * panels + co / kPanel) * Cin + ci) * kPanel + co % kPanel] = float(v);
        }
    }
}

const Kernel* f6_kernel_or_null() {
#if defined(DEBLURCORE_X86_ISA)
  if (detect_isa() == Isa::AVX512) return &avx512::conv_winograd6_kernel;
#endif
  return nullptr;
}

const Kernel& select_kernel(const Context& ctx, int tile) {
  if (tile == 6) {
    const Kernel* kern = ctx.isa() == Isa::AVX512 ? f6_kernel_or_null() : nullptr;
    check(kern != nullptr, "Winograd F(6x6, 3x3) needs instruction set avx512");
    return *kern;
  }
  if (ctx.precision() == Precision::BF16) {
    const Kernel* kern = nullptr;
#if defined(DEBLURCORE_X86_ISA)
    if (cpu_supports_bf16() && ctx.isa() == Isa::AVX512)
      kern = &avx512bf16::conv_winograd_bf16_kernel;
#endif
    check(kern != nullptr,
          "precision 'bf16' needs a CPU with AVX512_BF16 and instruction set avx512");
    return *kern;
  }
  const IsaTable<const Kernel*> table{&generic::conv_winograd_kernel,
                                      DEBLURCORE_ISA_ENTRY(&avx2::conv_winograd_kernel),
                                      DEBLURCORE_ISA_ENTRY(&avx512::conv_winograd_kernel)};
  return *select_isa(ctx, table);
}

}  // namespace

int64_t transformed_weight_size(int64_t Cout, int64_t Cin) {
  return kPoints * panels_of(Cout) * kPanel * Cin;
}

void transform_weights(int64_t Cout, int64_t Cin, const float* w, float* u) {
  transform_weights_by(kG, Cout, Cin, w, u);
}

int64_t transformed_weight_size6(int64_t Cout, int64_t Cin) {
  return kPoints6 * panels_of(Cout) * kPanel * Cin;
}

void transform_weights6(int64_t Cout, int64_t Cin, const float* w, float* u) {
  transform_weights_by(kG6, Cout, Cin, w, u);
}

bool f6_available() { return f6_kernel_or_null() != nullptr; }

bool worth_preparing6(int64_t Cout, int64_t Cin) { return Cout >= 64 && Cin >= 64; }

// F(6x6, 3x3) against F(4x4, 3x3) (a C++ loop over conv2d with prepared weights, both in the
// same process alternating, 2 threads, medians of 7-11, 2-core Zen 4): 128->128 at 160x90
// 1.20x, at 320x180 1.08-1.17x, 64->64 at 640x360 1.02-1.06x (some runs of both 0.75x: this
// size is bimodal here), 256->128 at 160x90 1.02x; with a residual (IFAN's ResnetBlocks)
// 128->128 1.17-1.20x and 1.15x once its rows are prefetched (1.13x and 1.10x before). 32->32
// at 1280x720 0.95-0.97x: with few channels the transforms outweigh the GEMM, and the large
// output misses the non-temporal stores of F(4x4, 3x3) (which, tried here, made F(6x6, 3x3)
// slower still). Its blocks span 16 tiles (96 columns). Hence: at least 64 channels in and
// out, 96 columns and 4096 output pixels.
// ConvAlgorithm::Winograd forces it wherever its blocks fit (16 tiles across).
int float_tile(const Context& ctx, const Conv2dParams& p) {
  if (ctx.winograd_tile() != 6 || ctx.isa() != Isa::AVX512 || !f6_available()) return 4;
  if (ctx.conv_algorithm() == ConvAlgorithm::Winograd) return (p.Wout + 5) / 6 >= 16 ? 6 : 4;
  return worth_preparing6(p.Cout, p.Cin) && p.Wout >= 96 && p.Hout * p.Wout >= 4096 ? 6 : 4;
}

int64_t transformed_weight_size_bf16(int64_t Cout, int64_t Cin) {
  return kPoints * panels_of(Cout) * kPanel * ((Cin + 1) / 2);
}

void transform_weights_bf16(int64_t Cout, int64_t Cin, const float* w, float* u) {
  std::vector<float> u32(size_t(transformed_weight_size(Cout, Cin)));
  transform_weights(Cout, Cin, w, u32.data());
  const int64_t panels = panels_of(Cout), pairs = (Cin + 1) / 2;
  for (int64_t xp = 0; xp < kPoints * panels; ++xp)  // (xi, panel)
    for (int64_t c = 0; c < pairs; ++c)
      for (int r = 0; r < kPanel; ++r) {
        const float lo = u32[size_t((xp * Cin + 2 * c) * kPanel + r)];
        const float hi = 2 * c + 1 < Cin ? u32[size_t((xp * Cin + 2 * c + 1) * kPanel + r)] : 0.f;
        const uint32_t word = convgemm::bf16_pair_word(lo, hi);
        std::memcpy(u + (xp * pairs + c) * kPanel + r, &word, sizeof word);
      }
}

bool applies(const Conv2dParams& p) {
  return p.kh == 3 && p.kw == 3 && p.sh == 1 && p.sw == 1 && p.dh == 1 && p.dw == 1 && p.Cin > 0 &&
         p.Cout > 0;
}

// The rule, from benchmarks/winograd.py and small-size runs on the 2-core Zen 4 (AVX-512),
// Winograd time vs direct time in the same process (load average 8-9, medians of 3):
//  * at the models' 720p sizes Winograd won on every 3x3 stride-1 layer: 3->32 at 1280x720
//    1.29x, 32->32 1.88x, 64->64 at 640x360 2.28x, 128->128 at 320x180 2.09x, 256->128 2.15x,
//    128->128 at 160x90 1.70x, 128->27 1.60x, 32->9 1.76x, 32->3 1.25x; a single output
//    channel (128->1) tied (0.95-1.15x: a panel of 8 channels computes 7 zeros);
//  * on small images it lost: 128->128 at 32x24 0.5x, at 80x45 1.2x; 32->32 at 48x32 0.8x
//    (a block is one tile row of up to 32 tiles, so narrow images waste most of it).
// Hence: at least 8 output channels, rows of at least 64 pixels and 4096 output pixels.
bool worth_preparing(int64_t Cout, int64_t /*Cin*/) { return Cout >= 8; }

bool faster(const Conv2dParams& p) {
  return worth_preparing(p.Cout, p.Cin) && p.Wout >= 64 && p.Hout * p.Wout >= 4096;
}

// bf16 Winograd against the direct bf16 GEMM (benchmarks/winograd.py --precision bf16, 2-core
// Zen 4, load average 16, medians of 3, at 1280x720 sizes): 32->32 1.75x, 64->64 at 640x360
// 1.98x, 128->128 at 320x180 1.50x, 256->128 1.56x, 128->128 at 160x90 1.21x, 128->27 1.48x,
// 32->9 1.39x; but the first conv 3->32 and the last 32->3 tied (1.00x: with 2 channel pairs
// the GEMM is too small to pay for the transforms, and with 3 outputs a panel of 8 channels
// computes 5 zeros). bf16 Winograd is also the less accurate of the two (the transformed
// values are rounded to 8 bits before the products, and the output transform cancels much of
// their size: max relative error ~6e-2 per layer against ~2.5e-3 for the direct bf16 GEMM,
// same benchmark), so a tie goes to the direct GEMM: at least 16 input channels, the rest as
// in faster().
bool worth_preparing_bf16(int64_t Cout, int64_t Cin) {
  return worth_preparing(Cout, Cin) && Cin >= 16;
}

bool faster_bf16(const Conv2dParams& p) {
  return worth_preparing_bf16(p.Cout, p.Cin) && p.Wout >= 64 && p.Hout * p.Wout >= 4096;
}

// Outputs of at least this size are written with non-temporal stores. Such an output is
// larger than this machine's last-level cache (32 MB on the 2-core Zen 4), so the next layer
// reads it from memory either way, and bypassing the caches saves reading every output line
// before writing it. Measured (a C++ loop over conv2d with a prepared weight, 1 thread, CPU
// time, medians of 5, load average ~6): 32->32 at 1280x720 (118 MB out) 9% faster, 64->64 at
// 640x360 (59 MB) 4-11%; 128->128 at 320x180 (29 MB) no difference, so smaller outputs keep
// the cached stores (the next layer may still find them in cache).
constexpr int64_t kStreamThresholdBytes = int64_t(32) << 20;

void conv2d(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
            const float* u, const float* bias, const float* residual, float* out, int tile) {
  const Kernel& kern = select_kernel(ctx, tile);
  const bool bf16 = tile == 4 && ctx.precision() == Precision::BF16;
  Tensor own_u;
  if (!u) {
    own_u = ctx.empty({tile == 6 ? transformed_weight_size6(p.Cout, p.Cin)
                       : bf16    ? transformed_weight_size_bf16(p.Cout, p.Cin)
                                 : transformed_weight_size(p.Cout, p.Cin)});
    if (tile == 6)
      transform_weights6(p.Cout, p.Cin, w, own_u.data());
    else if (bf16)
      transform_weights_bf16(p.Cout, p.Cin, w, own_u.data());
    else
      transform_weights(p.Cout, p.Cin, w, own_u.data());
    u = own_u.data();
  }
  const int64_t T = kern.block_tiles, tile_side = kern.tile;
  const int64_t tiles_h = (p.Hout + tile_side - 1) / tile_side,
                tiles_w = (p.Wout + tile_side - 1) / tile_side;
  if (p.N == 0 || tiles_h == 0 || tiles_w == 0) return;
  // Blocks of T tiles along a tile row, the last one narrower: the kernel computes a block
  // in whole vectors of tiles, so 80 tiles (a 320-pixel row) as 32 + 32 + 16 on AVX-512 cost
  // 80 tiles of work, where an even split, 27 + 27 + 26, cost 96. A last block that fills at
  // most half a vector shares one with the last block of the next tile row: 40 tiles (IFAN's
  // 160-pixel rows at 720p) cost 32 + 16 per row alone, 32 + 8 paired.
  const int64_t full = tiles_w / T, rem = tiles_w % T;
  const bool pair = rem > 0 && 2 * rem <= kern.vector_tiles && tiles_h > 1;
  // Items come in groups of rows_per_group tile rows: their full blocks row by row, then the
  // (shared) last block; the last group may have one row fewer.
  const int64_t rows_per_group = pair ? 2 : 1;
  const int64_t groups = (tiles_h + rows_per_group - 1) / rows_per_group;
  const int64_t per_group = rows_per_group * full + (rem > 0 ? 1 : 0);
  const int64_t last_rows = tiles_h - (groups - 1) * rows_per_group;
  const int64_t per_image = (groups - 1) * per_group + last_rows * full + (rem > 0 ? 1 : 0);
  // A flat kernel's blocks: T consecutive tiles of the image each.
  const int64_t flat_tiles = tiles_h * tiles_w;
  check(!kern.flat || tiles_w >= T, "Winograd: the image is narrower than a block of tiles");
  const int64_t flat_per_image = (flat_tiles + T - 1) / T;
  const int64_t items = p.N * (kern.flat ? flat_per_image : per_image);
  const int threads = int(std::min<int64_t>(ctx.num_threads(), items));

  const int64_t v_size = kern.points * (p.Cin * T + kSkew);
  const int64_t m_size = kern.points * (panels_of(p.Cout) * kPanel * T + kSkew);
  const int64_t per_thread = (v_size + m_size + 15) / 16 * 16;
  Tensor scratch = ctx.empty({int64_t(threads), per_thread});
  const int64_t in_image = p.Cin * p.H * p.W, out_image = p.Cout * p.Hout * p.Wout;

  Block base{};
  base.Cin = p.Cin, base.H = p.H, base.W = p.W, base.Cout = p.Cout;
  base.Hout = p.Hout, base.Wout = p.Wout, base.pad_top = p.ph, base.pad_left = p.pw;
  base.u = u, base.bias = bias, base.epi = p.epilogue;
  base.stream_out = p.N * out_image * int64_t(sizeof(float)) >= kStreamThresholdBytes;

#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num();
#else
    const int tid = 0;
#endif
    Block b = base;
    b.v = scratch.data() + tid * per_thread;
    b.m = b.v + v_size;
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      int64_t n;
      if (kern.flat) {
        n = item / flat_per_image;
        const int64_t f0 = item % flat_per_image * T, count = std::min(T, flat_tiles - f0);
        b.ty = f0 / tiles_w, b.tx0 = f0 % tiles_w;
        b.nt = std::min(count, tiles_w - b.tx0);
        b.ty2 = b.ty + 1, b.tx02 = 0, b.nt2 = count - b.nt;
      } else {
        n = item / per_image;
        const int64_t in_image_item = item % per_image;
        const int64_t g = std::min(in_image_item / per_group, groups - 1);
        const int64_t j = in_image_item - g * per_group;
        const int64_t rows = std::min(rows_per_group, tiles_h - g * rows_per_group);
        b.nt2 = 0;
        if (j < rows * full) {
          b.ty = g * rows_per_group + j / full, b.tx0 = (j % full) * T, b.nt = T;
        } else {
          b.ty = g * rows_per_group, b.tx0 = full * T, b.nt = rem;
          if (rows == 2) b.ty2 = b.ty + 1, b.tx02 = b.tx0, b.nt2 = rem;
        }
      }
      b.x = x + n * in_image;
      b.out = out + n * out_image;
      b.residual = residual ? residual + n * out_image : nullptr;
      b.scale = p.epilogue.scale ? p.epilogue.scale + n * p.Cout : nullptr;
      b.shift = p.epilogue.shift ? p.epilogue.shift + n * p.Cout : nullptr;
      kern.run(b);
    }
  }
}

}  // namespace winograd

int64_t conv2d_winograd_weight_size(int64_t Cout, int64_t Cin, int64_t kh, int64_t kw) {
  return kh == 3 && kw == 3 && winograd::worth_preparing(Cout, Cin)
             ? winograd::transformed_weight_size(Cout, Cin)
             : 0;
}

void conv2d_winograd_weight(int64_t Cout, int64_t Cin, const float* weight, float* out) {
  winograd::transform_weights(Cout, Cin, weight, out);
}

int64_t conv2d_winograd6_weight_size(int64_t Cout, int64_t Cin, int64_t kh, int64_t kw) {
  return kh == 3 && kw == 3 && winograd::worth_preparing6(Cout, Cin) && winograd::f6_available()
             ? winograd::transformed_weight_size6(Cout, Cin)
             : 0;
}

void conv2d_winograd6_weight(int64_t Cout, int64_t Cin, const float* weight, float* out) {
  winograd::transform_weights6(Cout, Cin, weight, out);
}

int64_t conv2d_winograd_bf16_weight_size(int64_t Cout, int64_t Cin, int64_t kh, int64_t kw) {
  return kh == 3 && kw == 3 && winograd::worth_preparing_bf16(Cout, Cin) &&
                 convgemm::bf16_tile_kernel_or_null()
             ? winograd::transformed_weight_size_bf16(Cout, Cin)
             : 0;
}

void conv2d_winograd_bf16_weight(int64_t Cout, int64_t Cin, const float* weight, float* out) {
  winograd::transform_weights_bf16(Cout, Cin, weight, out);
}

}  // namespace cpu
}  // namespace deblurcore
