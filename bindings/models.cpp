// Bindings of the models: load from converted weights, run on H x W x 3 numpy images. They
// only convert numpy arrays to image views (refusing what cannot be viewed as one); what an
// image must be for a model (size, pixel type, matching views) is checked by the C++ core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>
#include <string>

#include "deblurcore/deblurcore.h"
#include "deblurcore/ifan.h"
#include "deblurcore/model.h"
#include "device.h"
#include "python_context.h"

namespace py = pybind11;
using namespace deblurcore;

namespace {

// A C-contiguous H x W x 3 array of uint8, uint16 or float32 (a non-contiguous one is copied).
py::array image_array(const py::object& obj, const char* name) {
  check<TypeError>(py::isinstance<py::array>(obj), name, " must be a numpy.ndarray (H, W, 3), got ",
                   std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  check(a.ndim() == 3 && a.shape(2) == 3, name,
        " must have shape (H, W, 3) with RGB channels, got ",
        std::string(py::str(a.attr("shape"))));
  check<TypeError>(
      a.dtype().is(py::dtype::of<uint8_t>()) || a.dtype().is(py::dtype::of<uint16_t>()) ||
          a.dtype().is(py::dtype::of<float>()),
      name, " must have dtype uint8, uint16 or float32, got ", std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    a = py::module_::import("numpy").attr("ascontiguousarray")(a);
  return a;
}

ImageView view_of(const py::array& a) {
  const PixelType t = a.dtype().is(py::dtype::of<uint8_t>())    ? PixelType::U8
                      : a.dtype().is(py::dtype::of<uint16_t>()) ? PixelType::U16
                                                                : PixelType::F32;
  return ImageView{a.data(), a.shape(0), a.shape(1), t, 0};
}

py::array output_like(const py::array& image, MutableImageView& view) {
  py::array out(image.dtype(), {image.shape(0), image.shape(1), py::ssize_t(3)});
  view =
      MutableImageView{out.mutable_data(), image.shape(0), image.shape(1), view_of(image).type, 0};
  return out;
}

py::array process(Model& model, const py::object& image_obj) {
  const py::array image = image_array(image_obj, "image");
  MutableImageView out_view;
  py::array out = output_like(image, out_view);
  {
    py::gil_scoped_release nogil;
    model.process(view_of(image), out_view);
  }
  return out;
}

IfanModel& as_ifan(Model& model) {
  auto* ifan = dynamic_cast<IfanModel*>(&model);
  check<TypeError>(ifan != nullptr, "needs an IFAN model, got '", model.architecture(), "'");
  return *ifan;
}

}  // namespace

void bind_models(py::module_& m) {
  py::class_<Model>(m, "Model")
      .def_property_readonly("architecture", &Model::architecture)
      .def_property_readonly("variant", &Model::variant)
      .def_property_readonly(
          "precision",
          [](const Model& m) { return std::string(precision_name(m.context().precision())); })
      .def_property_readonly("is_recurrent", &Model::is_recurrent)
      .def_property_readonly("size_multiple",
                             [](const Model& self) { return self.image_format().size_multiple; })
      .def_property_readonly("min_size", &Model::min_image_size)
      .def_property_readonly("takes_16bit_images", &Model::takes_16bit_images)
      .def("reset", &Model::reset)
      .def("process", &process)
      .def("forward", [](Model& self, const py::array_t<float, py::array::c_style>& x) {
        check(x.ndim() == 4, "x must be 4-D (1, 3, H, W)");
        Tensor host = Tensor::empty(Shape(x.shape(), x.shape() + 4));
        std::memcpy(host.data(), x.data(), host.nbytes());
        int64_t bad = 0;
        for (int64_t i = 0; i < host.numel(); ++i) bad += !std::isfinite(host.data()[i]);
        check(bad == 0, "x has ", bad, " NaN or infinite values");
        Tensor out;
        {
          py::gil_scoped_release nogil;
          out = self.forward(host.to(self.context().device())).to(Device::CPU);
        }
        auto* keep = new Tensor(out);
        py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
        return py::array_t<float>(keep->shape(), keep->data(), owner);
      });

  m.def(
      "load_model",
      [](const std::string& path, const std::string& device, int threads,
         const std::string& precision) {
        Context ctx = python_context(parse_device(device), threads);
        ctx.set_precision(parse_precision(precision));
        py::gil_scoped_release nogil;
        return load_model(path, ctx);
      },
      py::arg("path"), py::arg("device") = "cpu", py::arg("num_threads") = 0,
      py::arg("precision") = "fp32");

  // IFAN-specific: configuration (None for other models) and the dual-pixel variant's
  // three-view processing.
  m.def("ifan_info", [](const Model& model) -> py::object {
    const auto* ifan = dynamic_cast<const IfanModel*>(&model);
    if (!ifan) return py::none();
    py::dict d;
    d["iterations"] = ifan->iterations();
    d["dual_pixel"] = ifan->dual_pixel();
    d["bit_depth"] = ifan->bit_depth();
    return d;
  });

  m.def("ifan_process_dual", [](Model& model, const py::object& image_obj,
                                const py::object& right_obj, const py::object& left_obj) {
    IfanModel& ifan = as_ifan(model);
    const py::array image = image_array(image_obj, "image");
    const py::array right = image_array(right_obj, "right");
    const py::array left = image_array(left_obj, "left");
    MutableImageView out_view;
    py::array out = output_like(image, out_view);
    {
      py::gil_scoped_release nogil;
      ifan.process_dual(view_of(image), view_of(right), view_of(left), out_view);
    }
    return out;
  });
}
