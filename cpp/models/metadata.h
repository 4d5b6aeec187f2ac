// What a model reads from its weights' "__metadata__" (written by `deblurcore convert`, see
// python/deblurcore/convert/architectures.py): the metadata is the one description of the
// input format and the variant; each model validates it against what it supports.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "deblurcore/image.h"
#include "deblurcore/safetensors.h"

namespace deblurcore {

// The metadata value `key`, which must be one of `accepted` (ValueError naming the file, the
// key and the accepted values otherwise). An absent key reads as accepted[0], the value of
// the official checkpoints.
std::string metadata_choice(const SafetensorsFile& file, const std::string& architecture,
                            const std::string& key, const std::vector<std::string>& accepted);

// The metadata value `key` as a positive integer; ValueError naming `key` and `meaning` when
// it is absent or not one.
int metadata_positive_int(const SafetensorsFile& file, const std::string& key,
                          const std::string& meaning);

// Checks the metadata keys that describe what the architecture (and variant) implies rather
// than choose anything: each present key must hold one of its accepted values (ValueError
// naming the file and the key otherwise), so that no file shows a value the runtime
// contradicts. An absent key is accepted (files written by hand or by other tools).
void check_implied_metadata(
    const SafetensorsFile& file, const std::string& architecture,
    const std::vector<std::pair<std::string, std::vector<std::string>>>& keys);

// num_tensors and num_params, when present, must be the file's tensor and element counts.
void check_metadata_counts(const SafetensorsFile& file);

// The size_policy values a file may record: "pad" (what the runtime does: replicate- or
// mirror-padding to the size multiple, output cropped back) or `legacy`, the value earlier
// converters wrote for this architecture ("error" or "crop", the official code's behaviour)
// that means the same for this runtime.
std::vector<std::string> size_policies(const std::string& legacy);

// What an architecture accepts for the input-format keys; the first of each is the default.
struct SupportedImageFormat {
  std::vector<std::string> channel_orders;  // "channel_order": "RGB" / "BGR"
  std::vector<std::string> input_ranges;    // "input_range": "0,1" / "-1,1"
  int size_multiple;                        // "size_multiple": the only accepted value
};

// The ImageFormat of the metadata keys channel_order, input_range and size_multiple.
ImageFormat read_image_format(const SafetensorsFile& file, const std::string& architecture,
                              const SupportedImageFormat& supported);

}  // namespace deblurcore
