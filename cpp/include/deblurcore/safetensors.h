// Reading .safetensors files (the format of Hugging Face's safetensors library):
//
//   [8 bytes: N, unsigned little-endian] [N bytes: JSON header] [data section]
//
// The header is a JSON object mapping each tensor name to
//   {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
// (offsets in bytes, relative to the start of the data section), plus an optional
// "__metadata__" object of string -> string.
//
// The file is memory-mapped and the whole header is validated when the file is opened, so a
// file that opens has only well-formed entries: known dtypes, shapes of integers >= 0,
// 0 <= begin <= end <= data size, end - begin == numel * dtype size (computed without
// overflow), and no two non-empty ranges overlapping. Gaps between ranges and bytes after the
// last range are allowed (a writer may use them to align tensors). Any violation is a
// ValueError naming the file and the field; no input makes the reader crash.
//
// Reading a tensor always gives float32 (the runtime's only element type):
//   F32   as stored. Zero-copy when the data are 64-byte aligned in memory (the tensor then
//         keeps the mapping alive); otherwise copied into 64-byte aligned memory.
//   F16, BF16  widened to float32; exact (every value, inf and NaN are representable).
//   F64   rounded to the nearest float32; a finite value beyond the float32 range is an
//         error rather than a silent infinity.
//   other dtypes (integers, BOOL, F8_*) can be inspected with dtype()/shape() but reading
//   them as float32 is an error.
//
// The file is opened read-only and mapped privately (MAP_PRIVATE) with write access, so a
// zero-copy tensor is an ordinary writable Tensor: writing to it changes a private copy of
// the page, never the file. The file must not be truncated by another process while mapped.
//
// Threads: a SafetensorsFile is immutable once opened; its copies share the mapping and any
// number of threads may read from it at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "deblurcore/export.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

class DEBLURCORE_API SafetensorsFile {
 public:
  // The largest header accepted (the limit of the reference implementation).
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  // Maps and validates the file. ValueError when the path cannot be opened (naming the OS
  // reason), is not a regular file, or is not a well-formed safetensors file.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const;
  // The "__metadata__" entries (empty when the header has none).
  const std::map<std::string, std::string>& metadata() const;
  std::string metadata_value(const std::string& key, const std::string& default_value = "") const;

  // Tensor names, sorted.
  std::vector<std::string> names() const;
  size_t size() const;
  bool contains(const std::string& name) const;
  // Shape and dtype name ("F32", "F16", ...) of a tensor; ValueError when it is absent.
  Shape shape(const std::string& name) const;
  std::string dtype(const std::string& name) const;

  // The tensor as a float32 host tensor (see the conversion rules above).
  Tensor tensor(const std::string& name) const;

 private:
  struct Impl;
  explicit SafetensorsFile(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // shared: copies of the file share one mapping
};

}  // namespace deblurcore
