#include "python_context.h"

#include <pythread.h>

#include <chrono>
#include <new>

#include "deblurcore/error.h"

namespace py = pybind11;
using namespace deblurcore;

namespace {

// Python runs signal handlers on its main thread only (threading.main_thread()).
unsigned long main_thread_ident = 0;

// The exception a signal handler raised during a cancel check, kept until the translator
// raises it (the error indicator is not left set while the core unwinds without the GIL).
thread_local PyObject* pending_type = nullptr;
thread_local PyObject* pending_value = nullptr;
thread_local PyObject* pending_traceback = nullptr;

bool python_signal_raised() {
  using Clock = std::chrono::steady_clock;
  if (PyThread_get_thread_ident() != main_thread_ident) return false;
  thread_local Clock::time_point last_check{};
  const Clock::time_point now = Clock::now();
  if (now - last_check < std::chrono::milliseconds(50)) return false;
  last_check = now;
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() == 0) return false;
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  Py_XDECREF(pending_type);
  Py_XDECREF(pending_value);
  Py_XDECREF(pending_traceback);
  pending_type = type;
  pending_value = value;
  pending_traceback = traceback;
  return true;
}

void raise_pending_signal_exception(const char* what) {
  if (pending_type != nullptr) {
    PyErr_Restore(pending_type, pending_value, pending_traceback);
    pending_type = pending_value = pending_traceback = nullptr;
  } else {
    PyErr_SetString(PyExc_KeyboardInterrupt, what);
  }
}

}  // namespace

Context python_context(Device device, int num_threads) {
  Context ctx(device, num_threads);
  ctx.set_cancel_check(&python_signal_raised);
  return ctx;
}

void install_python_error_handling() {
  main_thread_ident =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const deblurcore::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const deblurcore::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const deblurcore::OutOfMemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const deblurcore::CancelledError& e) {
      raise_pending_signal_exception(e.what());
    } catch (const deblurcore::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "out of memory");
    }
  });
}
