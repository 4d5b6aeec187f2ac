// Exceptions thrown by deblurcore. Every error derives from deblurcore::Error (allocation
// failures included: OutOfMemoryError, never std::bad_alloc); the Python bindings map
// ValueError, TypeError and RuntimeError to the Python exceptions of the same name and
// OutOfMemoryError to MemoryError.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "deblurcore/export.h"

namespace deblurcore {

class DEBLURCORE_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A value is wrong: a shape, a size, a parameter out of range, a malformed file.
class DEBLURCORE_API ValueError : public Error {
 public:
  using Error::Error;
};

// An argument has the wrong kind: wrong dtype, wrong device, not a tensor.
class DEBLURCORE_API TypeError : public Error {
 public:
  using Error::Error;
};

// The request is valid but cannot be served here (e.g. a CUDA call in a build without CUDA).
class DEBLURCORE_API RuntimeError : public Error {
 public:
  using Error::Error;
};

// Memory for a tensor or a working buffer could not be allocated (the Python bindings raise
// MemoryError).
class DEBLURCORE_API OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

// A computation stopped because its Context's cancel check asked for it (Context::
// set_cancel_check); the Python bindings raise the exception of the signal handler instead
// (KeyboardInterrupt for Ctrl-C).
class DEBLURCORE_API CancelledError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}
}  // namespace detail

// Throws E with the message made of `parts` when `condition` is false.
// Usage: check<ValueError>(x.dim() == 4, "conv2d: x must be 4-D (N,C,H,W), got ", x.shape_str());
template <typename E = ValueError, typename... Parts>
inline void check(bool condition, Parts&&... parts) {
  if (!condition) throw E(detail::concat(std::forward<Parts>(parts)...));
}

template <typename E = ValueError, typename... Parts>
[[noreturn]] inline void fail(Parts&&... parts) {
  throw E(detail::concat(std::forward<Parts>(parts)...));
}

}  // namespace deblurcore
