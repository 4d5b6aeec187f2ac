// The ops of deblurcore.torch: DLPack capsules in and out (bindings/dlpack.h), so CPU and CUDA
// tensors cross without copies. All tensors of one call must be on one device; on CUDA the ops
// are queued on `stream` (the caller's current cudaStream_t, as an integer; 0 is the default
// stream), so they are ordered with the caller's own work on it. Also the numpy binding of
// deform_conv2d_backward (the other numpy ops are in python.cpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "deblurcore/deblurcore.h"
#include "device.h"
#include "dlpack.h"
#include "python_context.h"

namespace py = pybind11;
using namespace deblurcore;

namespace {

// The tensors of one call and the context they run on.
class DlCall {
 public:
  DlCall(int threads, uintptr_t stream) : threads_(threads), stream_(stream) {}

  Tensor take(py::handle capsule, const char* name) {
    int id = 0;
    Tensor t = tensor_from_dlpack(capsule, name, &id);
    if (!device_) {
      device_ = t.device(), device_id_ = id, first_ = name;
    } else if (*device_ != t.device() || device_id_ != id) {
      fail<ValueError>(name, " is on another device than ", first_,
                       "; all tensors must be on one device");
    }
    return t;
  }
  Tensor take_optional(const py::object& capsule, const char* name) {
    return capsule.is_none() ? Tensor() : take(capsule, name);
  }
  Context context() const {
    Context ctx = python_context(device_.value_or(Device::CPU), threads_);
    if (device_ == Device::CUDA) ctx.set_stream(reinterpret_cast<void*>(stream_));
    return ctx;
  }
  py::object give(const Tensor& t) const {
    if (!t.defined()) return py::none();
    return tensor_to_dlpack(t, device_id_);
  }

 private:
  int threads_;
  uintptr_t stream_;
  std::optional<Device> device_;
  int device_id_ = 0;
  const char* first_ = "";
};

Pair pair(std::pair<int, int> p) { return {p.first, p.second}; }

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

Tensor host_copy(const FloatArray& a) {
  Tensor t = Tensor::empty(Shape(a.shape(), a.shape() + a.ndim()));
  if (t.numel()) std::memcpy(t.data(), a.data(), t.nbytes());
  return t;
}

py::object to_numpy_or_none(const Tensor& t) {
  if (!t.defined()) return py::none();
  auto* keep = new Tensor(t.to(Device::CPU));
  py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array_t<float>(keep->shape(), keep->data(), owner);
}

}  // namespace

