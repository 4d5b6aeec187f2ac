// exp(-2 pi i k / n) for k < n in double, indexed by (a*b mod n) so that the reference DFTs
// never evaluate a trigonometric function of a large argument.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace deblurcore {
namespace cpu {
namespace ref {

struct DftTable {
  std::vector<double> c, s;  // cos(2 pi k / n), sin(2 pi k / n)
  int64_t n;
  explicit DftTable(int64_t n_) : c(size_t(n_)), s(size_t(n_)), n(n_) {
    const double pi = 3.14159265358979323846;
    for (int64_t k = 0; k < n; ++k) {
      c[size_t(k)] = std::cos(2.0 * pi * double(k) / double(n));
      s[size_t(k)] = std::sin(2.0 * pi * double(k) / double(n));
    }
  }
  double cos_of(int64_t a, int64_t b) const { return c[size_t((a * b) % n)]; }
  double sin_of(int64_t a, int64_t b) const { return s[size_t((a * b) % n)]; }
};

}  // namespace ref
}  // namespace cpu
}  // namespace deblurcore
