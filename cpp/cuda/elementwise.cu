// Memory-bound ops on CUDA: activations, sigmoid, clamp, add, channel softmax, pad, row copies.
// One thread per element (per column for softmax) in grid-stride loops with 64-bit indices.
#include "backends.h"
#include "cuda/cuda_check.h"
#include "cuda/kernel_bodies.cuh"

namespace deblurcore {
namespace cuda {

namespace {

#define DBC_GRID_STRIDE(i, n)                                                   \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

__global__ void activation_kernel(Activation act, float slope, const float* __restrict__ x,
                                  float* __restrict__ out, int64_t n) {
  DBC_GRID_STRIDE(i, n) {
    const float v = x[i];
    if (act == Activation::ReLU)
      out[i] = v < 0.f ? 0.f : v;  // as torch.relu and the reference: -0 and NaN pass through
    else if (act == Activation::LeakyReLU)
      out[i] = v > 0.f ? v : v * slope;
    else
      out[i] = v;
  }
}

__global__ void sigmoid_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t n) {
  DBC_GRID_STRIDE(i, n) { out[i] = 1.f / (1.f + expf(-x[i])); }
}

// NaN stays NaN; otherwise min(max(v, lo), hi) with the comparisons of std::max / std::min.
__global__ void clamp_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t n,
                             float lo, float hi) {
  DBC_GRID_STRIDE(i, n) {
    const float v = x[i];
    if (isnan(v)) {
      out[i] = v;
    } else {
      const float m = v < lo ? lo : v;
      out[i] = hi < m ? hi : m;
    }
  }
}

__global__ void add_kernel(const float* __restrict__ a, const float* __restrict__ b,
                           float* __restrict__ out, int64_t n) {
  DBC_GRID_STRIDE(i, n) { out[i] = a[i] + b[i]; }
}

// One thread per (outer, inner) column; neighbouring threads read neighbouring addresses.
__global__ void softmax_kernel(const SoftmaxParams p, const float* __restrict__ x,
                               float* __restrict__ out) {
  DBC_GRID_STRIDE(col, p.outer * p.inner) {
    const int64_t o = col / p.inner, i = col - o * p.inner;
    const int64_t base = o * p.C * p.inner + i;
    detail::softmax_column(x + base, out + base, p.C, p.inner);
  }
}

__global__ void pad_kernel(const PadParams p, const float* __restrict__ x,
                           float* __restrict__ out) {
  const int64_t plane_out = p.Hout * p.Wout;
  DBC_GRID_STRIDE(i, p.N * p.C * plane_out) {
    const int64_t nc = i / plane_out, rem = i - nc * plane_out;
    const int64_t oy = rem / p.Wout, ox = rem - oy * p.Wout;
    const int64_t sy = detail::pad_source(oy, p.top, p.H, p.mode);
    const int64_t sx = detail::pad_source(ox, p.left, p.W, p.mode);
    out[i] = (sy < 0 || sx < 0) ? p.value : x[(nc * p.H + sy) * p.W + sx];
  }
}

// Rows along grid y, the floats of a row along grid x (both grid-stride).
__global__ void copy_rows_kernel(const float* __restrict__ src, int64_t src_stride,
                                 float* __restrict__ dst, int64_t dst_stride, int64_t row_floats,
                                 int64_t count) {
  for (int64_t r = blockIdx.y; r < count; r += gridDim.y) {
    const float* s = src + r * src_stride;
    float* d = dst + r * dst_stride;
    DBC_GRID_STRIDE(j, row_floats) { d[j] = s[j]; }
  }
}

#undef DBC_GRID_STRIDE

}  // namespace

void activation(const Context& ctx, Activation act, float negative_slope, const float* x,
                float* out, int64_t n) {
  if (n <= 0) return;
  activation_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(act, negative_slope, x, out, n);
  check_launch("activation");
}

void sigmoid(const Context& ctx, const float* x, float* out, int64_t n) {
  if (n <= 0) return;
  sigmoid_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(x, out, n);
  check_launch("sigmoid");
}

void clamp(const Context& ctx, const float* x, float* out, int64_t n, float lo, float hi) {
  if (n <= 0) return;
  clamp_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(x, out, n, lo, hi);
  check_launch("clamp");
}

void add(const Context& ctx, const float* a, const float* b, float* out, int64_t n) {
  if (n <= 0) return;
  add_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(a, b, out, n);
  check_launch("add");
}

void softmax(const Context& ctx, const SoftmaxParams& p, const float* x, float* out) {
  const int64_t n = p.outer * p.inner;
  if (n <= 0 || p.C <= 0) return;
  softmax_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(p, x, out);
  check_launch("softmax");
}

void pad(const Context& ctx, const PadParams& p, const float* x, float* out) {
  const int64_t n = p.N * p.C * p.Hout * p.Wout;
  if (n <= 0) return;
  pad_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(p, x, out);
  check_launch("pad");
}

void copy_rows(const Context& ctx, const float* src, int64_t src_stride, float* dst,
               int64_t dst_stride, int64_t row_floats, int64_t count) {
  if (row_floats <= 0 || count <= 0) return;
  const dim3 grid(grid_for(row_floats), static_cast<unsigned>(std::min<int64_t>(count, 65535)));
  copy_rows_kernel<<<grid, kThreads, 0, stream_of(ctx)>>>(src, src_stride, dst, dst_stride,
                                                          row_floats, count);
  check_launch("copy_rows");
}

}  // namespace cuda
}  // namespace deblurcore
