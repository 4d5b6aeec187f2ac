// Python bindings: numpy arrays in, numpy arrays out. Argument checking that concerns Python
// objects (types, dtypes) lives in python/deblurcore; shapes and values are checked by the
// C++ front ends. Computation runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "deblurcore/deblurcore.h"
#include "deblurcore/ifan.h"
#include "deblurcore/safetensors.h"
#include "device.h"
#include "python_context.h"

namespace py = pybind11;
using namespace deblurcore;

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") return Device::CUDA;
  fail<ValueError>("device must be 'cpu' or 'cuda', got '", name, "'");
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::FP32;
  if (name == "bf16") return Precision::BF16;
  fail<ValueError>("precision must be 'fp32' or 'bf16', got '", name, "'");
}

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

Context make_context(const std::string& device, int num_threads, bool reference) {
  Context ctx = python_context(parse_device(device), num_threads);
  ctx.set_reference_kernels(reference);
  return ctx;
}

// Selects the CPU instruction set of the fast kernels ("" keeps the best one this CPU has).
// Exposed on the convolutions and FAC so tests can run the AVX2 and generic paths on any
// machine.
void apply_isa(Context& ctx, const std::string& isa) {
  if (isa.empty()) return;
  if (isa == "avx512")
    ctx.set_isa(Isa::AVX512);
  else if (isa == "avx2")
    ctx.set_isa(Isa::AVX2);
  else if (isa == "generic")
    ctx.set_isa(Isa::Generic);
  else
    fail<ValueError>("isa must be 'avx512', 'avx2' or 'generic', got '", isa, "'");
}

// Selects the CPU algorithm of conv2d's 3x3 stride-1 convolutions and conv_transpose2d's
// upsampling layers ("" keeps the Context's default: DEBLURCORE_CONV_ALGO or auto).
void apply_conv_algorithm(Context& ctx, const std::string& algorithm) {
  if (algorithm.empty()) return;
  if (algorithm == "auto")
    ctx.set_conv_algorithm(ConvAlgorithm::Auto);
  else if (algorithm == "direct")
    ctx.set_conv_algorithm(ConvAlgorithm::Direct);
  else if (algorithm == "winograd")
    ctx.set_conv_algorithm(ConvAlgorithm::Winograd);
  else if (algorithm == "winograd6")
    ctx.set_conv_algorithm(ConvAlgorithm::Winograd).set_winograd_tile(6);
  else
    fail<ValueError>("algorithm must be 'auto', 'direct', 'winograd' or 'winograd6', got '",
                     algorithm, "'");
}

// The context of a convolution op binding (conv2d, conv_transpose2d).
Context conv_context(const std::string& device, int threads, bool reference, const std::string& isa,
                     const std::string& precision, const std::string& algorithm) {
  Context ctx = make_context(device, threads, reference);
  apply_isa(ctx, isa);
  ctx.set_precision(parse_precision(precision));
  apply_conv_algorithm(ctx, algorithm);
  return ctx;
}

// Copies a numpy array into a tensor on the context's device (host memory is 64-byte aligned).
Tensor to_tensor(const Context& ctx, const FloatArray& a) {
  Shape shape(a.shape(), a.shape() + a.ndim());
  Tensor host = Tensor::empty(shape);
  if (host.numel()) std::memcpy(host.data(), a.data(), host.nbytes());
  return host.to(ctx.device());
}

Tensor optional_tensor(const Context& ctx, const std::optional<FloatArray>& a) {
  return a ? to_tensor(ctx, *a) : Tensor();
}

// A numpy array that shares the tensor's host memory and keeps it alive.
py::array to_numpy(const Tensor& t) {
  auto* keep = new Tensor(t.to(Device::CPU));
  py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array_t<float>(keep->shape(), keep->data(), owner);
}

