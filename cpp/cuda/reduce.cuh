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

// Mean and population variance of the n values at x (one plane per block), in double.
__device__ inline void block_mean_var(const float* x, int64_t n, double& mean, double& var) {
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
  mean = block_sum(s) / double(n);
  double q = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double d = double(x[i]) - mean;
    q += d * d;
  }
  var = block_sum(q) / double(n);
}

}  // namespace cuda
}  // namespace deblurcore
