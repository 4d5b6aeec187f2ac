// Iterative adaptive convolution (IFAN's IAC) and its backward on CUDA: one kernel launch
// per iteration (three per iteration in the backward), one thread per pixel of every (n, c)
// plane. The per-element arithmetic is in iac_bodies.cuh. Products are rounded before they
// are summed (no FMA), in the official order.
#include <vector>

#include "backends.h"
#include "cuda/cuda_check.h"
#include "cuda/iac_bodies.cuh"

namespace deblurcore {
namespace cuda {

namespace {

// Everything the kernels need for one iteration.
struct IacIter {
  int H, W, k;
  int64_t HW, NC, C;
  int64_t filter_channels;
  int64_t fv_channel, fh_channel, bias_channel;  // of (c = 0) for this iteration
  bool act;
  float slope;
};

IacIter make_iter(const char* op, const IacParams& p, int64_t i) {
  check<RuntimeError>(fits_int32(p.H) && fits_int32(p.W) && fits_int32(p.k), op,
                      ": shape too large for the CUDA kernel (H=", p.H, " W=", p.W, ")");
  IacIter a;
  a.H = int(p.H);
  a.W = int(p.W);
  a.k = int(p.k);
  a.HW = p.H * p.W;
  a.NC = p.N * p.C;
  a.C = p.C;
  a.filter_channels = p.filter_channels;
  a.fv_channel = p.vertical_channel(i);
  a.fh_channel = p.horizontal_channel(i);
  a.bias_channel = p.bias_channel(i);
  a.act = i + 1 < p.iterations || p.final_activation;
  a.slope = p.negative_slope;
  return a;
}

// Filter planes of plane nc = n*C + c in iteration a.
struct Planes {
  int64_t fv, fh, b;  // float offsets into the filter tensor
};
__device__ __forceinline__ Planes planes_of(const IacIter& a, int64_t nc) {
  const int64_t n = nc / a.C, c = nc - n * a.C;
  const int64_t base = n * a.filter_channels;
  return Planes{(base + a.fv_channel + c * a.k) * a.HW, (base + a.fh_channel + c * a.k) * a.HW,
                (base + a.bias_channel + c) * a.HW};
}

#define IAC_GRID_LOOP(i, total)                                                 \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (total); \
       i += int64_t(gridDim.x) * blockDim.x)

__global__ void iac_forward_kernel(const IacIter a, const float* __restrict__ in,
                                   const float* __restrict__ filters, float* __restrict__ out) {
  IAC_GRID_LOOP(e, a.NC * a.HW) {
    const int64_t nc = e / a.HW;
    const int pix = static_cast<int>(e - nc * a.HW);
    const int y = pix / a.W, x = pix - y * a.W;
    const Planes q = planes_of(a, nc);
    out[e] = iac_detail::forward_at(in + nc * a.HW, filters + q.fv, filters + q.fh, filters + q.b,
                                    a.H, a.W, a.k, a.HW, y, x, a.act, a.slope);
  }
}

__global__ void iac_backward_a_kernel(const IacIter a, const float* __restrict__ in,
                                      const float* __restrict__ filters,
                                      const float* __restrict__ g, float* __restrict__ gz,
                                      float* __restrict__ grad_filters) {
  IAC_GRID_LOOP(e, a.NC * a.HW) {
    const int64_t nc = e / a.HW;
    const int pix = static_cast<int>(e - nc * a.HW);
    const int y = pix / a.W, x = pix - y * a.W;
    const Planes q = planes_of(a, nc);
    gz[e] = iac_detail::backward_a_at(in + nc * a.HW, filters + q.fv, filters + q.fh, filters + q.b,
                                      g + nc * a.HW, grad_filters + q.fh, grad_filters + q.b, a.H,
                                      a.W, a.k, a.HW, y, x, a.act, a.slope);
  }
}

__global__ void iac_backward_b_kernel(const IacIter a, const float* __restrict__ in,
                                      const float* __restrict__ filters,
                                      const float* __restrict__ gz, float* __restrict__ gv,
                                      float* __restrict__ grad_filters, bool accumulate) {
  IAC_GRID_LOOP(e, a.NC * a.HW) {
    const int64_t nc = e / a.HW;
    const int pix = static_cast<int>(e - nc * a.HW);
    const int y = pix / a.W, x = pix - y * a.W;
    const Planes q = planes_of(a, nc);
    gv[e] = iac_detail::backward_b_at(in + nc * a.HW, filters + q.fh, gz + nc * a.HW,
                                      grad_filters + q.fv, a.H, a.W, a.k, a.HW, y, x, accumulate);
  }
}

__global__ void iac_backward_c_kernel(const IacIter a, const float* __restrict__ filters,
                                      const float* __restrict__ gv, float* __restrict__ gn) {
  IAC_GRID_LOOP(e, a.NC * a.HW) {
    const int64_t nc = e / a.HW;
    const int pix = static_cast<int>(e - nc * a.HW);
    const int y = pix / a.W, x = pix - y * a.W;
    const Planes q = planes_of(a, nc);
    gn[e] = iac_detail::backward_c_at(filters + q.fv, gv + nc * a.HW, a.H, a.W, a.k, a.HW, y, x);
  }
}

}  // namespace

void iac(const Context& ctx, const IacParams& p, const float* x, const float* filters, float* out) {
  const int64_t n = p.N * p.C * p.H * p.W;
  if (n == 0) return;
  const cudaStream_t s = stream_of(ctx);
  // Ping-pong between a scratch tensor and out, so that the last iteration writes out.
  Tensor tmp = p.iterations > 1 ? ctx.empty({n}) : Tensor();
  const float* in = x;
  for (int64_t i = 0; i < p.iterations; ++i) {
    float* o = ((p.iterations - 1 - i) % 2 == 0) ? out : tmp.data();
    iac_forward_kernel<<<grid_for(n), kThreads, 0, s>>>(make_iter("iac", p, i), in, filters, o);
    check_launch("iac");
    in = o;
  }
  // tmp is released here; cudaFree waits for the queued kernels that still read it.
}

void iac_backward(const Context& ctx, const IacParams& p, const float* grad_out, const float* x,
                  const float* filters, float* grad_x, float* grad_filters) {
  const int64_t n = p.N * p.C * p.H * p.W, HW = p.H * p.W;
  if (n == 0) return;
  const char* op = "iac_backward";
  const cudaStream_t s = stream_of(ctx);

  // Zero the filter channels the forward never reads (runs of them, per batch element).
  const std::vector<char> used = p.channels_read();
  for (int64_t b = 0; b < p.N; ++b)
    for (int64_t ch = 0; ch < p.filter_channels;) {
      if (used[ch]) {
        ++ch;
        continue;
      }
      int64_t end = ch;
      while (end < p.filter_channels && !used[end]) ++end;
      check_cuda(cudaMemsetAsync(grad_filters + (b * p.filter_channels + ch) * HW, 0,
                                 sizeof(float) * (end - ch) * HW, s),
                 "iac_backward (zeroing unused filter gradients)");
      ch = end;
    }

  // Forward again, keeping the input of every iteration after the first.
  Tensor saved = p.iterations > 1 ? ctx.empty({(p.iterations - 1) * n}) : Tensor();
  auto input_of = [&](int64_t i) -> const float* {
    return i == 0 ? x : saved.data() + (i - 1) * n;
  };
  for (int64_t i = 0; i + 1 < p.iterations; ++i) {
    iac_forward_kernel<<<grid_for(n), kThreads, 0, s>>>(make_iter(op, p, i), input_of(i), filters,
                                                        saved.data() + i * n);
    check_launch("iac_backward (forward)");
  }
  // Backward, last iteration first.
  Tensor gz = ctx.empty({n}), gv = ctx.empty({n});
  Tensor g0 = p.iterations > 1 ? ctx.empty({n}) : Tensor();
  Tensor g1 = p.iterations > 2 ? ctx.empty({n}) : Tensor();
  const float* g = grad_out;
  for (int64_t i = p.iterations - 1; i >= 0; --i) {
    const IacIter a = make_iter(op, p, i);
    float* gn = i == 0 ? grad_x : (g == g0.data() ? g1.data() : g0.data());
    iac_backward_a_kernel<<<grid_for(n), kThreads, 0, s>>>(a, input_of(i), filters, g, gz.data(),
                                                           grad_filters);
    check_launch("iac_backward (step a)");
    iac_backward_b_kernel<<<grid_for(n), kThreads, 0, s>>>(
        a, input_of(i), filters, gz.data(), gv.data(), grad_filters, p.reuse_vertical_filter);
    check_launch("iac_backward (step b)");
    iac_backward_c_kernel<<<grid_for(n), kThreads, 0, s>>>(a, filters, gv.data(), gn);
    check_launch("iac_backward (step c)");
    g = gn;
  }
}

}  // namespace cuda
}  // namespace deblurcore
