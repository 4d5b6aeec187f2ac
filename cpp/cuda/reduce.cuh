// Block-wide reductions in double for the CUDA kernels (standardisation and L1 norms, which
// the contract wants accumulated accurately). blockDim.x must be kReduceThreads.
#pragma once

namespace deblurcore {
namespace cuda {

constexpr int kReduceThreads = 256;

// The sum of every thread's `v` in the block, returned to all threads.
__device__ inline double block_sum(double v) {
  __shared__ double partial[kReduceThreads];
  partial[threadIdx.x] = v;
  __syncthreads();
  for (int width = kReduceThreads / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  const double total = partial[0];
  __syncthreads();  // the array is reused by the next call
  return total;
}

}  // namespace cuda
}  // namespace deblurcore
