// Dilated 3x3 convolutions by Winograd (conv_winograd.h): a 3x3 stride-1 convolution with
// dilation d and padding d on every side reads, for output (a + d i, b + d j), only inputs
// (a + d i', b + d j'): it is d*d independent undilated 3x3 convolutions with padding 1, one per
// polyphase sub-image x_ab[i, j] = x[a + d i, b + d j]. The sub-images are gathered into one
// batch of d*d images, convolved in one Winograd call and scattered back. (ASPDC's offset and
// mask predictors are 3x3 convs with dilation 2 and 4 and padding equal to the dilation.)
#include <cstring>

#include "cpu/conv_winograd.h"
#include "cpu/parallel.h"

namespace deblurcore {
namespace cpu {
namespace winograd {

namespace {

// dst[j] = src[d j] for j < n: with d a constant (the models' 2 and 4) the compiler vectorises
// the strided reads.
template <int D>
inline void strided_copy(const float* __restrict src, float* __restrict dst, int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] = src[D * j];
}

inline void strided_copy(const float* src, float* dst, int64_t n, int64_t d) {
  switch (d) {
    case 2: return strided_copy<2>(src, dst, n);
    case 4: return strided_copy<4>(src, dst, n);
    default:
      for (int64_t j = 0; j < n; ++j) dst[j] = src[d * j];
  }
}

struct Polyphase {
  int64_t d, Hs, Ws;  // dilation; sub-image size (the last rows / columns may lie outside)
  explicit Polyphase(const Conv2dParams& p)
      : d(p.dh), Hs((p.H + p.dh - 1) / p.dh), Ws((p.W + p.dw - 1) / p.dw) {}
  int64_t images() const { return d * d; }
};

// xs[(n d + a) d + b][c][i][j] = x[n][c][a + d i][b + d j], zero outside the image.
void gather(const Context& ctx, const Conv2dParams& p, const Polyphase& g, const float* x,
            float* xs) {
  const int64_t d = g.d, rows = p.N * p.Cin * g.Hs * d;
#pragma omp parallel for num_threads(threads_for(ctx, rows* g.Ws)) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {  // (n, c, i, a): input row a + d i
    const int64_t a = row % d, i = row / d % g.Hs, c = row / (d * g.Hs) % p.Cin,
                  n = row / (d * g.Hs * p.Cin);
    const int64_t y = a + d * i;
    for (int64_t b = 0; b < d; ++b) {
      float* dst = xs + ((((n * d + a) * d + b) * p.Cin + c) * g.Hs + i) * g.Ws;
      if (y >= p.H) {
        std::memset(dst, 0, sizeof(float) * size_t(g.Ws));
        continue;
      }
      const float* src = x + ((n * p.Cin + c) * p.H + y) * p.W + b;
      const int64_t inside = (p.W - b + d - 1) / d;  // columns b + d j < W
      strided_copy(src, dst, inside, d);
      for (int64_t j = inside; j < g.Ws; ++j) dst[j] = 0.f;
    }
  }
}

// out[n][co][a + d i][b + d j] = ys[(n d + a) d + b][co][i][j] inside the output.
void scatter(const Context& ctx, const Conv2dParams& p, const Polyphase& g, const float* ys,
             float* out) {
  const int64_t d = g.d, rows = p.N * p.Cout * p.Hout;
#pragma omp parallel for num_threads(threads_for(ctx, rows* p.Wout)) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {  // (n, co, y)
    const int64_t y = row % p.Hout, co = row / p.Hout % p.Cout, n = row / (p.Hout * p.Cout);
    const int64_t a = y % d, i = y / d;
    float* dst = out + row * p.Wout;
    for (int64_t b = 0; b < d; ++b) {
      const float* src = ys + ((((n * d + a) * d + b) * p.Cout + co) * g.Hs + i) * g.Ws;
      const int64_t inside = (p.Wout - b + d - 1) / d;
      for (int64_t j = 0; j < inside; ++j) dst[b + d * j] = src[j];
    }
  }
}

}  // namespace

bool dilated_applies(const Conv2dParams& p) {
  const int64_t d = p.dh;
  return p.kh == 3 && p.kw == 3 && p.sh == 1 && p.sw == 1 && d > 1 && p.dw == d && p.ph == d &&
         p.pw == d && p.Hout == p.H && p.Wout == p.W && p.Cin > 0 && p.Cout > 0 &&
         p.epilogue.scale == nullptr && p.epilogue.shift == nullptr;
}

// The undilated convolution of the d*d sub-images as one batch.
Conv2dParams sub_image_params(const Conv2dParams& p) {
  const Polyphase g(p);
  Conv2dParams q = p;
  q.N = p.N * g.images();
  q.H = q.Hout = g.Hs;
  q.W = q.Wout = g.Ws;
  q.dh = q.dw = 1;
  q.ph = q.pw = 1;
  return q;
}

// Measured (128->27, 2 threads, a C++ loop over conv2d, direct vs forced Winograd): sub-images
// 160 wide (ASPDC's dilation 2 at 720p) 23 -> 13 ms, 80 wide (dilation 4) 24 -> 15 ms, 40 wide
// 11.9 -> 8.4 ms, 32 wide (90x64, dilation 2) 2.2 -> 1.6 ms; 24 wide tied (7.1 / 6.9 ms) and
// 16 wide lost (2.4 / 3.1 ms): a block is one tile row, so narrow sub-images waste most of it.
// Hence sub-images at least 32 wide, and faster()'s 4096 output pixels counted over the batch.
bool dilated_faster(const Conv2dParams& p, bool bf16) {
  const Conv2dParams q = sub_image_params(p);
  const bool worth = bf16 ? worth_preparing_bf16(q.Cout, q.Cin) : worth_preparing(q.Cout, q.Cin);
  return worth && q.Wout >= 32 && q.N * q.Hout * q.Wout >= 4096;
}

void conv2d_dilated(const Context& ctx, const Conv2dParams& p, const float* x, const float* w,
                    const float* u, const float* bias, float* out, int tile) {
  const Polyphase g(p);
  const Conv2dParams q = sub_image_params(p);
  Tensor xs = ctx.empty({q.N, q.Cin, q.H, q.W});
  gather(ctx, p, g, x, xs.data());
  Tensor ys = ctx.empty({q.N, q.Cout, q.Hout, q.Wout});
  conv2d(ctx, q, xs.data(), w, u, bias, nullptr, ys.data(), tile);
  scatter(ctx, p, g, ys.data(), out);
}

}  // namespace winograd
}  // namespace cpu
}  // namespace deblurcore