Epilogue make_epilogue(const Context& ctx, const std::string& activation, float slope,
                       const std::optional<FloatArray>& residual, bool residual_before,
                       const std::optional<FloatArray>& scale,
                       const std::optional<FloatArray>& shift) {
  Epilogue e;
  if (activation == "none")
    e.activation = Activation::None;
  else if (activation == "relu")
    e.activation = Activation::ReLU;
  else if (activation == "leaky_relu")
    e.activation = Activation::LeakyReLU;
  else
    fail<ValueError>("activation must be 'none', 'relu' or 'leaky_relu', got '", activation, "'");
  e.negative_slope = slope;
  e.residual = optional_tensor(ctx, residual);
  e.residual_position =
      residual_before ? Epilogue::Residual::BeforeActivation : Epilogue::Residual::AfterActivation;
  e.scale = optional_tensor(ctx, scale);
  e.shift = optional_tensor(ctx, shift);
  return e;
}

// Padding as python/deblurcore/ops.py hands it over: (h, w) or (top, bottom, left, right).
bool is_per_side(const std::vector<int>& padding) {
  check(padding.size() == 2 || padding.size() == 4, "padding must have 2 or 4 values, got ",
        padding.size());
  return padding.size() == 4;
}
Padding2d per_side(const std::vector<int>& p) { return {p[0], p[1], p[2], p[3]}; }

PadMode parse_pad_mode(const std::string& mode) {
  if (mode == "constant" || mode == "zeros") return PadMode::Zeros;
  if (mode == "replicate") return PadMode::Replicate;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "symmetric") return PadMode::Symmetric;
  fail<ValueError>("mode must be 'constant', 'replicate', 'reflect' or 'symmetric', got '", mode,
                   "'");
}

}  // namespace

void bind_models(py::module_& m);                  // bindings/models.cpp
void bind_mmcv_flat_reinterpret(py::module_& m);   // bindings/mmcv_flat_reinterpret.cpp
void bind_analysis_synthesis(py::module_& m);      // bindings/analysis_synthesis.cpp
void bind_analysis_synthesis_ops(py::module_& m);  // bindings/analysis_synthesis_ops.cpp
void bind_profiling(py::module_& m);               // bindings/profiling.cpp
void bind_torch_ops(py::module_& m);               // bindings/torch_ops.cpp

