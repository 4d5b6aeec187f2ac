// Binding of the mmcv_flat_reinterpret op (ASPDC's dilation-0 mask and offsets).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>

#include "deblurcore/deblurcore.h"
#include "device.h"
#include "python_context.h"

namespace py = pybind11;
using namespace deblurcore;

void bind_mmcv_flat_reinterpret(py::module_& m) {
  m.def("mmcv_flat_reinterpret",
        [](const py::array_t<float, py::array::c_style | py::array::forcecast>& x, int height,
           int width, const std::string& device, int threads, bool reference) {
          Context ctx = python_context(parse_device(device), threads);
          ctx.set_reference_kernels(reference);
          Tensor host = Tensor::empty(Shape(x.shape(), x.shape() + x.ndim()));
          if (host.numel() > 0) std::memcpy(host.data(), x.data(), host.nbytes());
          Tensor out;
          {
            py::gil_scoped_release nogil;
            out = mmcv_flat_reinterpret(ctx, host.to(ctx.device()), height, width).to(Device::CPU);
          }
          py::array_t<float> result(out.shape());
          std::memcpy(result.mutable_data(), out.data(), out.nbytes());
          return result;
        });
}
