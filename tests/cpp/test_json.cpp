// The strict JSON parser used for file headers.
#include <cstdint>
#include <string>

#include "deblurcore/error.h"
#include "io/json.h"
#include "test_util.h"

using deblurcore::ValueError;
namespace json = deblurcore::json;

TEST_CASE(values) {
  json::Value v = json::parse(R"( {"a": [1, -2, 0, true, false, null, "x"], "b": {}, "c": []} )");
  CHECK(v.is_object());
  CHECK_EQ(v.keys.size(), size_t{3});
  const json::Value* a = v.find("a");
  CHECK(a && a->is_array() && a->items.size() == 7);
  if (a && a->items.size() == 7) {
    CHECK(a->items[0].is_integer && a->items[0].integer == 1);
    CHECK(a->items[1].is_integer && a->items[1].integer == -2);
    CHECK(a->items[3].is_bool() && a->items[3].boolean);
    CHECK(a->items[4].is_bool() && !a->items[4].boolean);
    CHECK(a->items[5].is_null());
    CHECK(a->items[6].is_string() && a->items[6].text == "x");
  }
  CHECK(v.find("b") && v.find("b")->is_object());
  CHECK(v.find("missing") == nullptr);
  CHECK(json::parse("\"top\"").text == "top");
  CHECK(json::parse("\t\r\n 7 \n").integer == 7);
}

TEST_CASE(numbers) {
  CHECK_EQ(json::parse("9223372036854775807").integer, INT64_MAX);
  CHECK_EQ(json::parse("-9223372036854775808").integer, INT64_MIN);
  CHECK(!json::parse("9223372036854775808").is_integer);  // too large: a number, not an int
  CHECK(!json::parse("99999999999999999999999").is_integer);
  CHECK(!json::parse("1.5").is_integer);
  CHECK(!json::parse("1e3").is_integer);
  CHECK(!json::parse("-0.0E-7").is_integer);
  CHECK_EQ(json::parse("1.5").text, std::string("1.5"));
  CHECK(json::parse("-0").is_integer);
  CHECK_THROWS(ValueError, json::parse("01"), "leading zeros");
  CHECK_THROWS(ValueError, json::parse("-"), "expected a digit");
  CHECK_THROWS(ValueError, json::parse("1."), "after '.'");
  CHECK_THROWS(ValueError, json::parse("1e"), "exponent");
  CHECK_THROWS(ValueError, json::parse("+1"), "cannot start a value");
  CHECK_THROWS(ValueError, json::parse("NaN"), "cannot start a value");
}

TEST_CASE(strings_and_escapes) {
  CHECK_EQ(json::parse(R"("a\"b\\c\/d\b\f\n\r\t")").text, std::string("a\"b\\c/d\b\f\n\r\t"));
  CHECK_EQ(json::parse(R"("\u0041\u00e9\u20AC")").text, std::string("A\xC3\xA9\xE2\x82\xAC"));
  CHECK_EQ(json::parse(R"("\ud83d\ude00")").text, std::string("\xF0\x9F\x98\x80"));  // U+1F600
  CHECK_EQ(json::parse(R"("\u0000")").text, std::string(1, '\0'));
  CHECK_EQ(json::parse("\"\xC3\xA9\xF0\x9F\x98\x80\"").text,
           std::string("\xC3\xA9\xF0\x9F\x98\x80"));
  CHECK_THROWS(ValueError, json::parse(R"("\ud83d")"), "unpaired high surrogate");
  CHECK_THROWS(ValueError, json::parse(R"("\ud83d\u0041")"), "low surrogate");
  CHECK_THROWS(ValueError, json::parse(R"("\ude00")"), "unpaired low surrogate");
  CHECK_THROWS(ValueError, json::parse(R"("\u12")"), "\\u escape");
  CHECK_THROWS(ValueError, json::parse(R"("\u12G4")"), "hex digit");
  CHECK_THROWS(ValueError, json::parse(R"("\x")"), "invalid escape");
  CHECK_THROWS(ValueError, json::parse("\"abc"), "unterminated string");
  CHECK_THROWS(ValueError, json::parse("\"a\nb\""), "control character");
  CHECK_THROWS(ValueError, json::parse("\"\xFF\""), "invalid UTF-8");
  CHECK_THROWS(ValueError, json::parse("\"\xC0\xAF\""), "invalid UTF-8");          // overlong
  CHECK_THROWS(ValueError, json::parse("\"\xED\xA0\x80\""), "invalid UTF-8");      // surrogate
  CHECK_THROWS(ValueError, json::parse("\"\xF4\x90\x80\x80\""), "invalid UTF-8");  // > U+10FFFF
  CHECK_THROWS(ValueError, json::parse("\"\xE2\x82\""), "invalid UTF-8");          // truncated
}

TEST_CASE(structure_errors) {
  CHECK_THROWS(ValueError, json::parse(""), "unexpected end of input");
  CHECK_THROWS(ValueError, json::parse("   "), "unexpected end of input");
  CHECK_THROWS(ValueError, json::parse("{"), "unexpected end of input");
  CHECK_THROWS(ValueError, json::parse("{\"a\":1"), "unexpected end of input");
  CHECK_THROWS(ValueError, json::parse("[1,]"), "cannot start a value");
  CHECK_THROWS(ValueError, json::parse("[1 2]"), "expected ',' or ']'");
  CHECK_THROWS(ValueError, json::parse("{\"a\" 1}"), "expected ':'");
  CHECK_THROWS(ValueError, json::parse("{1: 2}"), "string key");
  CHECK_THROWS(ValueError, json::parse("{\"a\": 1,}"), "string key");
  CHECK_THROWS(ValueError, json::parse("{} {}"), "unexpected data after");
  CHECK_THROWS(ValueError, json::parse("tru"), "cannot start a value");
  CHECK_THROWS(ValueError, json::parse("nul"), "cannot start a value");
  CHECK_THROWS(ValueError, json::parse(std::string("{}\0", 3)), "unexpected data after");
  CHECK_THROWS(ValueError, json::parse("{\"a\": 1, \"a\": 2}"), "duplicate key \"a\"");
  // The duplicate check of large objects (hash set) too.
  std::string big = "{";
  for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\": 0, ";
  CHECK(json::parse(big + "\"end\": 1}").keys.size() == 101);
  CHECK_THROWS(ValueError, json::parse(big + "\"k7\": 1}"), "duplicate key \"k7\"");
  // The error names the byte offset.
  CHECK_THROWS(ValueError, json::parse("[1, x]"), "at byte 4");
}

TEST_CASE(limits) {
  std::string ok(64, '['), ok_close(64, ']');
  CHECK(json::parse(ok + ok_close).is_array());
  std::string deep(65, '['), deep_close(65, ']');
  CHECK_THROWS(ValueError, json::parse(deep + deep_close), "nested deeper than 64");
  // A nesting bomb fails fast, without exhausting the stack.
  CHECK_THROWS(ValueError, json::parse(std::string(1000000, '[')), "nested deeper");
  CHECK_THROWS(ValueError, json::parse(std::string(1000000, '{')), "string key");
  json::Limits small;
  small.max_values = 5;
  CHECK(json::parse("[1, 2, 3, 4]", small).items.size() == 4);
  CHECK_THROWS(ValueError, json::parse("[1, 2, 3, 4, 5]", small), "more than 5 values");
}

int main() { return testing::run_all(); }
