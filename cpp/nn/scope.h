// Where a module's parameters live in the official state_dict: a Module path such as
// "fac_warp.3.0", built the way PyTorch names submodules (attribute names, and indices for
// nn.Sequential children), so that a layer is loaded with the same path the official
// module has.
//
//   Scope s(weights, ctx);
//   Conv2d c(s["fac_warp"][3][0], 128, 3200, 1);   // fac_warp.3.0.weight / .bias
#pragma once

#include <string>

#include "deblurcore/context.h"
#include "deblurcore/weights.h"

namespace deblurcore {
namespace nn {

class Scope {
 public:
  // The weights and context must outlive the scope (a scope is used while a model loads).
  Scope(Weights& weights, const Context& ctx, std::string path = "")
      : weights_(&weights), ctx_(&ctx), path_(std::move(path)) {}

  // The submodule `name` (an attribute) or `index` (a child of an nn.Sequential).
  Scope operator[](const std::string& name) const { return {*weights_, *ctx_, join(name)}; }
  Scope operator[](int index) const { return (*this)[std::to_string(index)]; }

  // The parameter `<path>.<name>`, which must have shape `shape` (ValueError naming the key).
  Tensor get(const std::string& name, const Shape& shape) const {
    return weights_->get(join(name), shape);
  }

  // The same path, with its layers prepared for `ctx` (a block's context, as the model runs it).
  Scope on(const Context& ctx) const { return {*weights_, ctx, path_}; }

  const std::string& path() const { return path_; }
  const Context& context() const { return *ctx_; }

 private:
  std::string join(const std::string& name) const {
    return path_.empty() ? name : path_ + "." + name;
  }

  Weights* weights_;
  const Context* ctx_;
  std::string path_;
};

}  // namespace nn
}  // namespace deblurcore
