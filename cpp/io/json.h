// A small strict JSON parser (RFC 8259) for file headers such as the safetensors one.
// It builds a tree of Values. Numbers are kept as 64-bit integers when they are integers;
// other numbers are recognised but only flagged (headers never need them). Untrusted input is
// bounded: nesting depth and the number of values are limited, and every error is a
// deblurcore::ValueError naming the byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deblurcore {
namespace json {

struct Value {
  enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  // Number: `is_integer` when it has neither fraction nor exponent and fits in int64.
  bool is_integer = false;
  int64_t integer = 0;
  // String: the decoded UTF-8 text. Number: the literal as written (for error messages).
  std::string text;
  // Array: the elements. Object: the member values, in file order, with `keys` alongside
  // (keys are unique: a duplicate key is a parse error).
  std::vector<Value> items;
  std::vector<std::string> keys;

  bool is_null() const { return kind == Kind::Null; }
  bool is_bool() const { return kind == Kind::Bool; }
  bool is_number() const { return kind == Kind::Number; }
  bool is_string() const { return kind == Kind::String; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_object() const { return kind == Kind::Object; }
  // Object member lookup; nullptr when absent (or when this is not an object).
  const Value* find(std::string_view key) const;
};

// "object", "array", "string", "integer", "number", "true", "false" or "null".
const char* kind_name(const Value& v);

struct Limits {
  int max_depth = 64;            // arrays/objects nested deeper than this are rejected
  size_t max_values = 1u << 20;  // total values (~100 bytes each; ~100k tensor entries)
};

// Parses `text`, which must hold exactly one JSON value surrounded by optional whitespace.
// Strings must be valid UTF-8; \uXXXX escapes (with surrogate pairs) are decoded to UTF-8.
// Throws ValueError("invalid JSON at byte <offset>: <reason>").
Value parse(std::string_view text, const Limits& limits = {});

}  // namespace json
}  // namespace deblurcore
