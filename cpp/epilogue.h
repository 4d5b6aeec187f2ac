// The fused output stage of the convolutions, defined once for every kernel: the scalar
// reference, the fast CPU kernels of each instruction set (through their vector traits) and
// the CUDA kernels (a __host__ __device__ function there).
//
//   v = (acc + bias[c]) * scale[n,c] + shift[n,c]      (scale / shift optional)
//   v = act(v + residual)  or  act(v) + residual       (residual optional, position chosen)
//
// Included by CPU and CUDA translation units alike, so it depends on nothing but the enums.
#pragma once

#include <cstdint>

#include "deblurcore/op_types.h"

#if defined(__CUDACC__)
#define DEBLURCORE_HD __host__ __device__ __forceinline__
#else
#define DEBLURCORE_HD inline
#endif

namespace deblurcore {

// What the front end validated about an op's epilogue. `scale` and `shift` are (N, Cout)
// row-major device pointers of the backend, or null; the bias and residual pointers travel as
// kernel arguments of their own.
struct EpilogueParams {
  Activation activation = Activation::None;
  float negative_slope = 0.f;
  bool residual_before_activation = false;
  const float* scale = nullptr;
  const float* shift = nullptr;
};

// The epilogue of one value (or one vector of values) of output channel c of image n.
//
// M are the value traits of the calling kernel: types M::Acc (the accumulator: double in the
// reference, float on the fast paths, a SIMD vector in the ISA kernels) and M::Out (what is
// stored), and static functions add / mul / positive_or (v > 0 ? v : neg) for both types,
// set1_out(float), to_acc(Out) and round(Acc) -> Out. Each kernel's traits live in that
// kernel's namespace, so every instantiation is a distinct symbol (see cpp/cpu/README.md).
// `bias`, `scale` and `shift` are the channel's values broadcast to M::Acc (read only when
// the corresponding pointer is set); `residual` has present() and load() -> M::Out.
template <class M, class Residual>
DEBLURCORE_HD typename M::Out apply_epilogue(const EpilogueParams& e, typename M::Acc v,
                                             typename M::Acc bias, typename M::Acc scale,
                                             typename M::Acc shift, const Residual& residual) {
  v = M::add(v, bias);
  if (e.scale) v = M::mul(v, scale);
  if (e.shift) v = M::add(v, shift);
  if (e.residual_before_activation && residual.present()) v = M::add(v, M::to_acc(residual.load()));
  typename M::Out o = M::round(v);
  // v > 0 ? v : 0 for ReLU (+0 for v <= 0, as the kernels have always computed it).
  if (e.activation == Activation::ReLU)
    o = M::positive_or(o, M::set1_out(0.f));
  else if (e.activation == Activation::LeakyReLU)
    o = M::positive_or(o, M::mul(o, M::set1_out(e.negative_slope)));
  if (!e.residual_before_activation && residual.present()) o = M::add(o, residual.load());
  return o;
}

// Scalar traits: Acc the accumulator type (float, or double in the reference), Out = float.
// For code compiled without ISA flags only (reference, generic and CUDA kernels): ISA
// translation units use the vector traits of their own namespace instead.
template <class AccT>
struct ScalarEpilogueMath {
  using Acc = AccT;
  using Out = float;
  static DEBLURCORE_HD Acc add(Acc a, Acc b) { return a + b; }
  static DEBLURCORE_HD Acc mul(Acc a, Acc b) { return a * b; }
  static DEBLURCORE_HD Acc to_acc(Out a) { return static_cast<Acc>(a); }
  static DEBLURCORE_HD Out round(Acc a) { return static_cast<Out>(a); }
  static DEBLURCORE_HD Out set1_out(float a) { return a; }
  static DEBLURCORE_HD Out positive_or(Out v, Out neg) { return v > 0.f ? v : neg; }
};

// Scalar overloads for Out when Acc is double (the reference): float arithmetic.
template <>
struct ScalarEpilogueMath<double> {
  using Acc = double;
  using Out = float;
  static DEBLURCORE_HD double add(double a, double b) { return a + b; }
  static DEBLURCORE_HD double mul(double a, double b) { return a * b; }
  static DEBLURCORE_HD float add(float a, float b) { return a + b; }
  static DEBLURCORE_HD float mul(float a, float b) { return a * b; }
  static DEBLURCORE_HD double to_acc(float a) { return a; }
  static DEBLURCORE_HD float round(double a) { return static_cast<float>(a); }
  static DEBLURCORE_HD float set1_out(float a) { return a; }
  static DEBLURCORE_HD float positive_or(float v, float neg) { return v > 0.f ? v : neg; }
};

// A scalar residual operand: residual[i], or absent when the pointer is null.
struct ScalarResidual {
  const float* ptr;
  DEBLURCORE_HD bool present() const { return ptr != nullptr; }
  DEBLURCORE_HD float load() const { return *ptr; }
};

// The epilogue of one scalar output: channel value pointers already offset to the channel
// (bias) and to (n, c) (scale, shift inside `e`, offset by `nc` = n*Cout + c).
template <class M>
DEBLURCORE_HD float apply_epilogue_scalar(const EpilogueParams& e, typename M::Acc acc,
                                          const float* bias, int64_t nc, const float* residual) {
  using Acc = typename M::Acc;
  return apply_epilogue<M>(e, acc, bias ? Acc(*bias) : Acc(0), e.scale ? Acc(e.scale[nc]) : Acc(1),
                           e.shift ? Acc(e.shift[nc]) : Acc(0), ScalarResidual{residual});
}

}  // namespace deblurcore
