// SafetensorsFile: files written byte by byte here, valid and malformed.
#include <sys/stat.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "deblurcore/deblurcore.h"
#include "deblurcore/safetensors.h"
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

std::string st_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

template <typename T>
std::string raw(const std::vector<T>& v) {
  std::string s(v.size() * sizeof(T), '\0');
  if (!v.empty()) std::memcpy(s.data(), v.data(), s.size());
  return s;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

// A file with one F32 tensor of shape (2, 3) at data offset 0.
std::string simple_file() {
  return st_bytes(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})",
                  raw(std::vector<float>{1, 2, 3, 4, 5, 6}));
}

}  // namespace

TEST_CASE(reads_all_supported_dtypes) {
  TempDir dir;
  const std::vector<float> f32 = {
      1.5f, -2.f, 0.f, std::numeric_limits<float>::infinity(), 1e-40f /* subnormal */, -0.f};
  // F16: 1.0, -2.5, 65504 (max), 2^-24 (smallest subnormal), -0, inf, 2^-14 (min normal)
  const std::vector<uint16_t> f16 = {0x3C00, 0xC100, 0x7BFF, 0x0001, 0x8000, 0x7C00, 0x0400};
  const std::vector<float> f16_expect = {1.f,
                                         -2.5f,
                                         65504.f,
                                         std::ldexp(1.f, -24),
                                         -0.f,
                                         std::numeric_limits<float>::infinity(),
                                         std::ldexp(1.f, -14)};
  // BF16: 1.0, -3.0, the float32 pattern 0x7F7F0000
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC040, 0x7F7F};
  const std::vector<double> f64 = {0.1, -1e30, 3.0};
  std::string data = raw(f32) + raw(f16) + raw(bf16) + raw(f64);
  const size_t o1 = 24, o2 = o1 + 14, o3 = o2 + 6, o4 = o3 + 24;
  std::string header =
      "{\"__metadata__\":{\"architecture\":\"stfan\",\"format\":\"pt\"},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0," +
      std::to_string(o1) +
      "]},"
      "\"h\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[" +
      std::to_string(o1) + "," + std::to_string(o2) +
      "]},"
      "\"b\":{\"dtype\":\"BF16\",\"shape\":[3,1],\"data_offsets\":[" +
      std::to_string(o2) + "," + std::to_string(o3) +
      "]},"
      "\"d\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[" +
      std::to_string(o3) + "," + std::to_string(o4) +
      "]},"
      "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[" +
      std::to_string(o4) + "," + std::to_string(o4) + "]}}";
  write_file(dir.file("w.safetensors"), st_bytes(header, data));

  SafetensorsFile f = SafetensorsFile::open(dir.file("w.safetensors"));
  CHECK(f.names() == (std::vector<std::string>{"a", "b", "d", "empty", "h"}));
  CHECK_EQ(f.size(), size_t{5});
  CHECK_EQ(f.metadata().size(), size_t{2});
  CHECK_EQ(f.metadata_value("architecture"), std::string("stfan"));
  CHECK_EQ(f.metadata_value("nope", "dflt"), std::string("dflt"));
  CHECK(f.contains("h") && !f.contains("__metadata__") && !f.contains("x"));
  CHECK(f.shape("b") == (Shape{3, 1}));
  CHECK_EQ(f.dtype("b"), std::string("BF16"));

  Tensor a = f.tensor("a");
  CHECK(a.shape() == (Shape{2, 3}));
  for (size_t i = 0; i < f32.size(); ++i) CHECK(same_bits(a.data()[i], f32[i]));
  Tensor h = f.tensor("h");
  for (size_t i = 0; i < f16_expect.size(); ++i) CHECK(same_bits(h.data()[i], f16_expect[i]));
  Tensor b = f.tensor("b");
  CHECK_EQ(b.data()[0], 1.f);
  CHECK_EQ(b.data()[1], -3.f);
  uint32_t bits;
  std::memcpy(&bits, &b.data()[2], 4);
  CHECK_EQ(bits, 0x7F7F0000u);
  Tensor d = f.tensor("d");
  for (size_t i = 0; i < f64.size(); ++i) CHECK_EQ(d.data()[i], static_cast<float>(f64[i]));
  Tensor e = f.tensor("empty");
  CHECK(e.shape() == (Shape{0, 5}) && e.numel() == 0);
  for (const auto& name : f.names())
    CHECK(reinterpret_cast<uintptr_t>(f.tensor(name).data()) % 64 == 0 ||
          f.tensor(name).numel() == 0);
}

