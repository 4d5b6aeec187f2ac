// Strict loading of a model's parameters from a safetensors file.
//
//   Weights w("stfan.safetensors", Device::CPU);
//   w.require_meta("architecture", "stfan");
//   Tensor k = w.get("conv1_1.0.weight", {32, 9, 3, 3});
//   ...
//   w.check_all_used();  // a key the model did not ask for is a load error
//
// Every error is a ValueError naming the file and the key. A Weights object records which
// keys were used, so it is meant for one model load on one thread.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "deblurcore/export.h"
#include "deblurcore/safetensors.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

class DEBLURCORE_API Weights {
 public:
  // Tensors returned by get() are placed on `device`.
  explicit Weights(SafetensorsFile file, Device device = Device::CPU);
  explicit Weights(const std::string& path, Device device = Device::CPU);

  const SafetensorsFile& file() const { return file_; }
  Device device() const { return device_; }

  bool has(const std::string& key) const { return file_.contains(key); }
  // The tensor `key` (float32, on device()), which must have shape `expected`; marks it used.
  // The tensor is a copy that does not depend on the file; NaN or infinite values are a
  // ValueError.
  Tensor get(const std::string& key, const Shape& expected);
  // The tensor `key` whatever its shape; marks it used.
  Tensor get(const std::string& key);

  // Keys of the file not fetched by get() so far, sorted.
  std::vector<std::string> unused() const;
  // ValueError listing every unused key, if there is any.
  void check_all_used() const;

  // A "__metadata__" value, or `default_value` when the file has none under `key`.
  std::string meta(const std::string& key, const std::string& default_value = "") const {
    return file_.metadata_value(key, default_value);
  }
  // ValueError unless the metadata value `key` is `expected`, e.g.
  // "ifan.safetensors was converted for architecture 'ifan', not 'stfan'".
  void require_meta(const std::string& key, const std::string& expected) const;

 private:
  SafetensorsFile file_;
  Device device_;
  std::set<std::string> used_;
};

}  // namespace deblurcore
