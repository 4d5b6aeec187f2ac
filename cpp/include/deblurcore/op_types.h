// Small value types of the op API, in a header of their own so that the backends (and any
// code that only needs an enum) do not depend on the op declarations or on Tensor.
#pragma once

namespace deblurcore {

// An (h, w) pair that may be given as one int, as in PyTorch.
struct Pair {
  int h, w;
  Pair(int v) : h(v), w(v) {}  // NOLINT: implicit on purpose, like torch's int-or-tuple
  Pair(int h_, int w_) : h(h_), w(w_) {}
};

// Padding with a possibly different amount on each side (TensorFlow / Keras 'same' padding of
// strided convolutions puts the odd pixel after). For conv_transpose2d it is the crop of the
// full output instead (see there).
struct Padding2d {
  int top = 0, bottom = 0, left = 0, right = 0;
  Padding2d() = default;
  Padding2d(int top_, int bottom_, int left_, int right_)
      : top(top_), bottom(bottom_), left(left_), right(right_) {}
  // The symmetric padding of a Pair: (h, h, w, w).
  static Padding2d symmetric(Pair p) { return {p.h, p.h, p.w, p.w}; }
};

enum class Activation : int { None = 0, ReLU = 1, LeakyReLU = 2 };

// Symmetric is numpy.pad's 'symmetric': a mirror that includes the edge ([b a | a b c ...]).
enum class PadMode : int { Zeros = 0, Replicate = 1, Reflect = 2, Symmetric = 3 };

}  // namespace deblurcore
