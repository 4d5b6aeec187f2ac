// Bindings of the models: load from converted weights, run on H x W x 3 numpy images.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>

#include "deblurcore/deblurcore.h"
#include "deblurcore/model.h"

namespace py = pybind11;
using namespace deblurcore;

namespace {

PixelType pixel_type_of(const py::array& a) {
  if (a.dtype().is(py::dtype::of<uint8_t>())) return PixelType::U8;
  if (a.dtype().is(py::dtype::of<uint16_t>())) return PixelType::U16;
  if (a.dtype().is(py::dtype::of<float>())) return PixelType::F32;
  fail<TypeError>("image must have dtype uint8, uint16 or float32, got ",
                  std::string(py::str(a.dtype())));
}

// The Python layer hands over C-contiguous H x W x 3 arrays; checked again here because a
// wrong assumption would read out of bounds.
ImageView view_of(const py::array& a) {
  check(a.ndim() == 3 && a.shape(2) == 3, "image must be H x W x 3, got ndim ", a.ndim());
  check(a.flags() & py::array::c_style, "image must be C-contiguous");
  return ImageView{a.data(), a.shape(0), a.shape(1), pixel_type_of(a), 0};
}

py::array process(Model& model, const py::array& image) {
  const ImageView in = view_of(image);
  py::array out(image.dtype(), {image.shape(0), image.shape(1), py::ssize_t(3)});
  const MutableImageView out_view{out.mutable_data(), in.height, in.width, in.type, 0};
  {
    py::gil_scoped_release nogil;
    model.process(in, out_view);
  }
  return out;
}

}  // namespace

void bind_models(py::module_& m) {
  py::class_<Model>(m, "Model")
      .def_property_readonly("architecture", &Model::architecture)
      .def_property_readonly("variant", &Model::variant)
      .def_property_readonly("is_recurrent", &Model::is_recurrent)
      .def_property_readonly("size_multiple",
                             [](const Model& self) { return self.image_format().size_multiple; })
      .def("reset", &Model::reset)
      .def("process", &process)
      .def("forward", [](Model& self, const py::array_t<float, py::array::c_style>& x) {
        check(x.ndim() == 4, "x must be 4-D (1, 3, H, W)");
        Tensor host = Tensor::empty(Shape(x.shape(), x.shape() + 4));
        std::memcpy(host.data(), x.data(), host.nbytes());
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
      [](const std::string& path, const std::string& device, int threads) {
        if (device != "cpu" && device != "cuda")
          fail<ValueError>("device must be 'cpu' or 'cuda', got '", device, "'");
        Context ctx(device == "cuda" ? Device::CUDA : Device::CPU, threads);
        py::gil_scoped_release nogil;
        return load_model(path, ctx);
      },
      py::arg("path"), py::arg("device") = "cpu", py::arg("num_threads") = 0);
}
