// deform_conv2d_backward on CUDA (formulas: cpu/ref/deform_conv2d_backward.cpp).
//
// Two grid-stride kernels, written for correctness first:
//   * one thread per (n, input channel, tap, output pixel): gcol = weight^T grad_out at that
//     point, then atomicAdd of its shares into grad_x (four corners), grad_offset and grad_mask
//     (summed over the channels of an offset group), which are zeroed first;
//   * one thread per (output channel, input channel * tap) for grad_weight (and per output
//     channel for grad_bias), each a sum over the batch and the output pixels.
// fp32 throughout; atomics make the summation order of grad_x / grad_offset / grad_mask vary
// from run to run (within float rounding).
#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {

struct BackArgs {
  int64_t N, Cin, H, W, Cout, kh, kw, sh, sw, ph, pw, dh, dw, Hout, Wout;
  int64_t taps, G, cpg, P, K, HW;
};

struct Sample {
  bool inside;
  int y0, x0;
  float ly, lx;
};

__device__ __forceinline__ Sample locate(const BackArgs& a, const float* __restrict__ offset,
                                         int64_t n, int64_t g, int64_t k, int64_t pix) {
  const int64_t oy = pix / a.Wout, ox = pix % a.Wout, ky = k / a.kw, kx = k % a.kw;
  const float* off = offset + (n * a.G + g) * 2 * a.taps * a.P;
  const float py = float(oy * a.sh - a.ph + ky * a.dh) + off[(2 * k) * a.P + pix];
  const float px = float(ox * a.sw - a.pw + kx * a.dw) + off[(2 * k + 1) * a.P + pix];
  Sample s{};
  s.inside = py > -1.f && px > -1.f && py < float(a.H) && px < float(a.W);
  if (!s.inside) return s;
  const float fy = floorf(py), fx = floorf(px);
  s.y0 = int(fy), s.x0 = int(fx), s.ly = py - fy, s.lx = px - fx;
  return s;
}

// Corner values v00, v01, v10, v11 of `s` in `plane`, 0 outside the image.
__device__ __forceinline__ void corners(const BackArgs& a, const float* __restrict__ plane,
                                        const Sample& s, float v[4]) {
  const bool y0ok = s.y0 >= 0, y1ok = s.y0 + 1 < a.H, x0ok = s.x0 >= 0, x1ok = s.x0 + 1 < a.W;
  const int64_t i00 = int64_t(s.y0) * a.W + s.x0;
  v[0] = (y0ok && x0ok) ? plane[i00] : 0.f;
  v[1] = (y0ok && x1ok) ? plane[i00 + 1] : 0.f;
  v[2] = (y1ok && x0ok) ? plane[i00 + a.W] : 0.f;
  v[3] = (y1ok && x1ok) ? plane[i00 + a.W + 1] : 0.f;
}

__global__ void deform_grad_input_kernel(const BackArgs a, const float* __restrict__ grad_out,
                                         const float* __restrict__ x,
                                         const float* __restrict__ offset,
                                         const float* __restrict__ mask,
                                         const float* __restrict__ weight, float* grad_x,
                                         float* grad_offset, float* grad_mask) {
  const int64_t total = a.N * a.K * a.P;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t pix = i % a.P, col = (i / a.P) % a.K, n = i / (a.P * a.K);
    const int64_t ci = col / a.taps, k = col % a.taps, g = ci / a.cpg;
    const Sample s = locate(a, offset, n, g, k, pix);
    if (!s.inside) continue;
    float gcol = 0.f;
    for (int64_t co = 0; co < a.Cout; ++co)
      gcol = fmaf(weight[co * a.K + col], grad_out[(n * a.Cout + co) * a.P + pix], gcol);
    const int64_t mi = ((n * a.G + g) * a.taps + k) * a.P + pix;
    const float m = mask ? mask[mi] : 1.f;
    const float* plane = x + (n * a.Cin + ci) * a.HW;
    float v[4];
    corners(a, plane, s, v);
    const float hy = 1.f - s.ly, hx = 1.f - s.lx;
    const float val = hy * (hx * v[0] + s.lx * v[1]) + s.ly * (hx * v[2] + s.lx * v[3]);
    const float gs = gcol * m;
    if (grad_mask) atomicAdd(grad_mask + mi, gcol * val);
    const int64_t oi = ((n * a.G + g) * 2 * a.taps + 2 * k) * a.P + pix;
    atomicAdd(grad_offset + oi, gs * (hx * (v[2] - v[0]) + s.lx * (v[3] - v[1])));
    atomicAdd(grad_offset + oi + a.P, gs * (hy * (v[1] - v[0]) + s.ly * (v[3] - v[2])));
    float* gx = grad_x + (n * a.Cin + ci) * a.HW;
    const bool y0ok = s.y0 >= 0, y1ok = s.y0 + 1 < a.H, x0ok = s.x0 >= 0, x1ok = s.x0 + 1 < a.W;
    const int64_t i00 = int64_t(s.y0) * a.W + s.x0;
    if (y0ok && x0ok) atomicAdd(gx + i00, gs * hy * hx);
    if (y0ok && x1ok) atomicAdd(gx + i00 + 1, gs * hy * s.lx);
    if (y1ok && x0ok) atomicAdd(gx + i00 + a.W, gs * s.ly * hx);
    if (y1ok && x1ok) atomicAdd(gx + i00 + a.W + 1, gs * s.ly * s.lx);
  }
}