void bind_torch_ops(py::module_& m) {
  m.def("dl_fac", [](py::handle x, py::handle kernel, int k, int threads, uintptr_t stream) {
    DlCall call(threads, stream);
    Tensor tx = call.take(x, "x"), tk = call.take(kernel, "kernel"), out;
    const Context ctx = call.context();
    {
      py::gil_scoped_release nogil;
      out = fac(ctx, tx, tk, k);
    }
    return call.give(out);
  });

  m.def("dl_fac_backward", [](py::handle g, py::handle x, py::handle kernel, int k, int threads,
                              uintptr_t stream) {
    DlCall call(threads, stream);
    Tensor tg = call.take(g, "grad_out"), tx = call.take(x, "x"), tk = call.take(kernel, "kernel");
    const Context ctx = call.context();
    std::pair<Tensor, Tensor> grads;
    {
      py::gil_scoped_release nogil;
      grads = fac_backward(ctx, tg, tx, tk, k);
    }
    return py::make_tuple(call.give(grads.first), call.give(grads.second));
  });

  m.def("dl_iac", [](py::handle x, py::handle filters, int n_iterations, int k, bool reuse,
                     bool final_activation, int threads, uintptr_t stream) {
    DlCall call(threads, stream);
    Tensor tx = call.take(x, "x"), tf = call.take(filters, "filters"), out;
    const Context ctx = call.context();
    {
      py::gil_scoped_release nogil;
      out = iac(ctx, tx, tf, n_iterations, k, reuse, final_activation);
    }
    return call.give(out);
  });

  m.def("dl_iac_backward",
        [](py::handle g, py::handle x, py::handle filters, int n_iterations, int k, bool reuse,
           bool final_activation, int threads, uintptr_t stream) {
          DlCall call(threads, stream);
          Tensor tg = call.take(g, "grad_out"), tx = call.take(x, "x");
          Tensor tf = call.take(filters, "filters");
          const Context ctx = call.context();
          std::pair<Tensor, Tensor> grads;
          {
            py::gil_scoped_release nogil;
            grads = iac_backward(ctx, tg, tx, tf, n_iterations, k, reuse, final_activation);
          }
          return py::make_tuple(call.give(grads.first), call.give(grads.second));
        });

  m.def("dl_deform_conv2d", [](py::handle x, py::handle offset, const py::object& mask,
                               py::handle weight, const py::object& bias,
                               std::pair<int, int> stride, std::pair<int, int> padding,
                               std::pair<int, int> dilation, int threads, uintptr_t stream) {
    DlCall call(threads, stream);
    Tensor tx = call.take(x, "x"), to = call.take(offset, "offset");
    Tensor tm = call.take_optional(mask, "mask"), tw = call.take(weight, "weight");
    Tensor tb = call.take_optional(bias, "bias"), out;
    const Context ctx = call.context();
    {
      py::gil_scoped_release nogil;
      out = deform_conv2d(ctx, tx, to, tw, tb, pair(stride), pair(padding), pair(dilation), tm);
    }
    return call.give(out);
  });

  m.def("dl_deform_conv2d_backward",
        [](py::handle g, py::handle x, py::handle offset, const py::object& mask, py::handle weight,
           const py::object& bias, std::pair<int, int> stride, std::pair<int, int> padding,
           std::pair<int, int> dilation, int threads, uintptr_t stream) {
          DlCall call(threads, stream);
          Tensor tg = call.take(g, "grad_out"), tx = call.take(x, "x");
          Tensor to = call.take(offset, "offset"), tm = call.take_optional(mask, "mask");
          Tensor tw = call.take(weight, "weight"), tb = call.take_optional(bias, "bias");
          const Context ctx = call.context();
          DeformConv2dGrads grads;
          {
            py::gil_scoped_release nogil;
            grads = deform_conv2d_backward(ctx, tg, tx, to, tw, tb, pair(stride), pair(padding),
                                           pair(dilation), tm);
          }
          return py::make_tuple(call.give(grads.x), call.give(grads.offset), call.give(grads.mask),
                                call.give(grads.weight), call.give(grads.bias));
        });

  // numpy: (grad_x, grad_offset, grad_mask or None, grad_weight, grad_bias or None).
  m.def("deform_conv2d_backward",
        [](const FloatArray& g, const FloatArray& x, const FloatArray& offset,
           const FloatArray& weight, const std::optional<FloatArray>& bias,
           std::pair<int, int> stride, std::pair<int, int> padding, std::pair<int, int> dilation,
           const std::optional<FloatArray>& mask, const std::string& device, int threads,
           bool reference) {
          Context ctx = python_context(parse_device(device), threads);
          ctx.set_reference_kernels(reference);
          const Device d = ctx.device();
          Tensor tg = host_copy(g).to(d), tx = host_copy(x).to(d), to = host_copy(offset).to(d);
          Tensor tw = host_copy(weight).to(d);
          Tensor tb = bias ? host_copy(*bias).to(d) : Tensor();
          Tensor tm = mask ? host_copy(*mask).to(d) : Tensor();
          DeformConv2dGrads grads;
          {
            py::gil_scoped_release nogil;
            grads = deform_conv2d_backward(ctx, tg, tx, to, tw, tb, pair(stride), pair(padding),
                                           pair(dilation), tm);
          }
          return py::make_tuple(to_numpy_or_none(grads.x), to_numpy_or_none(grads.offset),
                                to_numpy_or_none(grads.mask), to_numpy_or_none(grads.weight),
                                to_numpy_or_none(grads.bias));
        });
}
