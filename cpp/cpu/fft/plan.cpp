// Complex plans: factorisation into Stockham passes, twiddle tables (double, stored as float),
// the plan cache, and Bluestein's algorithm for lengths with a prime factor above 31.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>

#include "cpu/fft/fft.h"
#include "deblurcore/error.h"

namespace deblurcore {
namespace cpu {
namespace fft {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kLargestRadix = 31;

// exp(i * 2 pi * num / den) with num reduced modulo den first (accurate for large num).
void unit_root(int64_t num, int64_t den, double& c, double& s) {
  const double a = 2.0 * kPi * double(num % den) / double(den);
  c = std::cos(a);
  s = std::sin(a);
}

// Radices of n in pass order (4s, 2, 3, 5, then odd primes up to 31), or empty if n has a
// larger prime factor.
std::vector<int> factorise(int64_t n) {
  std::vector<int> radices;
  while (n % 4 == 0) radices.push_back(4), n /= 4;
  for (int p : {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31})
    while (n % p == 0) radices.push_back(p), n /= p;
  if (n != 1) radices.clear();
  return radices;
}

Stage make_stage(int R, int64_t Ns) {
  Stage st;
  st.radix = R;
  st.Ns = Ns;
  for (int dir = 0; dir < 2; ++dir) {
    st.tw_re[dir].resize(size_t(Ns * (R - 1)));
    st.tw_im[dir].resize(size_t(Ns * (R - 1)));
  }
  for (int64_t k = 0; k < Ns; ++k)
    for (int r = 1; r < R; ++r) {
      double c, s;
      unit_root(k * r, Ns * R, c, s);
      const size_t i = size_t(k * (R - 1) + r - 1);
      st.tw_re[0][i] = float(c), st.tw_im[0][i] = float(-s);  // forward: exp(-...)
      st.tw_re[1][i] = float(c), st.tw_im[1][i] = float(s);
    }
  if (R >= 7) {
    const int h = (R - 1) / 2;
    st.cos_jk.resize(size_t(h * h));
    st.sin_jk[0].resize(size_t(h * h));
    st.sin_jk[1].resize(size_t(h * h));
    for (int j = 1; j <= h; ++j)
      for (int k = 1; k <= h; ++k) {
        double c, s;
        unit_root(int64_t(j) * k, R, c, s);
        const size_t i = size_t((j - 1) * h + k - 1);
        st.cos_jk[i] = float(c);
        st.sin_jk[0][i] = float(-s);
        st.sin_jk[1][i] = float(s);
      }
  }
  return st;
}

// In-place forward radix-2 FFT in double (Bluestein's kernel spectrum, computed once per plan).
void fft_double_pow2(std::vector<double>& re, std::vector<double>& im) {
  const size_t n = re.size();
  for (size_t i = 1, j = 0; i < n; ++i) {  // bit-reversal permutation
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(re[i], re[j]), std::swap(im[i], im[j]);
  }
  for (size_t len = 2; len <= n; len <<= 1)
    for (size_t k = 0; k < len / 2; ++k) {
      double c, s;
      unit_root(int64_t(k), int64_t(len), c, s);
      s = -s;
      for (size_t i = k; i < n; i += len) {
        const size_t j = i + len / 2;
        const double ur = re[j] * c - im[j] * s, ui = re[j] * s + im[j] * c;
        re[j] = re[i] - ur, im[j] = im[i] - ui;
        re[i] += ur, im[i] += ui;
      }
    }
}

}  // namespace

// Bluestein: X_k = w_k sum_j (x_j w_j) conj(w_{k-j}), w_t = exp(-+ i pi t^2 / n), a circular
// convolution of length M (a power of two >= 2n - 1) done with the power-of-two plan.
struct ComplexPlan::Bluestein {
  int64_t M;
  std::shared_ptr<const ComplexPlan> inner;
  std::vector<float> chirp_re[2], chirp_im[2];    // w_t, t < n
  std::vector<float> kernel_re[2], kernel_im[2];  // FFT_M of conj(w) wrapped, times 1/M
};

ComplexPlan::ComplexPlan(int64_t n) : n_(n) {
  check(n >= 1, "fft: transform length must be positive, got ", n);
  const std::vector<int> radices = factorise(n);
  if (n == 1 || !radices.empty()) {
    int64_t Ns = 1;
    for (int R : radices) {
      stages_.push_back(make_stage(R, Ns));
      Ns *= R;
    }
    return;
  }
  auto bs = std::make_unique<Bluestein>();
  bs->M = 1;
  while (bs->M < 2 * n - 1) bs->M *= 2;
  bs->inner = get(bs->M);
  const int64_t M = bs->M;
  std::vector<double> wc(static_cast<size_t>(n)), ws(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    // pi t^2 / n = 2 pi (t^2 mod 2n) / (2n)
    unit_root((t * t) % (2 * n), 2 * n, wc[size_t(t)], ws[size_t(t)]);
  }
  for (int dir = 0; dir < 2; ++dir) {
    const double sign = dir == 0 ? -1.0 : 1.0;
    bs->chirp_re[dir].resize(size_t(n));
    bs->chirp_im[dir].resize(size_t(n));
    for (int64_t t = 0; t < n; ++t) {
      bs->chirp_re[dir][size_t(t)] = float(wc[size_t(t)]);
      bs->chirp_im[dir][size_t(t)] = float(sign * ws[size_t(t)]);
    }
    // The kernel b_t = conj(w_t) at t and M - t, transformed in double.
    std::vector<double> br(static_cast<size_t>(M), 0.0), bi(static_cast<size_t>(M), 0.0);
    for (int64_t t = 0; t < n; ++t) {
      br[size_t(t)] = wc[size_t(t)];
      bi[size_t(t)] = -sign * ws[size_t(t)];
      if (t > 0) br[size_t(M - t)] = br[size_t(t)], bi[size_t(M - t)] = bi[size_t(t)];
    }
    fft_double_pow2(br, bi);
    bs->kernel_re[dir].resize(size_t(M));
    bs->kernel_im[dir].resize(size_t(M));
    for (int64_t t = 0; t < M; ++t) {
      bs->kernel_re[dir][size_t(t)] = float(br[size_t(t)] / double(M));
      bs->kernel_im[dir][size_t(t)] = float(bi[size_t(t)] / double(M));
    }
  }
  bluestein_ = std::move(bs);
}

ComplexPlan::~ComplexPlan() = default;

std::shared_ptr<const ComplexPlan> ComplexPlan::get(int64_t n) {
  static std::mutex mutex;
  static std::map<int64_t, std::shared_ptr<const ComplexPlan>> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(n);
    if (it != cache.end()) return it->second;
  }
  // Built outside the lock: a Bluestein plan asks the cache for its inner plan.
  auto plan = std::make_shared<const ComplexPlan>(n);
  std::lock_guard<std::mutex> lock(mutex);
  return cache.emplace(n, std::move(plan)).first->second;
}

size_t ComplexPlan::workspace_floats(int64_t batch) const {
  if (bluestein_)
    return size_t(2 * bluestein_->M * batch) + bluestein_->inner->workspace_floats(batch);
  return size_t(4 * n_ * batch);  // two ping-pong buffers of n x batch complex
}

void ComplexPlan::transform(ConstSplitView in, SplitView out, int64_t batch, bool inverse,
                            float* workspace, Isa isa) const {
  if (bluestein_)
    run_bluestein(in, out, batch, inverse, workspace, isa);
  else
    run_stages(in, out, batch, inverse, workspace, isa);
}

namespace {
void copy_rows(ConstSplitView in, SplitView out, int64_t rows, int64_t batch) {
  if (in.re == out.re && in.im == out.im && in.stride == out.stride) return;
  for (int64_t k = 0; k < rows; ++k) {
    std::memmove(out.re + k * out.stride, in.re + k * in.stride, size_t(batch) * sizeof(float));
    std::memmove(out.im + k * out.stride, in.im + k * in.stride, size_t(batch) * sizeof(float));
  }
}
}  // namespace

void ComplexPlan::run_stages(ConstSplitView in, SplitView out, int64_t batch, bool inverse,
                             float* workspace, Isa isa) const {
  const int64_t plane = n_ * batch;
  SplitView buf[2] = {{workspace, workspace + plane, batch},
                      {workspace + 2 * plane, workspace + 3 * plane, batch}};
  const size_t count = stages_.size();
  if (count == 0) return copy_rows(in, out, n_, batch);
  // One pass cannot work in place: route it through a buffer when in and out overlap.
  const bool alias = count == 1 && (in.re == out.re || in.im == out.im);
  ConstSplitView src = in;
  for (size_t s = 0; s < count; ++s) {
    const bool last = s + 1 == count;
    SplitView dst = (last && !alias) ? out : buf[s % 2];
    run_stage(stages_[s], inverse, n_, src.re, src.im, src.stride, dst.re, dst.im, dst.stride,
              batch, isa);
    src = {dst.re, dst.im, dst.stride};
  }
  if (alias) copy_rows(src, out, n_, batch);
}

void ComplexPlan::run_bluestein(ConstSplitView in, SplitView out, int64_t batch, bool inverse,
                                float* workspace, Isa isa) const {
  const Bluestein& bs = *bluestein_;
  const int dir = inverse ? 1 : 0;
  const int64_t M = bs.M;
  float* ar = workspace;
  float* ai = workspace + M * batch;
  float* inner_ws = workspace + 2 * M * batch;
  const float* cr = bs.chirp_re[dir].data();
  const float* ci = bs.chirp_im[dir].data();
  for (int64_t t = 0; t < n_; ++t) {
    const float* xr = in.re + t * in.stride;
    const float* xi = in.im + t * in.stride;
    float* yr = ar + t * batch;
    float* yi = ai + t * batch;
    const float wr = cr[t], wi = ci[t];
    for (int64_t b = 0; b < batch; ++b) {
      const float u = xr[b], v = xi[b];
      yr[b] = u * wr - v * wi;
      yi[b] = u * wi + v * wr;
    }
  }
  std::fill(ar + n_ * batch, ar + M * batch, 0.f);
  std::fill(ai + n_ * batch, ai + M * batch, 0.f);
  const SplitView a{ar, ai, batch};
  bs.inner->transform({ar, ai, batch}, a, batch, false, inner_ws, isa);
  const float* kr = bs.kernel_re[dir].data();
  const float* ki = bs.kernel_im[dir].data();
  for (int64_t t = 0; t < M; ++t) {
    float* yr = ar + t * batch;
    float* yi = ai + t * batch;
    const float wr = kr[t], wi = ki[t];
    for (int64_t b = 0; b < batch; ++b) {
      const float u = yr[b], v = yi[b];
      yr[b] = u * wr - v * wi;
      yi[b] = u * wi + v * wr;
    }
  }
  bs.inner->transform({ar, ai, batch}, a, batch, true, inner_ws, isa);
  for (int64_t k = 0; k < n_; ++k) {
    const float* yr = ar + k * batch;
    const float* yi = ai + k * batch;
    float* zr = out.re + k * out.stride;
    float* zi = out.im + k * out.stride;
    const float wr = cr[k], wi = ci[k];
    for (int64_t b = 0; b < batch; ++b) {
      const float u = yr[b], v = yi[b];
      zr[b] = u * wr - v * wi;
      zi[b] = u * wi + v * wr;
    }
  }
}

}  // namespace fft
}  // namespace cpu
}  // namespace deblurcore
