// Weights: strict loading of a model's parameters.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "deblurcore/deblurcore.h"
#include "deblurcore/weights.h"
#include "test_util.h"

using namespace deblurcore;
using testing::TempDir;
using testing::write_file;

namespace {

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}

// conv.weight (2, 1, 1, 1) = {1, 2}, conv.bias (2,) = {3, 4}, extra (1,) = {5}.
std::string model_file(const std::string& architecture) {
  const std::string header =
      "{\"__metadata__\":{\"architecture\":\"" + architecture +
      "\",\"version\":\"1\"},"
      "\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[2,1,1,1],\"data_offsets\":[0,8]},"
      "\"conv.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
      "\"extra\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}";
  const float values[5] = {1, 2, 3, 4, 5};
  std::string data(20, '\0');
  std::memcpy(data.data(), values, 20);
  return le64(header.size()) + header + data;
}

}  // namespace

TEST_CASE(get_checks_shape_and_marks_used) {
  TempDir dir;
  const std::string p = dir.file("model.safetensors");
  write_file(p, model_file("stfan"));
  Weights w(p);
  CHECK(w.device() == Device::CPU);
  CHECK(w.has("conv.bias") && !w.has("conv.bias2"));
  CHECK(w.unused() == (std::vector<std::string>{"conv.bias", "conv.weight", "extra"}));

  Tensor k = w.get("conv.weight", {2, 1, 1, 1});
  CHECK(k.to_vector() == (std::vector<float>{1, 2}));
  CHECK_THROWS(ValueError, w.get("conv.bias", {3}),
               "model.safetensors: tensor 'conv.bias' has shape (2,), expected (3,)");
  CHECK_THROWS(ValueError, w.get("conv.bias", {2, 1}), "expected (2, 1)");
  CHECK_THROWS(ValueError, w.get("conv2.weight", {4, 2, 3, 3}),
               "missing tensor 'conv2.weight' (expected shape (4, 2, 3, 3))");
  CHECK_THROWS(ValueError, w.get("conv2.weight"), "missing tensor 'conv2.weight'");
  // Failed gets do not count as uses.
  CHECK(w.unused() == (std::vector<std::string>{"conv.bias", "extra"}));

  CHECK(w.get("conv.bias").to_vector() == (std::vector<float>{3, 4}));
  CHECK_THROWS(ValueError, w.check_all_used(), "model.safetensors: 1 tensor not used by the model");
  CHECK_THROWS(ValueError, w.check_all_used(), "'extra'");
  w.get("extra", {1});
  w.check_all_used();  // no throw
  CHECK(w.unused().empty());
}

TEST_CASE(check_all_used_lists_every_key) {
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  write_file(p, model_file("ifan"));
  Weights w(SafetensorsFile::open(p));
  CHECK_THROWS(ValueError, w.check_all_used(),
               "3 tensors not used by the model (wrong architecture or variant?): "
               "'conv.bias', 'conv.weight', 'extra'");
}

TEST_CASE(metadata) {
  TempDir dir;
  const std::string p = dir.file("ifan.safetensors");
  write_file(p, model_file("ifan"));
  Weights w(p);
  CHECK_EQ(w.meta("architecture"), std::string("ifan"));
  CHECK_EQ(w.meta("version"), std::string("1"));
  CHECK_EQ(w.meta("nothing"), std::string(""));
  CHECK_EQ(w.meta("nothing", "x"), std::string("x"));
  w.require_meta("architecture", "ifan");
  CHECK_THROWS(ValueError, w.require_meta("architecture", "stfan"),
               "ifan.safetensors was converted for architecture 'ifan', not 'stfan'");
  CHECK_THROWS(ValueError, w.require_meta("scale", "2"), "has no metadata 'scale'");
}

TEST_CASE(bad_files_are_value_errors) {
  TempDir dir;
  CHECK_THROWS(ValueError, Weights(dir.file("nope.safetensors")), "nope.safetensors");
  write_file(dir.file("junk.safetensors"), "definitely not safetensors");
  CHECK_THROWS(ValueError, Weights(dir.file("junk.safetensors")), "junk.safetensors: ");
}

TEST_CASE(device_placement) {
  TempDir dir;
  const std::string p = dir.file("model.safetensors");
  write_file(p, model_file("stfan"));
  if (cuda_available()) {
    Weights w(p, Device::CUDA);
    Tensor t = w.get("conv.bias", {2});
    CHECK(t.device() == Device::CUDA);
    CHECK(t.to_vector() == (std::vector<float>{3, 4}));
  } else {
    Weights w(p, Device::CUDA);
    CHECK_THROWS(RuntimeError, w.get("conv.bias", {2}), "without CUDA");
    // A failed placement does not mark the key as used.
    CHECK_EQ(w.unused().size(), size_t{3});
  }
}

int main() { return testing::run_all(); }