TEST_CASE(f16_nan_and_subnormals) {
  TempDir dir;
  // Every half value converts exactly: compare against a float computed from the definition.
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  write_file(
      dir.file("h.safetensors"),
      st_bytes(R"({"h":{"dtype":"F16","shape":[65536],"data_offsets":[0,131072]}})", raw(all)));
  Tensor h = SafetensorsFile::open(dir.file("h.safetensors")).tensor("h");
  int wrong = 0;
  for (uint32_t i = 0; i < 65536; ++i) {
    const int sign = (i >> 15) ? -1 : 1;
    const int exp = (i >> 10) & 31;
    const int mant = i & 1023;
    const float v = h.data()[i];
    if (exp == 31) {
      if (mant == 0) {
        wrong += !(std::isinf(v) && std::signbit(v) == (sign < 0));
      } else {
        wrong += !std::isnan(v);
      }
    } else {
      const double expect =
          sign * (exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25));
      wrong += !(static_cast<double>(v) == expect && std::signbit(v) == (sign < 0));
    }
  }
  CHECK_EQ(wrong, 0);
}

TEST_CASE(zero_copy_when_aligned_and_private_writes) {
  TempDir dir;
  // Pad the header with spaces so that the data section starts at a file offset multiple of 64 (mmap
  // returns page-aligned memory, so the tensor data are 64-byte aligned).
  std::string header = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                       R"("u":{"dtype":"F32","shape":[2],"data_offsets":[20,28]}})";
  header.resize((8 + header.size() + 63) / 64 * 64 - 8, ' ');
  const std::vector<float> w = {1.f, 2.f, 3.f, 4.f};
  std::string data = raw(w) + std::string(4, '\0') + raw(std::vector<float>{8.f, 9.f});
  const std::string bytes = st_bytes(header, data);
  write_file(dir.file("a.safetensors"), bytes);

  Tensor t, u;
  {
    SafetensorsFile f = SafetensorsFile::open(dir.file("a.safetensors"));
    t = f.tensor("w");
    u = f.tensor("u");  // at data offset 20: not aligned, so copied into aligned memory
    // Zero-copy: two reads of the same tensor share memory.
    CHECK(f.tensor("w").data() == t.data());
    CHECK(f.tensor("u").data() != u.data());
  }
  // The tensors outlive the SafetensorsFile (the mapping is kept alive by them).
  CHECK(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);
  CHECK(reinterpret_cast<uintptr_t>(u.data()) % 64 == 0);
  CHECK(t.to_vector() == w);
  CHECK(u.to_vector() == (std::vector<float>{8.f, 9.f}));
  // Writing to a zero-copy tensor is allowed and never reaches the file.
  t.data()[0] = 42.f;
  CHECK_EQ(t.data()[0], 42.f);
  CHECK(testing::read_file(dir.file("a.safetensors")) == bytes);
  CHECK_EQ(SafetensorsFile::open(dir.file("a.safetensors")).tensor("w").data()[0], 1.f);
}

TEST_CASE(copies_share_the_mapping) {
  TempDir dir;
  write_file(dir.file("s.safetensors"), simple_file());
  SafetensorsFile copy = SafetensorsFile::open(dir.file("s.safetensors"));
  {
    SafetensorsFile f = SafetensorsFile::open(dir.file("s.safetensors"));
    copy = f;
  }
  CHECK(copy.tensor("w").to_vector() == (std::vector<float>{1, 2, 3, 4, 5, 6}));
  CHECK_EQ(copy.path(), dir.file("s.safetensors"));
}

TEST_CASE(header_padding_and_empty_header) {
  TempDir dir;
  write_file(dir.file("e.safetensors"), st_bytes("{}", ""));
  CHECK_EQ(SafetensorsFile::open(dir.file("e.safetensors")).size(), size_t{0});
  write_file(dir.file("m.safetensors"), st_bytes("{\"__metadata__\":{}}      ", ""));
  CHECK(SafetensorsFile::open(dir.file("m.safetensors")).metadata().empty());
}

