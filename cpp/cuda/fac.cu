// Filter adaptive convolution (STFAN's KernelConv2D) and its backward on CUDA.
// One thread per output element; the summation order of fac is the official kernel's (see
// fac_at in fac_bodies.cuh), fmaf written out so that it does not depend on -fmad.
// Indices are 64-bit: the filter tensors reach ~184M elements at 720p.
#include "backends.h"
#include "cuda/cuda_check.h"
#include "cuda/fac_bodies.cuh"

namespace deblurcore {
namespace cuda {

namespace {

struct FacArgs {
  int H, W, k, k2;
  int64_t plane;  // H * W
  int64_t NC;     // N * C
};

FacArgs make_args(const char* op, const FacParams& p) {
  const int64_t r = (p.k - 1) / 2;
  // The per-plane arithmetic (y*W + x, tap*plane is 64-bit) and the padded extents are int.
  check<RuntimeError>(fits_int32(p.H * p.W) && fits_int32(p.H + 2 * r) && fits_int32(p.W + 2 * r) &&
                          fits_int32(p.k * p.k),
                      op, ": shape too large for the CUDA kernel (H=", p.H, " W=", p.W, " k=", p.k,
                      ")");
  return FacArgs{int(p.H), int(p.W), int(p.k), int(p.k * p.k), p.H * p.W, p.N * p.C};
}

__global__ void fac_kernel(const FacArgs a, const float* __restrict__ x,
                           const float* __restrict__ kernel, float* __restrict__ out) {
  const int64_t total = a.NC * a.plane;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t nc = i / a.plane;
    const int pix = static_cast<int>(i - nc * a.plane);
    const int y = pix / a.W, xx = pix - y * a.W;
    out[i] = detail::fac_at(x + nc * a.plane, kernel + nc * a.k2 * a.plane, a.H, a.W, a.k, a.plane,
                            y, xx);
  }
}

// One thread per grad_kernel element (N*C*k*k*H*W of them).
__global__ void fac_grad_kernel_kernel(const FacArgs a, const float* __restrict__ grad_out,
                                       const float* __restrict__ x,
                                       float* __restrict__ grad_kernel) {
  const int64_t total = a.NC * a.k2 * a.plane;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t q = i / a.plane;  // nc * k2 + tap
    const int pix = static_cast<int>(i - q * a.plane);
    const int64_t nc = q / a.k2;
    const int t = static_cast<int>(q - nc * a.k2);
    const int y = pix / a.W, xx = pix - y * a.W;
    grad_kernel[i] = detail::fac_grad_kernel_at(x + nc * a.plane, grad_out + nc * a.plane, a.H, a.W,
                                                a.k, t, y, xx);
  }
}

// One thread per grad_x element: a gather, so no atomics and a deterministic result.
__global__ void fac_grad_x_kernel(const FacArgs a, const float* __restrict__ grad_out,
                                  const float* __restrict__ kernel, float* __restrict__ grad_x) {
  const int64_t total = a.NC * a.plane;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t nc = i / a.plane;
    const int pix = static_cast<int>(i - nc * a.plane);
    const int sy = pix / a.W, sx = pix - sy * a.W;
    grad_x[i] = detail::fac_grad_x_at(grad_out + nc * a.plane, kernel + nc * a.k2 * a.plane, a.H,
                                      a.W, a.k, a.plane, sy, sx);
  }
}

}  // namespace

void fac(const Context& ctx, const FacParams& p, const float* x, const float* kernel, float* out) {
  const FacArgs a = make_args("fac", p);
  const int64_t n = a.NC * a.plane;
  if (n == 0) return;
  fac_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(a, x, kernel, out);
  check_launch("fac");
}

void fac_backward(const Context& ctx, const FacParams& p, const float* grad_out, const float* x,
                  const float* kernel, float* grad_x, float* grad_kernel) {
  const FacArgs a = make_args("fac_backward", p);
  const int64_t n = a.NC * a.plane;
  if (n == 0) return;
  const cudaStream_t s = stream_of(ctx);
  fac_grad_kernel_kernel<<<grid_for(n * a.k2), kThreads, 0, s>>>(a, grad_out, x, grad_kernel);
  check_launch("fac_backward (grad_kernel)");
  fac_grad_x_kernel<<<grid_for(n), kThreads, 0, s>>>(a, grad_out, kernel, grad_x);
  check_launch("fac_backward (grad_x)");
}

}  // namespace cuda
}  // namespace deblurcore
