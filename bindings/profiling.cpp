// The op profiler (deblurcore/profiler.h) for benchmarks: a model loaded with one records
// every op it runs.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "deblurcore/context.h"
#include "deblurcore/model.h"
#include "deblurcore/profiler.h"
#include "device.h"

namespace py = pybind11;
using namespace deblurcore;

void bind_profiling(py::module_& m) {
  py::class_<OpProfiler, std::shared_ptr<OpProfiler>>(m, "OpProfiler")
      .def(py::init<>())
      .def("clear", &OpProfiler::clear)
      .def(
          "records",
          [](const OpProfiler& self) {
            py::list out;
            for (const auto& r : self.records())
              out.append(py::make_tuple(r.op, r.shape, r.seconds, r.live_bytes, r.held_bytes,
                                        r.peak_bytes, r.peak_live_bytes));
            return out;
          },
          "[(op, shapes, seconds, live, held, peak held, peak live bytes)] in call order");

  m.def(
      "load_model_profiled",
      [](const std::string& path, const std::string& device, int threads,
         std::shared_ptr<OpProfiler> profiler, const std::string& precision) {
        Context ctx(parse_device(device), threads);
        ctx.set_precision(parse_precision(precision));
        ctx.set_profiler(std::move(profiler));
        py::gil_scoped_release nogil;
        return load_model(path, ctx);
      },
      py::arg("path"), py::arg("device"), py::arg("num_threads"), py::arg("profiler"),
      py::arg("precision") = "fp32",
      "load_model (in 'fp32' or 'bf16') whose context records every op into `profiler`");
}
