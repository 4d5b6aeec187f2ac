// Bindings of the Fourier and Analysis-Synthesis ops (rfft2, irfft2, cross_correlation,
// standardize, rgb_to_grayscale, normalize_l1, linear, crop). Same conventions as
// bindings/python.cpp: arrays in, a context per call, computation without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <string>

#include "deblurcore/deblurcore.h"

#include "python_context.h"

namespace py = pybind11;
using namespace deblurcore;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

Context context_for(const std::string& device, int threads, bool reference) {
  Device d = Device::CPU;
  if (device == "cuda")
    d = Device::CUDA;
  else if (device != "cpu")
    fail<ValueError>("device must be 'cpu' or 'cuda', got '", device, "'");
  Context ctx = python_context(d, threads);
  ctx.set_reference_kernels(reference);
  return ctx;
}

Tensor tensor_of(const Context& ctx, const FloatArray& a) {
  Tensor host = Tensor::empty(Shape(a.shape(), a.shape() + a.ndim()));
  if (host.numel()) std::memcpy(host.data(), a.data(), host.nbytes());
  return host.to(ctx.device());
}

py::array numpy_of(const Tensor& t) {
  auto* keep = new Tensor(t.to(Device::CPU));
  py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array_t<float>(keep->shape(), keep->data(), owner);
}

// Binds `name(x, <extra args>, device, threads, reference)` for an op of one input tensor.
template <typename Fn>
void bind_unary(py::module_& m, const char* name, Fn fn) {
  m.def(name, [fn](const FloatArray& x, const std::string& device, int threads, bool reference) {
    Context ctx = context_for(device, threads, reference);
    Tensor tx = tensor_of(ctx, x), out;
    {
      py::gil_scoped_release nogil;
      out = fn(ctx, tx);
    }
    return numpy_of(out);
  });
}

}  // namespace

void bind_analysis_synthesis_ops(py::module_& m) {
  bind_unary(m, "rfft2", [](const Context& ctx, const Tensor& x) { return rfft2(ctx, x); });
  bind_unary(m, "rgb_to_grayscale",
             [](const Context& ctx, const Tensor& x) { return rgb_to_grayscale(ctx, x); });

  m.def("irfft2", [](const FloatArray& X, int64_t width, const std::string& device, int threads,
                     bool reference) {
    Context ctx = context_for(device, threads, reference);
    Tensor tx = tensor_of(ctx, X), out;
    {
      py::gil_scoped_release nogil;
      out = irfft2(ctx, tx, width);
    }
    return numpy_of(out);
  });

  m.def("cross_correlation", [](const FloatArray& x, int max_shift, bool add_flips,
                                const std::string& device, int threads, bool reference) {
    Context ctx = context_for(device, threads, reference);
    Tensor tx = tensor_of(ctx, x), out;
    {
      py::gil_scoped_release nogil;
      out = cross_correlation(ctx, tx, max_shift, add_flips);
    }
    return numpy_of(out);
  });

  // standardize and normalize_l1 share the signature (x, eps).
  m.def("standardize_or_normalize", [](const std::string& op, const FloatArray& x, float eps,
                                       const std::string& device, int threads, bool reference) {
    Context ctx = context_for(device, threads, reference);
    Tensor tx = tensor_of(ctx, x), out;
    check(op == "standardize" || op == "normalize_l1", "unknown op '", op, "'");
    {
      py::gil_scoped_release nogil;
      out = op == "standardize" ? standardize(ctx, tx, eps) : normalize_l1(ctx, tx, eps);
    }
    return numpy_of(out);
  });

  m.def("linear",
        [](const FloatArray& x, const FloatArray& weight, const std::optional<FloatArray>& bias,
           bool relu, const std::string& device, int threads, bool reference) {
          Context ctx = context_for(device, threads, reference);
          Tensor tx = tensor_of(ctx, x), tw = tensor_of(ctx, weight);
          Tensor tb = bias ? tensor_of(ctx, *bias) : Tensor(), out;
          {
            py::gil_scoped_release nogil;
            out = linear(ctx, tx, tw, tb, relu ? Activation::ReLU : Activation::None);
          }
          return numpy_of(out);
        });

  m.def("crop", [](const FloatArray& x, int64_t top, int64_t left, int64_t height, int64_t width,
                   const std::string& device, int threads, bool reference) {
    Context ctx = context_for(device, threads, reference);
    Tensor tx = tensor_of(ctx, x), out;
    {
      py::gil_scoped_release nogil;
      out = crop(ctx, tx, top, left, height, width);
    }
    return numpy_of(out);
  });
}