TEST_CASE(missing_tensor_and_unreadable_dtype) {
  TempDir dir;
  write_file(dir.file("i.safetensors"),
             st_bytes(R"({"i":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})",
                      std::string(16, '\1')));
  SafetensorsFile f = SafetensorsFile::open(dir.file("i.safetensors"));
  CHECK_EQ(f.dtype("i"), std::string("I64"));
  CHECK_THROWS(ValueError, f.tensor("i"), "tensor 'i': dtype I64 cannot be read as float32");
  CHECK_THROWS(ValueError, f.tensor("nope"), "no tensor named 'nope'");
  CHECK_THROWS(ValueError, f.shape("nope"), "no tensor named 'nope'");
  CHECK_THROWS(ValueError, f.dtype("nope"), "no tensor named 'nope'");
}

TEST_CASE(f64_out_of_float_range) {
  TempDir dir;
  const std::vector<double> v = {1.0, 1e300};
  write_file(dir.file("d.safetensors"),
             st_bytes(R"({"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", raw(v)));
  CHECK_THROWS(ValueError, SafetensorsFile::open(dir.file("d.safetensors")).tensor("d"),
               "F64 element 1 = 1e+300 is outside the float32 range");
  // FLT_MAX itself and a value that rounds down to it are fine; inf and NaN are kept.
  const std::vector<double> ok = {3.4028234663852886e38, 0x1.fffffefffffffp127,
                                  std::numeric_limits<double>::infinity(), std::nan("")};
  write_file(dir.file("ok.safetensors"),
             st_bytes(R"({"d":{"dtype":"F64","shape":[4],"data_offsets":[0,32]}})", raw(ok)));
  Tensor t = SafetensorsFile::open(dir.file("ok.safetensors")).tensor("d");
  CHECK_EQ(t.data()[0], std::numeric_limits<float>::max());
  CHECK_EQ(t.data()[1], std::numeric_limits<float>::max());
  CHECK(std::isinf(t.data()[2]));
  CHECK(std::isnan(t.data()[3]));
}

TEST_CASE(malformed_files) {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  auto expect_error = [&](const std::string& bytes, const std::string& message) {
    write_file(p, bytes);
    CHECK_THROWS(ValueError, SafetensorsFile::open(p), message);
    CHECK_THROWS(ValueError, SafetensorsFile::open(p), p + ": ");  // names the file
  };
  const std::string f32_24 = std::string(24, '\0');
  auto one = [](const std::string& entry) { return "{\"w\":" + entry + "}"; };

  expect_error("", "the file is empty");
  expect_error("abc", "3 bytes long, too short");
  expect_error(le64(100) + "{}", "does not fit in the file");
  expect_error(le64(200'000'000) + "{}", "over the limit of 100000000 bytes");
  expect_error(le64(~uint64_t{0}) + "{}", "over the limit");
  expect_error(st_bytes("", ""), "not valid JSON");
  expect_error(st_bytes("{\"w\": {", ""), "not valid JSON");
  expect_error(st_bytes("not json", ""), "not valid JSON");
  expect_error(st_bytes(std::string(10000, '['), ""), "nested deeper than 64");
  expect_error(st_bytes("[1, 2]", ""), "header must be a JSON object, got array");
  expect_error(st_bytes(std::string("{}\0\0", 4), ""), "not valid JSON");
  expect_error(st_bytes(R"({"__metadata__": [1]})", ""), "__metadata__ must be an object");
  expect_error(st_bytes(R"({"__metadata__": {"a": 1}})", ""),
               "__metadata__ value of 'a' must be a string, got integer");
  expect_error(st_bytes(one("3"), f32_24), "tensor 'w': entry must be an object");
  expect_error(st_bytes(one(R"({"shape":[2,3],"data_offsets":[0,24]})"), f32_24),
               "tensor 'w': missing field 'dtype'");
  expect_error(st_bytes(one(R"({"dtype":"F32","data_offsets":[0,24]})"), f32_24),
               "tensor 'w': missing field 'shape'");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[2,3]})"), f32_24),
               "tensor 'w': missing field 'data_offsets'");
  expect_error(
      st_bytes(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,24],"x":1})"), f32_24),
      "unexpected field 'x'");
  expect_error(st_bytes(one(R"({"dtype":7,"shape":[2,3],"data_offsets":[0,24]})"), f32_24),
               "dtype must be a string");
  expect_error(st_bytes(one(R"({"dtype":"F33","shape":[2,3],"data_offsets":[0,24]})"), f32_24),
               "unknown dtype 'F33'");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[2,-3],"data_offsets":[0,24]})"), f32_24),
               "shape[1] must be an integer >= 0, got -3");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[2,3.0],"data_offsets":[0,24]})"), f32_24),
               "shape[1] must be an integer >= 0, got 3.0");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[2,"3"],"data_offsets":[0,24]})"), f32_24),
               "shape[1] must be an integer >= 0, got string");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":6,"data_offsets":[0,24]})"), f32_24),
               "shape must be an array");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0]})"), f32_24),
               "data_offsets must be an array [begin, end], got an array of 1");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[-4,20]})"), f32_24),
               "data_offsets[0] must be an integer >= 0, got -4");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[24,0]})"), f32_24),
               "data_offsets [24, 0] end before they begin");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,12]})"), f32_24),
               "tensor 'w': data_offsets [0, 12] do not match shape (2, 3) x F32 = 24 bytes");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[8,32]})"), f32_24),
               "go past the end of the data section (24 bytes");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})"),
                        std::string(23, '\0')),
               "is the file truncated?");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[4611686018427387904,4],)"
                            R"("data_offsets":[0,24]})"),
                        f32_24),
               "has more than 2^63 elements");
  expect_error(st_bytes(one(R"({"dtype":"F64","shape":[4611686018427387903,2],)"
                            R"("data_offsets":[0,24]})"),
                        f32_24),
               "larger than 2^64 bytes");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[0,4294967296,4294967296],)"
                            R"("data_offsets":[0,0]})"),
                        f32_24),
               "has more than 2^63 elements");
  expect_error(st_bytes(one(R"({"dtype":"F32","shape":[99999999999999999999],)"
                            R"("data_offsets":[0,24]})"),
                        f32_24),
               "shape[0] must be an integer >= 0, got 99999999999999999999");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                        f32_24),
               "tensors 'a' [0, 16] and 'b' [12, 20] overlap");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                        f32_24),
               "duplicate key \"a\"");
}

