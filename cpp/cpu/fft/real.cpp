// Real transforms along the leading axis. Even n packs x[2t] + i x[2t+1] into one complex
// signal of length n/2 (read in place through the strides, no copy) and untangles its
// spectrum; odd n runs the full-length complex transform.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "cpu/fft/fft.h"

namespace deblurcore {
namespace cpu {
namespace fft {

RealPlan::RealPlan(int64_t n) : n_(n) {
  if (n % 2 == 0) {
    const int64_t h = n / 2;
    complex_ = ComplexPlan::get(h);
    tw_re_.resize(size_t(h + 1));
    tw_im_.resize(size_t(h + 1));
    for (int64_t k = 0; k <= h; ++k) {
      const double a = 2.0 * 3.14159265358979323846 * double(k) / double(n);
      tw_re_[size_t(k)] = float(std::cos(a));
      tw_im_[size_t(k)] = float(-std::sin(a));
    }
  } else {
    complex_ = ComplexPlan::get(n);
  }
}

std::shared_ptr<const RealPlan> RealPlan::get(int64_t n) {
  static std::mutex mutex;
  static std::map<int64_t, std::shared_ptr<const RealPlan>> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(n);
    if (it != cache.end()) return it->second;
  }
  auto plan = std::make_shared<const RealPlan>(n);
  std::lock_guard<std::mutex> lock(mutex);
  return cache.emplace(n, std::move(plan)).first->second;
}

size_t RealPlan::workspace_floats(int64_t batch) const {
  const int64_t m = complex_->size();
  // even: Z (m x batch complex); odd: the padded input and the full spectrum.
  const int64_t own = n_ % 2 == 0 ? 2 * m * batch : 4 * m * batch;
  return size_t(own) + complex_->workspace_floats(batch);
}

void RealPlan::forward(const float* x, int64_t xs, SplitView X, int64_t batch, float* workspace,
                       Isa isa) const {
  const int64_t m = complex_->size();
  if (n_ % 2 == 1) {
    float* ur = workspace;
    float* ui = workspace + m * batch;
    float* inner = workspace + 4 * m * batch;
    for (int64_t k = 0; k < m; ++k) {
      std::copy(x + k * xs, x + k * xs + batch, ur + k * batch);
      std::fill(ui + k * batch, ui + (k + 1) * batch, 0.f);
    }
    SplitView full{workspace + 2 * m * batch, workspace + 3 * m * batch, batch};
    complex_->transform({ur, ui, batch}, full, batch, false, inner, isa);
    for (int64_t k = 0; k <= n_ / 2; ++k) {
      std::copy(full.re + k * batch, full.re + (k + 1) * batch, X.re + k * X.stride);
      std::copy(full.im + k * batch, full.im + (k + 1) * batch, X.im + k * X.stride);
    }
    return;
  }
  const int64_t h = m;
  SplitView Z{workspace, workspace + h * batch, batch};
  complex_->transform({x, x + xs, 2 * xs}, Z, batch, false, workspace + 2 * h * batch, isa);
  // X[k] = E + exp(-2 pi i k/n) O, E = (Z[k] + conj Z[h-k]) / 2, O = (Z[k] - conj Z[h-k]) / 2i.
  // Rows k and h-k are computed together so X may not overwrite Z before both are read;
  // X is separate memory, so plain k order is fine.
  for (int64_t k = 0; k <= h; ++k) {
    const int64_t kk = k % h, mk = (h - k) % h;
    const float* ar = Z.re + kk * batch;
    const float* ai = Z.im + kk * batch;
    const float* br = Z.re + mk * batch;
    const float* bi = Z.im + mk * batch;
    float* xr = X.re + k * X.stride;
    float* xi = X.im + k * X.stride;
    const float tr = tw_re_[size_t(k)], ti = tw_im_[size_t(k)];
    for (int64_t b = 0; b < batch; ++b) {
      const float er = 0.5f * (ar[b] + br[b]), ei = 0.5f * (ai[b] - bi[b]);
      const float dr = 0.5f * (ar[b] - br[b]), di = 0.5f * (ai[b] + bi[b]);
      const float or_ = di, oi = -dr;  // D / i
      xr[b] = er + tr * or_ - ti * oi;
      xi[b] = ei + tr * oi + ti * or_;
    }
  }
}

void RealPlan::inverse(ConstSplitView X, float* x, int64_t xs, int64_t batch, float* workspace,
                       Isa isa) const {
  const int64_t m = complex_->size();
  if (n_ % 2 == 1) {
    // Hermitian completion: Y[0] = Re X[0], Y[k] = X[k], Y[n-k] = conj X[k].
    SplitView Y{workspace, workspace + m * batch, batch};
    SplitView out{workspace + 2 * m * batch, workspace + 3 * m * batch, batch};
    for (int64_t k = 0; k <= n_ / 2; ++k) {
      const float* sr = X.re + k * X.stride;
      const float* si = X.im + k * X.stride;
      float* yr = Y.re + k * batch;
      float* yi = Y.im + k * batch;
      float* zr = Y.re + ((n_ - k) % n_) * batch;
      float* zi = Y.im + ((n_ - k) % n_) * batch;
      for (int64_t b = 0; b < batch; ++b) {
        yr[b] = sr[b], yi[b] = k == 0 ? 0.f : si[b];
        if (k > 0) zr[b] = sr[b], zi[b] = -si[b];
      }
    }
    complex_->transform({Y.re, Y.im, batch}, out, batch, true, workspace + 4 * m * batch, isa);
    for (int64_t k = 0; k < n_; ++k)
      std::copy(out.re + k * batch, out.re + (k + 1) * batch, x + k * xs);
    return;
  }
  const int64_t h = m;
  // Z[k] = (A + B) + i exp(2 pi i k/n) (A - B), A = X[k], B = conj X[h-k], with the
  // imaginary parts of X[0] and X[h] taken as 0.
  SplitView Z{workspace, workspace + h * batch, batch};
  for (int64_t k = 0; k < h; ++k) {
    const float* ar = X.re + k * X.stride;
    const float* ai = X.im + k * X.stride;
    const float* br = X.re + (h - k) * X.stride;
    const float* bi = X.im + (h - k) * X.stride;
    const float ka = k == 0 ? 0.f : 1.f;  // drops Im X[0]; (h - k == h) only when k == 0
    float* zr = Z.re + k * batch;
    float* zi = Z.im + k * batch;
    const float tr = tw_re_[size_t(k)], ti = -tw_im_[size_t(k)];  // exp(+2 pi i k/n)
    for (int64_t b = 0; b < batch; ++b) {
      const float a_r = ar[b], a_i = ka * ai[b], b_r = br[b], b_i = -(ka * bi[b]);
      const float sr = a_r + b_r, si = a_i + b_i, dr = a_r - b_r, di = a_i - b_i;
      const float pr = tr * dr - ti * di, pi = tr * di + ti * dr;  // exp(..) (A - B)
      zr[b] = sr - pi;
      zi[b] = si + pr;
    }
  }
  complex_->transform({Z.re, Z.im, batch}, {x, x + xs, 2 * xs}, batch, true,
                      workspace + 2 * h * batch, isa);
}

}  // namespace fft
}  // namespace cpu
}  // namespace deblurcore
