// Shared by the CUDA kernels: the __host__ __device__ function macro and small utilities. The
// per-element and per-tile computations of the kernels are __host__ __device__ functions
// (conv_gemm.cuh, fac_bodies.cuh, iac_bodies.cuh), so the index arithmetic is in one place and
// can be stepped through on the host when it has to be checked without a GPU.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "epilogue.h"

#define DBC_HD __host__ __device__ __forceinline__
// Full unrolling of the fixed-size loops on the device (keeps the accumulators in registers).
#ifdef __CUDA_ARCH__
#define DBC_UNROLL _Pragma("unroll")
#else
#define DBC_UNROLL
#endif

namespace deblurcore {
namespace cuda {
namespace detail {
DBC_HD int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

}  // namespace detail
}  // namespace cuda
}  // namespace deblurcore