PYBIND11_MODULE(_core, m) {
  m.doc() = "deblurcore native core (use the deblurcore package, not this module)";

  install_python_error_handling();
  m.def("max_num_threads", [] { return Context::max_num_threads(); });

  m.def("cuda_available", [] { return cuda_available(); });
  bind_models(m);
  bind_mmcv_flat_reinterpret(m);
  bind_analysis_synthesis(m);
  bind_analysis_synthesis_ops(m);
  bind_profiling(m);
  bind_torch_ops(m);
  m.def("cpu_isa", [] { return std::string(isa_name(detect_isa())); });
  m.def("default_num_threads", [] { return Context().num_threads(); });
  m.def("cpu_supports_bf16", [] { return cpu_supports_bf16(); });

  // Every op binding: build the context, copy arrays in, release the GIL, run, copy out.
  m.def("conv2d", [](const FloatArray& x, const FloatArray& w, const std::optional<FloatArray>& b,
                     std::pair<int, int> stride, const std::vector<int>& padding,
                     std::pair<int, int> dilation, const std::string& activation, float slope,
                     const std::optional<FloatArray>& residual, bool residual_before,
                     const std::optional<FloatArray>& scale, const std::optional<FloatArray>& shift,
                     const std::string& device, int threads, bool reference, const std::string& isa,
                     const std::string& precision, const std::string& algorithm) {
    Context ctx = conv_context(device, threads, reference, isa, precision, algorithm);
    Tensor tx = to_tensor(ctx, x), tw = to_tensor(ctx, w), tb = optional_tensor(ctx, b);
    Epilogue e = make_epilogue(ctx, activation, slope, residual, residual_before, scale, shift);
    const bool sides = is_per_side(padding);
    Tensor out;
    {
      py::gil_scoped_release nogil;
      const Pair s{stride.first, stride.second}, d{dilation.first, dilation.second};
      out = sides ? conv2d(ctx, tx, tw, tb, s, per_side(padding), d, e)
                  : conv2d(ctx, tx, tw, tb, s, Pair{padding[0], padding[1]}, d, e);
    }
    return to_numpy(out);
  });

  m.def("conv_transpose2d", [](const FloatArray& x, const FloatArray& w,
                               const std::optional<FloatArray>& b, std::pair<int, int> stride,
                               const std::vector<int>& padding, std::pair<int, int> output_padding,
                               std::pair<int, int> dilation, const std::string& activation,
                               float slope, const std::optional<FloatArray>& residual,
                               bool residual_before, const std::optional<FloatArray>& scale,
                               const std::optional<FloatArray>& shift, const std::string& device,
                               int threads, bool reference, const std::string& isa,
                               const std::string& precision, const std::string& algorithm) {
    Context ctx = conv_context(device, threads, reference, isa, precision, algorithm);
    Tensor tx = to_tensor(ctx, x), tw = to_tensor(ctx, w), tb = optional_tensor(ctx, b);
    Epilogue e = make_epilogue(ctx, activation, slope, residual, residual_before, scale, shift);
    const bool sides = is_per_side(padding);
    check(!sides || (output_padding.first == 0 && output_padding.second == 0),
          "conv_transpose2d: output_padding must be 0 when padding is given per side "
          "(top, bottom, left, right), got (",
          output_padding.first, ", ", output_padding.second, ")");
    Tensor out;
    {
      py::gil_scoped_release nogil;
      const Pair s{stride.first, stride.second}, d{dilation.first, dilation.second};
      out = sides ? conv_transpose2d(ctx, tx, tw, tb, s, per_side(padding), d, e)
                  : conv_transpose2d(ctx, tx, tw, tb, s, Pair{padding[0], padding[1]},
                                     {output_padding.first, output_padding.second}, d, e);
    }
    return to_numpy(out);
  });

  m.def("fac", [](const FloatArray& x, const FloatArray& kernel, int k, const std::string& device,
                  int threads, bool reference, const std::string& isa) {
    Context ctx = make_context(device, threads, reference);
    apply_isa(ctx, isa);
    Tensor tx = to_tensor(ctx, x), tk = to_tensor(ctx, kernel), out;
    {
      py::gil_scoped_release nogil;
      out = fac(ctx, tx, tk, k);
    }
    return to_numpy(out);
  });

  m.def("fac_backward",
        [](const FloatArray& g, const FloatArray& x, const FloatArray& kernel, int k,
           const std::string& device, int threads, bool reference, const std::string& isa) {
          Context ctx = make_context(device, threads, reference);
          apply_isa(ctx, isa);
          Tensor tg = to_tensor(ctx, g), tx = to_tensor(ctx, x), tk = to_tensor(ctx, kernel);
          std::pair<Tensor, Tensor> grads;
          {
            py::gil_scoped_release nogil;
            grads = fac_backward(ctx, tg, tx, tk, k);
          }
          return py::make_tuple(to_numpy(grads.first), to_numpy(grads.second));
        });

  m.def("iac", [](const FloatArray& x, const FloatArray& filters, int n_iterations, int k,
                  bool reuse_vertical_filter, bool final_activation, const std::string& device,
                  int threads, bool reference) {
    Context ctx = make_context(device, threads, reference);
    Tensor tx = to_tensor(ctx, x), tf = to_tensor(ctx, filters), out;
    {
      py::gil_scoped_release nogil;
      out = iac(ctx, tx, tf, n_iterations, k, reuse_vertical_filter, final_activation);
    }
    return to_numpy(out);
  });

  m.def("iac_backward", [](const FloatArray& g, const FloatArray& x, const FloatArray& filters,
                           int n_iterations, int k, bool reuse_vertical_filter,
                           bool final_activation, const std::string& device, int threads,
                           bool reference) {
    Context ctx = make_context(device, threads, reference);
    Tensor tg = to_tensor(ctx, g), tx = to_tensor(ctx, x), tf = to_tensor(ctx, filters);
    std::pair<Tensor, Tensor> grads;
    {
      py::gil_scoped_release nogil;
      grads =
          iac_backward(ctx, tg, tx, tf, n_iterations, k, reuse_vertical_filter, final_activation);
    }
    return py::make_tuple(to_numpy(grads.first), to_numpy(grads.second));
  });

  m.def("unary", [](const std::string& op, const FloatArray& x, float slope,
                    const std::string& device, int threads, bool reference) {
    Context ctx = make_context(device, threads, reference);
    Tensor tx = to_tensor(ctx, x), out;
    {
      py::gil_scoped_release nogil;
      if (op == "relu")
        out = relu(ctx, tx);
      else if (op == "leaky_relu")
        out = leaky_relu(ctx, tx, slope);
      else if (op == "sigmoid")
        out = sigmoid(ctx, tx);
      else if (op == "softmax")
        out = softmax(ctx, tx, static_cast<int>(slope));
      else
        fail<ValueError>("unknown unary op '", op, "'");
    }
    return to_numpy(out);
  });

  m.def("add", [](const FloatArray& a, const FloatArray& b, const std::string& device, int threads,
                  bool reference) {
    Context ctx = make_context(device, threads, reference);
    Tensor ta = to_tensor(ctx, a), tb = to_tensor(ctx, b), out;
    {
      py::gil_scoped_release nogil;
      out = add(ctx, ta, tb);
    }
    return to_numpy(out);
  });

  m.def("concat", [](const std::vector<FloatArray>& xs, int dim, const std::string& device,
                     int threads, bool reference) {
    Context ctx = make_context(device, threads, reference);
    std::vector<Tensor> ts;
    for (const auto& x : xs) ts.push_back(to_tensor(ctx, x));
    Tensor out;
    {
      py::gil_scoped_release nogil;
      out = concat(ctx, ts, dim);
    }
    return to_numpy(out);
  });

  m.def("deform_conv2d", [](const FloatArray& x, const FloatArray& offset, const FloatArray& w,
                            const std::optional<FloatArray>& b, std::pair<int, int> stride,
                            std::pair<int, int> padding, std::pair<int, int> dilation,
                            const std::optional<FloatArray>& mask, const std::string& device,
                            int threads, bool reference, const std::string& precision) {
    Context ctx = make_context(device, threads, reference);
    ctx.set_precision(parse_precision(precision));
    Tensor tx = to_tensor(ctx, x), to = to_tensor(ctx, offset), tw = to_tensor(ctx, w);
    Tensor tb = optional_tensor(ctx, b), tm = optional_tensor(ctx, mask), out;
    {
      py::gil_scoped_release nogil;
      out = deform_conv2d(ctx, tx, to, tw, tb, {stride.first, stride.second},
                          {padding.first, padding.second}, {dilation.first, dilation.second}, tm);
    }
    return to_numpy(out);
  });

  m.def("pad", [](const FloatArray& x, std::array<int, 4> pads, const std::string& mode,
                  float value, const std::string& device, int threads, bool reference) {
    Context ctx = make_context(device, threads, reference);
    Tensor tx = to_tensor(ctx, x), out;
    const PadMode pm = parse_pad_mode(mode);
    {
      py::gil_scoped_release nogil;
      out = pad(ctx, tx, pads, pm, value);
    }
    return to_numpy(out);
  });

  // The C++ safetensors reader, exposed for tests of it.
  m.def("safetensors_info", [](const std::string& path) {
    const SafetensorsFile f = SafetensorsFile::open(path);
    py::dict metadata, tensors;
    for (const auto& [key, value] : f.metadata()) metadata[py::str(key)] = py::str(value);
    for (const auto& name : f.names())
      tensors[py::str(name)] = py::make_tuple(f.dtype(name), py::tuple(py::cast(f.shape(name))));
    py::dict info;
    info["metadata"] = metadata;
    info["tensors"] = tensors;
    return info;
  });

  m.def("safetensors_tensor", [](const std::string& path, const std::string& name) {
    return to_numpy(SafetensorsFile::open(path).tensor(name));
  });
}
