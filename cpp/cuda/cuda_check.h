// Helpers shared by the CUDA backend files (cpp/cuda/*.cu): error checking, the stream an op
// runs on, and launch sizes. Included from .cu files only.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "deblurcore/context.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cuda {

// Throws deblurcore::RuntimeError naming `what` and the CUDA error when `err` is not cudaSuccess.
inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    fail<RuntimeError>("CUDA error in ", what, ": ", cudaGetErrorString(err), " (",
                       cudaGetErrorName(err), ")");
}

// Call right after a <<<...>>> launch: reports an invalid configuration at once. Faults that
// happen while the kernel runs surface later, at the next synchronising call (the copy of the
// result to the host), which is checked too.
inline void check_launch(const char* kernel) { check_cuda(cudaGetLastError(), kernel); }

// The stream the ops of `ctx` are queued on (nullptr: the legacy default stream).
inline cudaStream_t stream_of(const Context& ctx) {
  return static_cast<cudaStream_t>(ctx.stream());
}

constexpr int kThreads = 256;  // block size of the one-thread-per-element kernels

// Number of blocks for `n` elements with kThreads threads each. Kernels use grid-stride loops,
// so the grid is capped and any n (up to int64) is covered.
inline unsigned int grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::min<int64_t>(std::max<int64_t>(blocks, 1), 1 << 20));
}

// A grid-stride loop over i in [0, n) with 64-bit indices (kernels of any size with the
// capped grid of grid_for).
#define DBC_GRID_STRIDE(i, n)                                               \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

// Kernels index spatial positions with 32-bit ints; the front ends accept int64 shapes, so the
// wrappers check that the values a kernel combines stay well inside the int32 range.
inline bool fits_int32(int64_t v) { return v >= 0 && v <= INT_MAX / 2; }

}  // namespace cuda
}  // namespace deblurcore
