// A minimal test harness for the C++ tests (no external framework): TEST_CASE registers a
// function, CHECK* record failures without stopping the case, run_all() runs every case and
// prints "N passed, M failed", returning non-zero when a case failed.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace testing {

struct Case {
  const char* name;
  void (*fn)();
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

inline int& case_failures() {
  static int n = 0;
  return n;
}

struct Registrar {
  Registrar(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

inline void report_failure(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "  %s:%d: %s\n", file, line, what.c_str());
  ++case_failures();
}

inline int run_all() {
  int passed = 0, failed = 0;
  for (const Case& c : registry()) {
    case_failures() = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      report_failure(__FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
    } catch (...) {
      report_failure(__FILE__, __LINE__, "unexpected non-standard exception");
    }
    const bool ok = case_failures() == 0;
    std::printf("[%s] %s\n", ok ? " OK " : "FAIL", c.name);
    (ok ? passed : failed)++;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

template <typename T>
std::string repr(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// A fresh directory under the system temporary directory, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "deblurcore-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::abort();
  }
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

}  // namespace testing

#define TEST_CASE(name)                                             \
  static void name();                                               \
  static const ::testing::Registrar name##_registrar(#name, &name); \
  static void name()

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) ::testing::report_failure(__FILE__, __LINE__, "CHECK(" #cond ") failed"); \
  } while (0)

// Operands are copied: an operand may refer into a temporary that dies with the expression.
#define CHECK_EQ(a, b)                                                                     \
  do {                                                                                     \
    const auto check_a_ = (a);                                                             \
    const auto check_b_ = (b);                                                             \
    if (!(check_a_ == check_b_))                                                           \
      ::testing::report_failure(__FILE__, __LINE__,                                        \
                                "CHECK_EQ(" #a ", " #b "): " + ::testing::repr(check_a_) + \
                                    " != " + ::testing::repr(check_b_));                   \
  } while (0)

// `expr` must throw exactly-or-derived `E` whose message contains `substring`.
#define CHECK_THROWS(E, expr, substring)                                                           \
  do {                                                                                             \
    bool check_thrown_ = false;                                                                    \
    try {                                                                                          \
      (void)(expr);                                                                                \
    } catch (const E& check_e_) {                                                                  \
      check_thrown_ = true;                                                                        \
      const std::string check_msg_ = check_e_.what();                                              \
      if (check_msg_.find(substring) == std::string::npos)                                         \
        ::testing::report_failure(__FILE__, __LINE__,                                              \
                                  std::string(#expr ": message \"") + check_msg_ +                 \
                                      "\" does not contain \"" + (substring) + "\"");              \
    } catch (const std::exception& check_e_) {                                                     \
      check_thrown_ = true;                                                                        \
      ::testing::report_failure(                                                                   \
          __FILE__, __LINE__, std::string(#expr ": threw another exception: ") + check_e_.what()); \
    }                                                                                              \
    if (!check_thrown_)                                                                            \
      ::testing::report_failure(__FILE__, __LINE__, #expr ": did not throw " #E);                  \
  } while (0)
