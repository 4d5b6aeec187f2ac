// mmcv.ops.ModulatedDeformConv2d (DCNv2) as ASPDC uses it, with mmcv 1.3.9's reading of its
// offset and mask: the kernel takes them as flat buffers laid out with the strides of the
// *output* (N, 2*kh*kw, Hout, Wout) / (N, kh*kw, Hout, Wout) and never checks their shape.
// When a caller hands over maps of another size (ASPDC's d0 branch, whose unpadded mask conv
// gives (h-2) x (w-2) maps for an h x w output), the values the kernel uses are those of
// mmcv_flat_reinterpret (reads past the end of the buffer give 0; see ops.h). Maps of the
// output size are used as they are.
#pragma once

#include "deblurcore/ops.h"
#include "nn/scope.h"

namespace deblurcore {
namespace nn {

struct ModulatedDeformConv2d {
  Tensor weight, bias;
  int stride = 1, padding = 0, dilation = 1;

  ModulatedDeformConv2d() = default;
  // ModulatedDeformConv2d(cin, cout, k, stride, padding, dilation, deform_groups=1, bias=True).
  ModulatedDeformConv2d(const Scope& s, int64_t cin, int64_t cout, int k, int stride_ = 1,
                        int padding_ = 0, int dilation_ = 1)
      : weight(s.get("weight", {cout, cin, k, k})),
        bias(s.get("bias", {cout})),
        stride(stride_),
        padding(padding_),
        dilation(dilation_) {}

  Tensor operator()(const Context& ctx, const Tensor& x, const Tensor& offset,
                    const Tensor& mask) const {
    const int64_t kh = weight.size(2), kw = weight.size(3);
    const int64_t h_out = (x.size(2) + 2 * padding - dilation * (kh - 1) - 1) / stride + 1;
    const int64_t w_out = (x.size(3) + 2 * padding - dilation * (kw - 1) - 1) / stride + 1;
    return deform_conv2d(ctx, x, as_mmcv_reads(ctx, offset, h_out, w_out), weight, bias, stride,
                         padding, dilation, as_mmcv_reads(ctx, mask, h_out, w_out));
  }

 private:
  static Tensor as_mmcv_reads(const Context& ctx, const Tensor& t, int64_t h, int64_t w) {
    if (t.dim() == 4 && t.size(2) == h && t.size(3) == w) return t;
    return mmcv_flat_reinterpret(ctx, t, static_cast<int>(h), static_cast<int>(w));
  }
};

}  // namespace nn
}  // namespace deblurcore
