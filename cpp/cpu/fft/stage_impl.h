// Butterfly kernels of one Stockham pass, compiled once per instruction set (fft_stage_generic.cpp,
// fft_stage_avx2.cpp, fft_stage_avx512.cpp define DEBLURCORE_ISA and include this; see
// cpu/README.md). Every kernel loops over the batch innermost with restrict pointers, so the
// compiler vectorises across signals at the width of the instruction set; radix 2, 3, 4 and 5
// are written out, larger odd primes share one butterfly that uses the symmetry of the DFT
// matrix (about a quarter of the naive multiplications) and works on chunks of kChunk signals
// held in small arrays. Nothing here calls an inline function of a shared header (ODR rule).
#ifndef DEBLURCORE_ISA
#error "define DEBLURCORE_ISA before including cpu/fft/stage_impl.h"
#endif

#include "cpu/fft/stage.h"

namespace deblurcore {
namespace cpu {
namespace DEBLURCORE_ISA {

namespace {

constexpr int kChunk = 16;
constexpr int kMaxRadix = 31;

// The addresses of butterfly j: R source rows and R destination rows.
struct Rows {
  const float *sr[kMaxRadix], *si[kMaxRadix];
  float *dr[kMaxRadix], *di[kMaxRadix];
  const float *wr, *wi;  // R-1 twiddles
};

inline void rows_of(const fft::StageView& st, int64_t n, int64_t j, const float* sr,
                    const float* si, int64_t ss, float* dr, float* di, int64_t ds, Rows& rw) {
  const int R = st.radix;
  const int64_t q = n / R, k = j % st.Ns;
  const int64_t dst = (j / st.Ns) * st.Ns * R + k;
  for (int r = 0; r < R; ++r) {
    rw.sr[r] = sr + (j + r * q) * ss;
    rw.si[r] = si + (j + r * q) * ss;
    rw.dr[r] = dr + (dst + r * st.Ns) * ds;
    rw.di[r] = di + (dst + r * st.Ns) * ds;
  }
  rw.wr = st.tw_re + k * (R - 1);
  rw.wi = st.tw_im + k * (R - 1);
}

#define DBC_R __restrict__

void radix2(const Rows& w, int64_t B) {
  const float w1r = w.wr[0], w1i = w.wi[0];
  const float *DBC_R ar = w.sr[0], *DBC_R ai = w.si[0], *DBC_R br = w.sr[1], *DBC_R bi = w.si[1];
  float *DBC_R y0r = w.dr[0], *DBC_R y0i = w.di[0], *DBC_R y1r = w.dr[1], *DBC_R y1i = w.di[1];
  for (int64_t b = 0; b < B; ++b) {
    const float xr = br[b] * w1r - bi[b] * w1i, xi = br[b] * w1i + bi[b] * w1r;
    const float a_r = ar[b], a_i = ai[b];
    y0r[b] = a_r + xr, y0i[b] = a_i + xi;
    y1r[b] = a_r - xr, y1i[b] = a_i - xi;
  }
}

void radix3(const Rows& w, int64_t B, float s) {
  const float h = 0.86602540378443864676f * s;  // s * sqrt(3)/2
  const float w1r = w.wr[0], w1i = w.wi[0], w2r = w.wr[1], w2i = w.wi[1];
  const float *DBC_R x0r = w.sr[0], *DBC_R x0i = w.si[0], *DBC_R x1r = w.sr[1];
  const float *DBC_R x1i = w.si[1], *DBC_R x2r = w.sr[2], *DBC_R x2i = w.si[2];
  float *DBC_R y0r = w.dr[0], *DBC_R y0i = w.di[0], *DBC_R y1r = w.dr[1];
  float *DBC_R y1i = w.di[1], *DBC_R y2r = w.dr[2], *DBC_R y2i = w.di[2];
  for (int64_t b = 0; b < B; ++b) {
    const float v0r = x0r[b], v0i = x0i[b];
    const float v1r = x1r[b] * w1r - x1i[b] * w1i, v1i = x1r[b] * w1i + x1i[b] * w1r;
    const float v2r = x2r[b] * w2r - x2i[b] * w2i, v2i = x2r[b] * w2i + x2i[b] * w2r;
    const float tr = v1r + v2r, ti = v1i + v2i;
    const float mr = v0r - 0.5f * tr, mi = v0i - 0.5f * ti;
    const float dr = -h * (v1i - v2i), di = h * (v1r - v2r);  // (v1 - v2) * i s sqrt(3)/2
    y0r[b] = v0r + tr, y0i[b] = v0i + ti;
    y1r[b] = mr + dr, y1i[b] = mi + di;
    y2r[b] = mr - dr, y2i[b] = mi - di;
  }
}

void radix4(const Rows& w, int64_t B, float s) {
  const float w1r = w.wr[0], w1i = w.wi[0], w2r = w.wr[1], w2i = w.wi[1];
  const float w3r = w.wr[2], w3i = w.wi[2];
  const float *DBC_R x0r = w.sr[0], *DBC_R x0i = w.si[0], *DBC_R x1r = w.sr[1];
  const float *DBC_R x1i = w.si[1], *DBC_R x2r = w.sr[2], *DBC_R x2i = w.si[2];
  const float *DBC_R x3r = w.sr[3], *DBC_R x3i = w.si[3];
  float *DBC_R y0r = w.dr[0], *DBC_R y0i = w.di[0], *DBC_R y1r = w.dr[1];
  float *DBC_R y1i = w.di[1], *DBC_R y2r = w.dr[2], *DBC_R y2i = w.di[2];
  float *DBC_R y3r = w.dr[3], *DBC_R y3i = w.di[3];
  for (int64_t b = 0; b < B; ++b) {
    const float v0r = x0r[b], v0i = x0i[b];
    const float v1r = x1r[b] * w1r - x1i[b] * w1i, v1i = x1r[b] * w1i + x1i[b] * w1r;
    const float v2r = x2r[b] * w2r - x2i[b] * w2i, v2i = x2r[b] * w2i + x2i[b] * w2r;
    const float v3r = x3r[b] * w3r - x3i[b] * w3i, v3i = x3r[b] * w3i + x3i[b] * w3r;
    const float t0r = v0r + v2r, t0i = v0i + v2i, t1r = v0r - v2r, t1i = v0i - v2i;
    const float t2r = v1r + v3r, t2i = v1i + v3i;
    const float t3r = -s * (v1i - v3i), t3i = s * (v1r - v3r);  // (v1 - v3) * i s
    y0r[b] = t0r + t2r, y0i[b] = t0i + t2i;
    y2r[b] = t0r - t2r, y2i[b] = t0i - t2i;
    y1r[b] = t1r + t3r, y1i[b] = t1i + t3i;
    y3r[b] = t1r - t3r, y3i[b] = t1i - t3i;
  }
}

void radix5(const Rows& w, int64_t B, float s) {
  const float c1 = 0.30901699437494742410f, c2 = -0.80901699437494742410f;
  const float s1 = 0.95105651629515357212f * s, s2 = 0.58778525229247312917f * s;
  const float w1r = w.wr[0], w1i = w.wi[0], w2r = w.wr[1], w2i = w.wi[1];
  const float w3r = w.wr[2], w3i = w.wi[2], w4r = w.wr[3], w4i = w.wi[3];
  const float *DBC_R x0r = w.sr[0], *DBC_R x0i = w.si[0], *DBC_R x1r = w.sr[1];
  const float *DBC_R x1i = w.si[1], *DBC_R x2r = w.sr[2], *DBC_R x2i = w.si[2];
  const float *DBC_R x3r = w.sr[3], *DBC_R x3i = w.si[3], *DBC_R x4r = w.sr[4];
  const float* DBC_R x4i = w.si[4];
  float *DBC_R y0r = w.dr[0], *DBC_R y0i = w.di[0], *DBC_R y1r = w.dr[1];
  float *DBC_R y1i = w.di[1], *DBC_R y2r = w.dr[2], *DBC_R y2i = w.di[2];
  float *DBC_R y3r = w.dr[3], *DBC_R y3i = w.di[3], *DBC_R y4r = w.dr[4];
  float* DBC_R y4i = w.di[4];
  for (int64_t b = 0; b < B; ++b) {
    const float v0r = x0r[b], v0i = x0i[b];
    const float v1r = x1r[b] * w1r - x1i[b] * w1i, v1i = x1r[b] * w1i + x1i[b] * w1r;
    const float v2r = x2r[b] * w2r - x2i[b] * w2i, v2i = x2r[b] * w2i + x2i[b] * w2r;
    const float v3r = x3r[b] * w3r - x3i[b] * w3i, v3i = x3r[b] * w3i + x3i[b] * w3r;
    const float v4r = x4r[b] * w4r - x4i[b] * w4i, v4i = x4r[b] * w4i + x4i[b] * w4r;
    const float t1r = v1r + v4r, t1i = v1i + v4i, t2r = v2r + v3r, t2i = v2i + v3i;
    const float d1r = v1r - v4r, d1i = v1i - v4i, d2r = v2r - v3r, d2i = v2i - v3i;
    const float a1r = v0r + c1 * t1r + c2 * t2r, a1i = v0i + c1 * t1i + c2 * t2i;
    const float a2r = v0r + c2 * t1r + c1 * t2r, a2i = v0i + c2 * t1i + c1 * t2i;
    // b_k = sum_j d_j s sin(2 pi jk/5); y_k = a_k + i b_k, y_{5-k} = a_k - i b_k.
    const float b1r = s1 * d1r + s2 * d2r, b1i = s1 * d1i + s2 * d2i;
    const float b2r = s2 * d1r - s1 * d2r, b2i = s2 * d1i - s1 * d2i;
    y0r[b] = v0r + t1r + t2r, y0i[b] = v0i + t1i + t2i;
    y1r[b] = a1r - b1i, y1i[b] = a1i + b1r;
    y4r[b] = a1r + b1i, y4i[b] = a1i - b1r;
    y2r[b] = a2r - b2i, y2i[b] = a2i + b2r;
    y3r[b] = a2r + b2i, y3i[b] = a2i - b2r;
  }
}

// Odd prime R = 2h+1: with t_j = v_j + v_{R-j}, d_j = v_j - v_{R-j},
//   y_0 = v_0 + sum_j t_j,  y_k = a_k + i b_k,  y_{R-k} = a_k - i b_k,
//   a_k = v_0 + sum_j t_j cos(2 pi jk/R),  b_k = sum_j d_j (+-sin(2 pi jk/R)).
void radix_odd(const fft::StageView& st, const Rows& w, int64_t B) {
  const int R = st.radix, h = (R - 1) / 2;
  const float* C = st.cos_jk;
  const float* S = st.sin_jk;
  float vr[kMaxRadix][kChunk], vi[kMaxRadix][kChunk];
  float tr[kMaxRadix / 2][kChunk], ti[kMaxRadix / 2][kChunk];
  float dr[kMaxRadix / 2][kChunk], di[kMaxRadix / 2][kChunk];
  for (int64_t b0 = 0; b0 < B; b0 += kChunk) {
    const int nb = static_cast<int>(B - b0 < kChunk ? B - b0 : kChunk);  // no std::min: ODR
    for (int l = 0; l < nb; ++l) vr[0][l] = w.sr[0][b0 + l], vi[0][l] = w.si[0][b0 + l];
    for (int r = 1; r < R; ++r) {
      const float wr = w.wr[r - 1], wi = w.wi[r - 1];
      const float *DBC_R xr = w.sr[r] + b0, *DBC_R xi = w.si[r] + b0;
      for (int l = 0; l < nb; ++l) {
        vr[r][l] = xr[l] * wr - xi[l] * wi;
        vi[r][l] = xr[l] * wi + xi[l] * wr;
      }
    }
    float y0r[kChunk], y0i[kChunk];
    for (int l = 0; l < nb; ++l) y0r[l] = vr[0][l], y0i[l] = vi[0][l];
    for (int j = 1; j <= h; ++j)
      for (int l = 0; l < nb; ++l) {
        tr[j - 1][l] = vr[j][l] + vr[R - j][l], ti[j - 1][l] = vi[j][l] + vi[R - j][l];
        dr[j - 1][l] = vr[j][l] - vr[R - j][l], di[j - 1][l] = vi[j][l] - vi[R - j][l];
        y0r[l] += tr[j - 1][l], y0i[l] += ti[j - 1][l];
      }
    for (int l = 0; l < nb; ++l) w.dr[0][b0 + l] = y0r[l], w.di[0][b0 + l] = y0i[l];
    for (int k = 1; k <= h; ++k) {
      float ar[kChunk], ai[kChunk], br[kChunk], bi[kChunk];
      for (int l = 0; l < nb; ++l) ar[l] = vr[0][l], ai[l] = vi[0][l], br[l] = 0.f, bi[l] = 0.f;
      for (int j = 1; j <= h; ++j) {
        const float c = C[(j - 1) * h + k - 1], sn = S[(j - 1) * h + k - 1];
        for (int l = 0; l < nb; ++l) {
          ar[l] += tr[j - 1][l] * c, ai[l] += ti[j - 1][l] * c;
          br[l] += dr[j - 1][l] * sn, bi[l] += di[j - 1][l] * sn;
        }
      }
      float *DBC_R ykr = w.dr[k] + b0, *DBC_R yki = w.di[k] + b0;
      float *DBC_R ymr = w.dr[R - k] + b0, *DBC_R ymi = w.di[R - k] + b0;
      for (int l = 0; l < nb; ++l) {
        ykr[l] = ar[l] - bi[l], yki[l] = ai[l] + br[l];
        ymr[l] = ar[l] + bi[l], ymi[l] = ai[l] - br[l];
      }
    }
  }
}

}  // namespace

void fft_stage(const fft::StageView& st, int64_t n, const float* sr, const float* si, int64_t ss,
               float* dr, float* di, int64_t ds, int64_t batch) {
  const int64_t q = n / st.radix;
  const float s = st.inverse ? 1.f : -1.f;  // sign of the exponent
  Rows rw;
  for (int64_t j = 0; j < q; ++j) {
    rows_of(st, n, j, sr, si, ss, dr, di, ds, rw);
    switch (st.radix) {
      case 2: radix2(rw, batch); break;
      case 3: radix3(rw, batch, s); break;
      case 4: radix4(rw, batch, s); break;
      case 5: radix5(rw, batch, s); break;
      default: radix_odd(st, rw, batch); break;
    }
  }
}

}  // namespace DEBLURCORE_ISA
}  // namespace cpu
}  // namespace deblurcore
