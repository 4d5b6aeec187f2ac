// concat on CUDA: per input, one thread per element in a grid-stride loop with 64-bit indices.
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

void concat(const Context& ctx, const ConcatParams& p, const float* const* inputs, float* out) {
  int64_t offset = 0;  // in channels
  for (size_t i = 0; i < p.input_channels.size(); ++i) {
    // Each batch item of input i is one row of input_channels[i] * plane floats.
    const int64_t row = p.input_channels[i] * p.plane;
    float* dst = out + offset * p.plane;
    offset += p.input_channels[i];
    if (row <= 0 || p.N <= 0) continue;
    const dim3 grid(grid_for(row), static_cast<unsigned>(std::min<int64_t>(p.N, 65535)));
    copy_rows_kernel<<<grid, kThreads, 0, stream_of(ctx)>>>(inputs[i], row, dst,
                                                            p.channels * p.plane, row, p.N);
    check_launch("concat");
  }
}

}  // namespace cuda
}  // namespace deblurcore