TEST_CASE(empty_tensors_do_not_overlap) {
  TempDir dir;
  write_file(dir.file("z.safetensors"),
             st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                      R"("c":{"dtype":"F32","shape":[3,0],"data_offsets":[4,4]}})",
                      std::string(8, '\0')));
  SafetensorsFile f = SafetensorsFile::open(dir.file("z.safetensors"));
  CHECK_EQ(f.tensor("c").numel(), 0);
}

TEST_CASE(not_a_file) {
  TempDir dir;
  CHECK_THROWS(ValueError, SafetensorsFile::open(dir.file("missing.safetensors")),
               "missing.safetensors: cannot open the weights file: No such file or directory");
  CHECK_THROWS(ValueError, SafetensorsFile::open(dir.path().string()), "is a directory");
  const std::string fifo = dir.file("fifo");
  if (mkfifo(fifo.c_str(), 0600) == 0)
    CHECK_THROWS(ValueError, SafetensorsFile::open(fifo), "is not a regular file");
}

// Random corruptions of a valid file: each must open and read fine or throw ValueError.
TEST_CASE(random_corruptions_never_crash) {
  TempDir dir;
  const std::string good =
      st_bytes(R"({"__metadata__":{"k":"v\u00e9"},"a":{"dtype":"F32","shape":[2,3],)"
               R"("data_offsets":[0,24]},"b":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},)"
               R"("c":{"dtype":"F64","shape":[1],"data_offsets":[28,36]}})",
               std::string(36, '\x3c'));
  const std::string p = dir.file("r.safetensors");
  std::mt19937 rng(1234);
  int opened = 0, rejected = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    std::string bytes = good;
    const int kind = iter % 3;
    if (kind == 0) {  // flip a few bytes
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    } else if (kind == 1) {  // truncate
      bytes.resize(rng() % bytes.size());
    } else {  // replace one header byte with a JSON-significant character
      static const char specials[] = "{}[]\",:0123456789-.eE\\u ";
      bytes[8 + rng() % (bytes.size() - 8 - 36)] = specials[rng() % (sizeof specials - 1)];
    }
    write_file(p, bytes);
    try {
      SafetensorsFile f = SafetensorsFile::open(p);
      for (const auto& name : f.names()) {
        try {
          (void)f.tensor(name);
        } catch (const ValueError&) {
        }
      }
      ++opened;
    } catch (const ValueError&) {
      ++rejected;
    }
  }
  CHECK(opened > 0 && rejected > 0);
  std::printf("  corruptions: %d opened, %d rejected\n", opened, rejected);
}

int main() { return testing::run_all(); }
