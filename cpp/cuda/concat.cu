// concat (copy_rows) on CUDA: one thread per element in a grid-stride loop with 64-bit indices.
#include "backends.h"
#include "cuda/cuda_check.h"

namespace deblurcore {
namespace cuda {

namespace {

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

}  // namespace

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