__global__ void deform_grad_weight_kernel(const BackArgs a, const float* __restrict__ grad_out,
                                          const float* __restrict__ x,
                                          const float* __restrict__ offset,
                                          const float* __restrict__ mask, float* grad_weight) {
  const int64_t total = a.Cout * a.K;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t co = i / a.K, col = i % a.K, ci = col / a.taps, k = col % a.taps;
    const int64_t g = ci / a.cpg;
    float acc = 0.f;
    for (int64_t n = 0; n < a.N; ++n) {
      const float* plane = x + (n * a.Cin + ci) * a.HW;
      for (int64_t pix = 0; pix < a.P; ++pix) {
        const Sample s = locate(a, offset, n, g, k, pix);
        if (!s.inside) continue;
        float v[4];
        corners(a, plane, s, v);
        const float hy = 1.f - s.ly, hx = 1.f - s.lx;
        float val = hy * (hx * v[0] + s.lx * v[1]) + s.ly * (hx * v[2] + s.lx * v[3]);
        if (mask) val *= mask[((n * a.G + g) * a.taps + k) * a.P + pix];
        acc = fmaf(grad_out[(n * a.Cout + co) * a.P + pix], val, acc);
      }
    }
    grad_weight[i] = acc;
  }
}

__global__ void deform_grad_bias_kernel(const BackArgs a, const float* __restrict__ grad_out,
                                        float* grad_bias) {
  for (int64_t co = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; co < a.Cout;
       co += int64_t(gridDim.x) * blockDim.x) {
    float acc = 0.f;
    for (int64_t n = 0; n < a.N; ++n)
      for (int64_t pix = 0; pix < a.P; ++pix) acc += grad_out[(n * a.Cout + co) * a.P + pix];
    grad_bias[co] = acc;
  }
}

}  // namespace

void deform_conv2d_backward(const Context& ctx, const DeformConv2dParams& p, const float* grad_out,
                            const float* x, const float* offset, const float* mask,
                            const float* weight, float* grad_x, float* grad_offset,
                            float* grad_mask, float* grad_weight, float* grad_bias) {
  BackArgs a{};
  a.N = p.N, a.Cin = p.Cin, a.H = p.H, a.W = p.W, a.Cout = p.Cout, a.kh = p.kh, a.kw = p.kw;
  a.sh = p.sh, a.sw = p.sw, a.ph = p.ph, a.pw = p.pw, a.dh = p.dh, a.dw = p.dw;
  a.Hout = p.Hout, a.Wout = p.Wout;
  a.taps = p.kh * p.kw, a.G = p.offset_groups, a.cpg = p.Cin / p.offset_groups;
  a.P = p.Hout * p.Wout, a.K = p.Cin * a.taps, a.HW = p.H * p.W;
  const cudaStream_t s = stream_of(ctx);
  check_cuda(cudaMemsetAsync(grad_x, 0, sizeof(float) * a.N * a.Cin * a.HW, s),
             "deform_conv2d_backward (zero grad_x)");
  check_cuda(cudaMemsetAsync(grad_offset, 0, sizeof(float) * a.N * a.G * 2 * a.taps * a.P, s),
             "deform_conv2d_backward (zero grad_offset)");
  if (grad_mask)
    check_cuda(cudaMemsetAsync(grad_mask, 0, sizeof(float) * a.N * a.G * a.taps * a.P, s),
               "deform_conv2d_backward (zero grad_mask)");
  deform_grad_input_kernel<<<grid_for(a.N * a.K * a.P), kThreads, 0, s>>>(
      a, grad_out, x, offset, mask, weight, grad_x, grad_offset, grad_mask);
  check_launch("deform_conv2d_backward (input, offset, mask)");
  deform_grad_weight_kernel<<<grid_for(a.Cout * a.K), kThreads, 0, s>>>(a, grad_out, x, offset,
                                                                        mask, grad_weight);
  check_launch("deform_conv2d_backward (weight)");
  if (grad_bias) {
    deform_grad_bias_kernel<<<grid_for(a.Cout), kThreads, 0, s>>>(a, grad_out, grad_bias);
    check_launch("deform_conv2d_backward (bias)");
  }
}

}  // namespace cuda
}  // namespace deblurcore
