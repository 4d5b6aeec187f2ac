#include "deblurcore/weights.h"

#include <cmath>

#include "deblurcore/error.h"

namespace deblurcore {

Weights::Weights(SafetensorsFile file, Device device) : file_(std::move(file)), device_(device) {}

Weights::Weights(const std::string& path, Device device)
    : Weights(SafetensorsFile::open(path), device) {}

Tensor Weights::get(const std::string& key, const Shape& expected) {
  check(file_.contains(key), file_.path(), ": missing tensor '", key, "' (expected shape ",
        shape_str(expected), ")");
  const Shape actual = file_.shape(key);
  check(actual == expected, file_.path(), ": tensor '", key, "' has shape ", shape_str(actual),
        ", expected ", shape_str(expected));
  return get(key);
}

Tensor Weights::get(const std::string& key) {
  check(file_.contains(key), file_.path(), ": missing tensor '", key, "'");
  // A copy, never a view of the file's mapping: a loaded model must not depend on the file
  // (truncating a mapped file makes reading it a SIGBUS, rewriting it would change the
  // model). to() copies to another device; on the host, clone() copies.
  const Tensor mapped = file_.tensor(key);
  int64_t bad = 0, first = -1;
  const float* v = mapped.data();
  for (int64_t i = 0; i < mapped.numel(); ++i)
    if (!std::isfinite(v[i])) {
      if (bad++ == 0) first = i;
    }
  check(bad == 0, file_.path(), ": tensor '", key, "' holds ", bad, " NaN or infinite value",
        bad == 1 ? "" : "s", " (first at flat index ", first, "); the weights are corrupt");
  Tensor t = device_ == Device::CPU ? mapped.clone() : mapped.to(device_);
  used_.insert(key);
  return t;
}

std::vector<std::string> Weights::unused() const {
  std::vector<std::string> out;
  for (const auto& name : file_.names())
    if (!used_.count(name)) out.push_back(name);
  return out;
}

void Weights::check_all_used() const {
  const std::vector<std::string> extra = unused();
  if (extra.empty()) return;
  std::string list;
  for (const auto& k : extra) list += (list.empty() ? "'" : ", '") + k + "'";
  fail<ValueError>(file_.path(), ": ", extra.size(), " tensor", extra.size() == 1 ? "" : "s",
                   " not used by the model (wrong architecture or variant?): ", list);
}

void Weights::require_meta(const std::string& key, const std::string& expected) const {
  const auto& md = file_.metadata();
  auto it = md.find(key);
  check(it != md.end(), file_.path(), " has no metadata '", key, "' (expected '", expected,
        "'); convert the checkpoint with the deblurcore converter");
  check(it->second == expected, file_.path(), " was converted for ", key, " '", it->second,
        "', not '", expected, "'");
}

}  // namespace deblurcore
