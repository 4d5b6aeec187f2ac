#include "io/json.h"

#include <unordered_set>

#include "deblurcore/error.h"

namespace deblurcore {
namespace json {

const Value* Value::find(std::string_view key) const {
  if (kind != Kind::Object) return nullptr;
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key) return &items[i];
  return nullptr;
}

const char* kind_name(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Null: return "null";
    case Value::Kind::Bool: return v.boolean ? "true" : "false";
    case Value::Kind::Number: return v.is_integer ? "integer" : "number";
    case Value::Kind::String: return "string";
    case Value::Kind::Array: return "array";
    case Value::Kind::Object: return "object";
  }
  return "value";
}

namespace {

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits) : s_(text), limits_(limits) {}

  Value parse_document() {
    skip_ws();
    Value v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) error("unexpected data after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& reason) const { error_at(pos_, reason); }
  [[noreturn]] static void error_at(size_t pos, const std::string& reason) {
    fail<ValueError>("invalid JSON at byte ", pos, ": ", reason);
  }

  bool at_end() const { return pos_ >= s_.size(); }
  unsigned char peek() const { return static_cast<unsigned char>(s_[pos_]); }

  void skip_ws() {
    while (!at_end()) {
      const char c = s_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_more(const char* what) const {
    if (at_end()) error(std::string("unexpected end of input, expected ") + what);
  }

  void count_value() {
    if (++values_ > limits_.max_values)
      error("more than " + std::to_string(limits_.max_values) + " values");
  }

  Value parse_value(int depth) {
    expect_more("a value");
    count_value();
    const char c = s_[pos_];
    switch (c) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': {
        Value v;
        v.kind = Value::Kind::String;
        v.text = parse_string();
        return v;
      }
      case 't': return parse_literal("true", Value::Kind::Bool, true);
      case 'f': return parse_literal("false", Value::Kind::Bool, false);
      case 'n': return parse_literal("null", Value::Kind::Null, false);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        error(describe_char() + " cannot start a value");
    }
  }

  std::string describe_char() const {
    const unsigned char c = peek();
    if (c >= 0x20 && c < 0x7f) return std::string("character '") + static_cast<char>(c) + "'";
    static const char* hex = "0123456789abcdef";
    return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
  }

  Value parse_literal(const char* word, Value::Kind kind, bool b) {
    const std::string_view w(word);
    if (s_.substr(pos_, w.size()) != w) error(describe_char() + " cannot start a value");
    pos_ += w.size();
    Value v;
    v.kind = kind;
    v.boolean = b;
    return v;
  }

  void enter(int depth) const {
    if (depth > limits_.max_depth)
      error("arrays/objects nested deeper than " + std::to_string(limits_.max_depth) + " levels");
  }

  Value parse_array(int depth) {
    enter(depth);
    ++pos_;  // '['
    Value v;
    v.kind = Value::Kind::Array;
    skip_ws();
    expect_more("a value or ']'");
    if (s_[pos_] == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      skip_ws();
      v.items.push_back(parse_value(depth));
      skip_ws();
      expect_more("',' or ']'");
      const char c = s_[pos_++];
      if (c == ']') return v;
      if (c != ',') error_at(pos_ - 1, "expected ',' or ']' in an array");
    }
  }

  Value parse_object(int depth) {
    enter(depth);
    ++pos_;  // '{'
    Value v;
    v.kind = Value::Kind::Object;
    std::unordered_set<std::string> seen;
    skip_ws();
    expect_more("a key or '}'");
    if (s_[pos_] == '}') {
      ++pos_;
      return v;
    }
    for (;;) {
      skip_ws();
      expect_more("a key");
      if (s_[pos_] != '"') error("expected a string key in an object");
      const size_t key_pos = pos_;
      std::string key = parse_string();
      // Duplicate keys are ambiguous (parsers disagree on which one wins): reject them.
      // Small objects are scanned; large ones (a header's tensor table) use a hash set.
      bool duplicate = false;
      if (v.keys.size() < 16) {
        for (const auto& k : v.keys) duplicate = duplicate || k == key;
      } else {
        if (seen.empty()) seen.insert(v.keys.begin(), v.keys.end());
        duplicate = !seen.insert(key).second;
      }
      if (duplicate) error_at(key_pos, "duplicate key \"" + key + "\"");
      skip_ws();
      expect_more("':'");
      if (s_[pos_] != ':') error("expected ':' after an object key");
      ++pos_;
      skip_ws();
      v.keys.push_back(std::move(key));
      v.items.push_back(parse_value(depth));
      skip_ws();
      expect_more("',' or '}'");
      const char c = s_[pos_++];
      if (c == '}') break;
      if (c != ',') error_at(pos_ - 1, "expected ',' or '}' in an object");
    }
    return v;
  }

  Value parse_number() {
    const size_t start = pos_;
    bool negative = false, integer = true, overflow = false;
    uint64_t mag = 0;
    if (s_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    expect_more("a digit");
    if (s_[pos_] == '0') {
      ++pos_;
      if (!at_end() && s_[pos_] >= '0' && s_[pos_] <= '9') error("leading zeros are not allowed");
    } else if (s_[pos_] >= '1' && s_[pos_] <= '9') {
      while (!at_end() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        const uint64_t d = static_cast<uint64_t>(s_[pos_] - '0');
        if (mag > (UINT64_MAX - d) / 10) overflow = true;
        if (!overflow) mag = mag * 10 + d;
        ++pos_;
      }
    } else {
      error("expected a digit");
    }
    if (!at_end() && s_[pos_] == '.') {
      integer = false;
      ++pos_;
      if (at_end() || s_[pos_] < '0' || s_[pos_] > '9') error("expected a digit after '.'");
      while (!at_end() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    if (!at_end() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integer = false;
      ++pos_;
      if (!at_end() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (at_end() || s_[pos_] < '0' || s_[pos_] > '9') error("expected a digit in the exponent");
      while (!at_end() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    Value v;
    v.kind = Value::Kind::Number;
    v.text = std::string(s_.substr(start, pos_ - start));
    const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
    if (integer && !overflow && mag <= limit) {
      v.is_integer = true;
      // -(2^63) is representable; compute it without signed overflow.
      v.integer = negative ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
    }
    return v;
  }

  unsigned hex4() {
    if (s_.size() - pos_ < 4) error("truncated \\u escape");
    unsigned u = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      u <<= 4;
      if (c >= '0' && c <= '9')
        u |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        u |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        u |= static_cast<unsigned>(c - 'A' + 10);
      else
        error_at(pos_ - 1, "invalid hex digit in a \\u escape");
    }
    return u;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Length of the valid UTF-8 sequence starting at pos_ (lead byte >= 0x80), or 0 when the
  // bytes there are not well-formed UTF-8 (overlong forms, surrogates, > U+10FFFF rejected).
  size_t utf8_length() const {
    const unsigned char b0 = peek();
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      n = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      n = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      n = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (s_.size() - pos_ < n) return 0;
    const unsigned char b1 = static_cast<unsigned char>(s_[pos_ + 1]);
    if (b1 < lo || b1 > hi) return 0;
    for (size_t i = 2; i < n; ++i) {
      const unsigned char b = static_cast<unsigned char>(s_[pos_ + i]);
      if (b < 0x80 || b > 0xBF) return 0;
    }
    return n;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (at_end()) error("unterminated string");
      const unsigned char c = peek();
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) error("control character in a string (must be escaped)");
      if (c == '\\') {
        ++pos_;
        if (at_end()) error("unterminated string");
        const char e = s_[pos_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const size_t esc = pos_ - 2;
            unsigned cp = hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) error_at(esc, "unpaired low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
                error_at(esc, "unpaired high surrogate in \\u escape");
              pos_ += 2;
              const unsigned lo = hex4();
              if (lo < 0xDC00 || lo > 0xDFFF)
                error_at(esc, "high surrogate not followed by a low surrogate");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            append_utf8(out, cp);
            break;
          }
          default: error_at(pos_ - 1, "invalid escape in a string");
        }
        continue;
      }
      if (c < 0x80) {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      const size_t n = utf8_length();
      if (n == 0) error("invalid UTF-8 in a string");
      out.append(s_.data() + pos_, n);
      pos_ += n;
    }
  }

  std::string_view s_;
  Limits limits_;
  size_t pos_ = 0;
  size_t values_ = 0;
};

}  // namespace

Value parse(std::string_view text, const Limits& limits) {
  return Parser(text, limits).parse_document();
}

}  // namespace json
}  // namespace deblurcore
