#include "deblurcore/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string_view>
#include <system_error>

#include "deblurcore/error.h"
#include "io/json.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the safetensors reader assumes a little-endian host (the format is little-endian)"
#endif

namespace deblurcore {

namespace {

enum class Dtype {
  BOOL,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  F8_E8M0,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  F64,
  I64,
  U64
};

struct DtypeInfo {
  Dtype dtype;
  const char* name;
  uint64_t size;
};

// The dtypes of the safetensors format with a whole number of bytes per element.
constexpr DtypeInfo kDtypes[] = {
    {Dtype::BOOL, "BOOL", 1},       {Dtype::U8, "U8", 1},           {Dtype::I8, "I8", 1},
    {Dtype::F8_E5M2, "F8_E5M2", 1}, {Dtype::F8_E4M3, "F8_E4M3", 1}, {Dtype::F8_E8M0, "F8_E8M0", 1},
    {Dtype::I16, "I16", 2},         {Dtype::U16, "U16", 2},         {Dtype::F16, "F16", 2},
    {Dtype::BF16, "BF16", 2},       {Dtype::I32, "I32", 4},         {Dtype::U32, "U32", 4},
    {Dtype::F32, "F32", 4},         {Dtype::F64, "F64", 8},         {Dtype::I64, "I64", 8},
    {Dtype::U64, "U64", 8},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo& dtype_info(Dtype dtype) {
  for (const auto& d : kDtypes)
    if (d.dtype == dtype) return d;
  return kDtypes[0];  // unreachable: every enumerator is in the table
}

// Names and strings from the file may hold anything; keep error messages one readable line.
std::string printable(const std::string& s, size_t max_len = 200) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

std::string os_reason(int err) { return std::error_code(err, std::generic_category()).message(); }

// An mmap'ed file; unmapped when the last tensor or SafetensorsFile referring to it is gone.
struct Mapping {
  void* addr = MAP_FAILED;
  size_t length = 0;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr != MAP_FAILED) munmap(addr, length);
  }
};

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

struct Entry {
  Dtype dtype;
  Shape shape;
  uint64_t begin, end;  // relative to the data section
};

std::string offsets_str(uint64_t begin, uint64_t end) {
  return detail::concat("[", begin, ", ", end, "]");
}

// IEEE half -> float, exact.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal half: normalise the mantissa; the value is mant * 2^-24.
    int e = 113;  // exponent of 2^-14 in float's bias, decremented per shift
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (static_cast<uint32_t>(e) << 23) | ((mant & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace

struct SafetensorsFile::Impl {
  std::string path;
  std::shared_ptr<Mapping> mapping;
  const unsigned char* data = nullptr;  // start of the data section
  uint64_t data_size = 0;
  std::map<std::string, std::string> metadata;
  std::map<std::string, Entry> tensors;

  template <typename... Parts>
  [[noreturn]] void error(Parts&&... parts) const {
    fail<ValueError>(path, ": ", std::forward<Parts>(parts)...);
  }
  template <typename... Parts>
  [[noreturn]] void tensor_error(const std::string& name, Parts&&... parts) const {
    fail<ValueError>(path, ": tensor '", printable(name), "': ", std::forward<Parts>(parts)...);
  }

  const Entry& entry(const std::string& name) const {
    auto it = tensors.find(name);
    if (it == tensors.end())
      error("no tensor named '", printable(name), "' (the file has ", tensors.size(), " tensors)");
    return it->second;
  }

  void parse_metadata(const json::Value& v);
  Entry parse_entry(const std::string& name, const json::Value& v) const;
  void check_overlaps() const;
};

void SafetensorsFile::Impl::parse_metadata(const json::Value& v) {
  if (!v.is_object())
    error("__metadata__ must be an object of string values, got ", json::kind_name(v));
  for (size_t i = 0; i < v.keys.size(); ++i) {
    const json::Value& item = v.items[i];
    if (!item.is_string())
      error("__metadata__ value of '", printable(v.keys[i]), "' must be a string, got ",
            json::kind_name(item));
    metadata.emplace(v.keys[i], item.text);
  }
}

Entry SafetensorsFile::Impl::parse_entry(const std::string& name, const json::Value& v) const {
  if (!v.is_object())
    tensor_error(name, "entry must be an object {\"dtype\", \"shape\", \"data_offsets\"}, got ",
                 json::kind_name(v));
  for (const auto& key : v.keys)
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      tensor_error(name, "unexpected field '", printable(key),
                   "' (expected dtype, shape, data_offsets)");
  const json::Value* dtype = v.find("dtype");
  const json::Value* shape = v.find("shape");
  const json::Value* offsets = v.find("data_offsets");
  if (!dtype) tensor_error(name, "missing field 'dtype'");
  if (!shape) tensor_error(name, "missing field 'shape'");
  if (!offsets) tensor_error(name, "missing field 'data_offsets'");

  Entry e{};
  if (!dtype->is_string())
    tensor_error(name, "dtype must be a string, got ", json::kind_name(*dtype));
  const DtypeInfo* info = find_dtype(dtype->text);
  if (!info) {
    std::string known;
    for (const auto& d : kDtypes) known += std::string(known.empty() ? "" : ", ") + d.name;
    tensor_error(name, "unknown dtype '", printable(dtype->text), "' (known: ", known, ")");
  }
  e.dtype = info->dtype;

  if (!shape->is_array())
    tensor_error(name, "shape must be an array of integers, got ", json::kind_name(*shape));
  // numel must fit in int64 (Tensor's element count) even for empty tensors, whose size
  // product is computed over all dimensions: bound the product of the non-zero dimensions.
  uint64_t nonzero_product = 1;
  bool too_many = false, has_zero = false;
  for (size_t i = 0; i < shape->items.size(); ++i) {
    const json::Value& d = shape->items[i];
    if (!d.is_number() || !d.is_integer || d.integer < 0)
      tensor_error(name, "shape[", i, "] must be an integer >= 0, got ",
                   d.is_number() ? printable(d.text) : std::string(json::kind_name(d)));
    const uint64_t s = static_cast<uint64_t>(d.integer);
    e.shape.push_back(d.integer);
    if (s == 0)
      has_zero = true;
    else if (__builtin_mul_overflow(nonzero_product, s, &nonzero_product) ||
             nonzero_product > static_cast<uint64_t>(INT64_MAX))
      too_many = true;
  }
  if (too_many) tensor_error(name, "shape ", shape_str(e.shape), " has more than 2^63 elements");
  const uint64_t numel = has_zero ? 0 : nonzero_product;
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, info->size, &nbytes))
    tensor_error(name, "shape ", shape_str(e.shape), " x ", info->name,
                 " is larger than 2^64 bytes");

  if (!offsets->is_array() || offsets->items.size() != 2)
    tensor_error(name, "data_offsets must be an array [begin, end], got ",
                 offsets->is_array() ? detail::concat("an array of ", offsets->items.size())
                                     : std::string(json::kind_name(*offsets)));
  for (int i = 0; i < 2; ++i) {
    const json::Value& o = offsets->items[static_cast<size_t>(i)];
    if (!o.is_number() || !o.is_integer || o.integer < 0)
      tensor_error(name, "data_offsets[", i, "] must be an integer >= 0, got ",
                   o.is_number() ? printable(o.text) : std::string(json::kind_name(o)));
  }
  e.begin = static_cast<uint64_t>(offsets->items[0].integer);
  e.end = static_cast<uint64_t>(offsets->items[1].integer);
  if (e.end < e.begin)
    tensor_error(name, "data_offsets ", offsets_str(e.begin, e.end), " end before they begin");
  if (e.end - e.begin != nbytes)
    tensor_error(name, "data_offsets ", offsets_str(e.begin, e.end), " do not match shape ",
                 shape_str(e.shape), " x ", info->name, " = ", nbytes, " bytes");
  if (e.end > data_size)
    tensor_error(name, "data_offsets ", offsets_str(e.begin, e.end),
                 " go past the end of the data section (", data_size,
                 " bytes; is the file truncated?)");
  return e;
}

void SafetensorsFile::Impl::check_overlaps() const {
  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  ranges.reserve(tensors.size());
  for (const auto& [name, e] : tensors)
    if (e.end > e.begin) ranges.push_back({e.begin, e.end, &name});
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    const Range& a = ranges[i - 1];
    const Range& b = ranges[i];
    if (b.begin < a.end)
      error("tensors '", printable(*a.name), "' ", offsets_str(a.begin, a.end), " and '",
            printable(*b.name), "' ", offsets_str(b.begin, b.end), " overlap");
  }
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  auto impl = std::make_shared<Impl>();
  impl->path = path;

  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a
  // regular file). It has no effect on regular files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    fail<ValueError>(path, ": cannot open the weights file: ", os_reason(err));
  }
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    impl->error("cannot stat the weights file: ", os_reason(err));
  }
  if (S_ISDIR(st.st_mode)) impl->error("is a directory, not a safetensors file");
  if (!S_ISREG(st.st_mode)) impl->error("is not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size == 0) impl->error("the file is empty, not a safetensors file");
  if (file_size < 8)
    impl->error("the file is ", file_size,
                " bytes long, too short for a safetensors file (8-byte header size first)");

  auto mapping = std::make_shared<Mapping>();
  // Private and writable: see safetensors.h (writes to zero-copy tensors never reach the file).
  mapping->addr =
      ::mmap(nullptr, static_cast<size_t>(file_size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (mapping->addr == MAP_FAILED) {
    const int err = errno;
    impl->error("cannot memory-map the file: ", os_reason(err));
  }
  mapping->length = static_cast<size_t>(file_size);
  impl->mapping = mapping;
  const auto* base = static_cast<const unsigned char*>(mapping->addr);

  uint64_t header_size = 0;
  std::memcpy(&header_size, base, 8);  // little-endian on a little-endian host
  if (header_size > kMaxHeaderBytes)
    impl->error("header size ", header_size, " bytes is over the limit of ", kMaxHeaderBytes,
                " bytes (not a safetensors file?)");
  if (header_size > file_size - 8)
    impl->error("header size ", header_size, " bytes does not fit in the file of ", file_size,
                " bytes (truncated, or not a safetensors file)");
  impl->data = base + 8 + header_size;
  impl->data_size = file_size - 8 - header_size;

  json::Value header;
  try {
    header = json::parse(std::string_view(reinterpret_cast<const char*>(base + 8),
                                          static_cast<size_t>(header_size)));
  } catch (const ValueError& e) {
    impl->error("the header is not valid JSON: ", e.what());
  }
  if (!header.is_object())
    impl->error("the header must be a JSON object, got ", json::kind_name(header));

  for (size_t i = 0; i < header.keys.size(); ++i) {
    const std::string& name = header.keys[i];
    if (name == "__metadata__")
      impl->parse_metadata(header.items[i]);
    else
      impl->tensors.emplace(name, impl->parse_entry(name, header.items[i]));
  }
  impl->check_overlaps();
  return SafetensorsFile(std::move(impl));
}

const std::string& SafetensorsFile::path() const { return impl_->path; }

const std::map<std::string, std::string>& SafetensorsFile::metadata() const {
  return impl_->metadata;
}

std::string SafetensorsFile::metadata_value(const std::string& key,
                                            const std::string& default_value) const {
  auto it = impl_->metadata.find(key);
  return it == impl_->metadata.end() ? default_value : it->second;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(impl_->tensors.size());
  for (const auto& kv : impl_->tensors) out.push_back(kv.first);
  return out;
}

size_t SafetensorsFile::size() const { return impl_->tensors.size(); }

bool SafetensorsFile::contains(const std::string& name) const {
  return impl_->tensors.count(name) != 0;
}

Shape SafetensorsFile::shape(const std::string& name) const { return impl_->entry(name).shape; }

std::string SafetensorsFile::dtype(const std::string& name) const {
  return dtype_info(impl_->entry(name).dtype).name;
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const Entry& e = impl_->entry(name);
  const unsigned char* src = impl_->data + e.begin;
  const int64_t n = shape_numel(e.shape);

  if (e.dtype == Dtype::F32 && reinterpret_cast<uintptr_t>(src) % 64 == 0) {
    // Zero-copy: the tensor shares the mapping (writable private pages, see the header).
    float* p = reinterpret_cast<float*>(const_cast<unsigned char*>(src));
    return Tensor::wrap(p, e.shape, std::shared_ptr<void>(impl_->mapping));
  }

  if (e.dtype != Dtype::F32 && e.dtype != Dtype::F16 && e.dtype != Dtype::BF16 &&
      e.dtype != Dtype::F64)
    impl_->tensor_error(name, "dtype ", dtype_info(e.dtype).name,
                        " cannot be read as float32 (F32, F16, BF16 and F64 can)");

  Tensor out = Tensor::empty(e.shape);
  float* dst = out.data();
  switch (e.dtype) {
    case Dtype::F32:
      if (n) std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      break;
    case Dtype::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = half_to_float(h);
      }
      break;
    case Dtype::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        const uint32_t bits = static_cast<uint32_t>(h) << 16;  // bf16 is float's top half
        std::memcpy(dst + i, &bits, 4);
      }
      break;
    case Dtype::F64:
      for (int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        // FLT_MAX + half an ulp: anything at or above rounds to infinity. Converting such a
        // value is also undefined behaviour in C++, so it is checked first.
        if (std::isfinite(d) && std::fabs(d) >= 0x1.ffffffp127)
          impl_->tensor_error(name, "F64 element ", i, " = ", d, " is outside the float32 range");
        dst[i] = static_cast<float>(d);
      }
      break;
    default: break;  // excluded above
  }
  return out;
}

}  // namespace deblurcore
