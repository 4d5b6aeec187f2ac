// The op front ends' hook into the Context's profiler (deblurcore/profiler.h):
//
//   const ProfileScope prof(ctx, "conv2d", {{"x", &x}, {"weight", &weight}});
//
// times the rest of the enclosing block. Without a profiler it does nothing but test a pointer.
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <utility>

#include "deblurcore/context.h"
#include "deblurcore/profiler.h"

namespace deblurcore {

class ProfileScope {
 public:
  using Arg = std::pair<const char*, const Tensor*>;

  ProfileScope(const Context& ctx, const char* op, std::initializer_list<Arg> args)
      : ctx_(ctx), profiler_(ctx.profiler()) {
    if (!profiler_) return;
    op_ = op;
    for (const Arg& a : args) {
      if (!a.second || !a.second->defined()) continue;
      if (!shape_.empty()) shape_ += ' ';
      shape_ += a.first;
      shape_ += a.second->shape_str();
    }
    start_ = std::chrono::steady_clock::now();
  }

  ~ProfileScope() {
    if (!profiler_) return;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const Allocator::Stats st = ctx_.allocator().stats();
    profiler_->add({op_, std::move(shape_), s, st.live_bytes, st.live_bytes + st.idle_bytes,
                    st.peak_bytes, st.peak_live_bytes});
  }

  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  const Context& ctx_;
  OpProfiler* profiler_;
  const char* op_ = nullptr;
  std::string shape_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace deblurcore
