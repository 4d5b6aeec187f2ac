#include "models/metadata.h"

#include "deblurcore/error.h"

namespace deblurcore {

namespace {

std::string quoted_list(const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i)
    out += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + ("'" + values[i] + "'");
  return out;
}

}  // namespace

std::string metadata_choice(const SafetensorsFile& file, const std::string& architecture,
                            const std::string& key, const std::vector<std::string>& accepted) {
  const std::string value = file.metadata_value(key, accepted.at(0));
  for (const std::string& a : accepted)
    if (value == a) return value;
  fail<ValueError>(file.path(), ": metadata '", key, "' is '", value, "', but ", architecture,
                   " accepts ", quoted_list(accepted));
}

int metadata_positive_int(const SafetensorsFile& file, const std::string& key,
                          const std::string& meaning) {
  const std::string value = file.metadata_value(key, "");
  check(!value.empty(), file.path(), ": no '", key, "' in the metadata (", meaning,
        "); convert the official checkpoint with `deblurcore convert`");
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  check(used == value.size() && v > 0 && v < (1L << 20), file.path(), ": metadata '", key,
        "' must be a positive integer (", meaning, "), got '", value, "'");
  return static_cast<int>(v);
}

void check_implied_metadata(
    const SafetensorsFile& file, const std::string& architecture,
    const std::vector<std::pair<std::string, std::vector<std::string>>>& keys) {
  for (const auto& [key, accepted] : keys)
    if (file.metadata().count(key)) metadata_choice(file, architecture, key, accepted);
}

void check_metadata_counts(const SafetensorsFile& file) {
  int64_t params = 0;
  for (const std::string& name : file.names()) params += shape_numel(file.shape(name));
  const std::pair<const char*, int64_t> counts[] = {
      {"num_tensors", static_cast<int64_t>(file.size())}, {"num_params", params}};
  for (const auto& [key, actual] : counts) {
    if (!file.metadata().count(key)) continue;
    const std::string value = file.metadata_value(key);
    check(value == std::to_string(actual), file.path(), ": metadata '", key, "' is '", value,
          "', but the file holds ", actual);
  }
}

std::vector<std::string> size_policies(const std::string& legacy) { return {"pad", legacy}; }

ImageFormat read_image_format(const SafetensorsFile& file, const std::string& architecture,
                              const SupportedImageFormat& supported) {
  ImageFormat f;
  f.bgr = metadata_choice(file, architecture, "channel_order", supported.channel_orders) == "BGR";
  const std::string range =
      metadata_choice(file, architecture, "input_range", supported.input_ranges);
  check(range == "0,1" || range == "-1,1", "read_image_format: unknown input range '", range, "'");
  f.range = range == "0,1" ? ImageFormat::Range::Unit : ImageFormat::Range::SymmetricUnit;
  metadata_choice(file, architecture, "size_multiple", {std::to_string(supported.size_multiple)});
  f.size_multiple = supported.size_multiple;
  return f;
}

}  // namespace deblurcore
