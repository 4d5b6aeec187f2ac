// Bindings of the Analysis-Synthesis pair's own entry points (kernel estimation, synthesis
// with a given kernel, max_input_size, the networks on tensors and the crop selection).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <string>

#include "deblurcore/analysis_synthesis.h"
#include "deblurcore/deblurcore.h"

namespace py = pybind11;
using namespace deblurcore;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

AnalysisSynthesisModel& as_model(Model& model) {
  auto* m = dynamic_cast<AnalysisSynthesisModel*>(&model);
  check<TypeError>(m != nullptr, "needs an Analysis-Synthesis model, got '", model.architecture(),
                   "'");
  return *m;
}

PixelType pixel_type_of(const py::array& a) {
  if (a.dtype().is(py::dtype::of<uint8_t>())) return PixelType::U8;
  if (a.dtype().is(py::dtype::of<uint16_t>())) return PixelType::U16;
  if (a.dtype().is(py::dtype::of<float>())) return PixelType::F32;
  fail<TypeError>("image must have dtype uint8, uint16 or float32, got ",
                  std::string(py::str(a.dtype())));
}

ImageView view_of(const py::array& a) {
  check(a.ndim() == 3 && a.shape(2) == 3, "image must be H x W x 3, got ndim ", a.ndim());
  check(a.flags() & py::array::c_style, "image must be C-contiguous");
  return ImageView{a.data(), a.shape(0), a.shape(1), pixel_type_of(a), 0};
}

Tensor host_tensor(const FloatArray& a) {
  Tensor t = Tensor::empty(Shape(a.shape(), a.shape() + a.ndim()));
  if (t.numel()) std::memcpy(t.data(), a.data(), t.nbytes());
  return t;
}

py::array to_numpy(const Tensor& t) {
  auto* keep = new Tensor(t.to(Device::CPU));
  py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array_t<float>(keep->shape(), keep->data(), owner);
}

}  // namespace

void bind_analysis_synthesis(py::module_& m) {
  m.def(
      "as_analysis_crop",
      [](int64_t H, int64_t W, int64_t max_h, int64_t max_w) {
        const AnalysisCrop c = select_analysis_crop(H, W, {max_h, max_w});
        return py::make_tuple(c.top, c.left, c.height, c.width, c.official);
      },
      py::arg("height"), py::arg("width"), py::arg("max_height") = 0, py::arg("max_width") = 0);

  m.def(
      "as_estimate_kernel",
      [](Model& model, const py::array& image, int64_t max_h, int64_t max_w) {
        AnalysisSynthesisModel& as = as_model(model);
        const ImageView in = view_of(image);
        Tensor k;
        {
          py::gil_scoped_release nogil;
          k = as.estimate_kernel(in, {max_h, max_w});
        }
        return to_numpy(k);
      },
      py::arg("model"), py::arg("image"), py::arg("max_height") = 0, py::arg("max_width") = 0);

  m.def(
      "as_deblur",
      [](Model& model, const py::array& image, const std::optional<FloatArray>& kernel,
         int64_t max_h, int64_t max_w) {
        AnalysisSynthesisModel& as = as_model(model);
        const ImageView in = view_of(image);
        const Tensor k = kernel ? host_tensor(*kernel) : Tensor();
        py::array out(image.dtype(), {image.shape(0), image.shape(1), py::ssize_t(3)});
        const MutableImageView out_view{out.mutable_data(), in.height, in.width, in.type, 0};
        {
          py::gil_scoped_release nogil;
          as.deblur(in, out_view, kernel ? &k : nullptr, {max_h, max_w});
        }
        return out;
      },
      py::arg("model"), py::arg("image"), py::arg("kernel") = py::none(), py::arg("max_height") = 0,
      py::arg("max_width") = 0);

  m.def("as_analysis", [](Model& model, const FloatArray& rgb) {
    AnalysisSynthesisModel& as = as_model(model);
    const Tensor x = host_tensor(rgb).to(as.context().device());
    Tensor k;
    {
      py::gil_scoped_release nogil;
      k = as.analysis(x);
    }
    return to_numpy(k);
  });

  m.def("as_synthesis", [](Model& model, const FloatArray& rgb, const FloatArray& kernel) {
    AnalysisSynthesisModel& as = as_model(model);
    const Device d = as.context().device();
    const Tensor x = host_tensor(rgb).to(d), k = host_tensor(kernel).to(d);
    Tensor out;
    {
      py::gil_scoped_release nogil;
      out = as.synthesis(x, k);
    }
    return to_numpy(out);
  });
}
