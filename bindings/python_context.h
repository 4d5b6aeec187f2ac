// The Context of every binding, and the translation of core exceptions to Python ones.
#pragma once

#include <pybind11/pybind11.h>

#include "deblurcore/context.h"

// A Context on `device` with `num_threads` whose cancel check lets Python signal handlers run
// while the core computes with the GIL released: on the main thread, at most every 50 ms, it
// takes the GIL and runs PyErr_CheckSignals. When a handler raises (KeyboardInterrupt for
// Ctrl-C, or a handler's own exception), the op in progress throws CancelledError and the
// binding raises the handler's exception.
deblurcore::Context python_context(deblurcore::Device device, int num_threads);

// Called once at import: notes Python's main thread and registers the translator of
// deblurcore's exceptions: TypeError, ValueError, MemoryError
// (OutOfMemoryError and std::bad_alloc), the signal handler's exception (CancelledError) and
// RuntimeError for any other deblurcore::Error.
void install_python_error_handling();
