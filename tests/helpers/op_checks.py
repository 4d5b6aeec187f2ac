"""What the op tests of deblurcore.ops (tests/test_ops_*.py) share: the ISAs to run every
kernel variant on, float64 torch tensors, and the tolerance of a float32 sum of products.

Every numerical case runs the fast kernel and the scalar reference kernel (reference=True) and
compares both with PyTorch evaluated in float64, so the comparison measures our float32 error
alone. Each case has its own fixed random seed (derived from its parameters).

Tolerances (each assertion states its own):
* Sums of products (conv2d, conv_transpose2d, fac and its gradients) are checked elementwise
  against  1e-5 * S,  where S is the sum of the absolute values of the terms of that output
  element (computed in float64 from |x| and |w|). A float32 accumulation of n terms, in any
  order and with or without FMA, has an error of at most about n * 2**-24 * S; the cases here
  have n <= 400, which gives at most 2.4e-5 * S in the worst case and in practice
  ~sqrt(n) * 2**-24 * S < 2e-6 * S (random signs), well inside 1e-5 * S. The bound is far
  below one average term S/n, so a missing or misplaced tap cannot hide in it.
* Single roundings (a product, leaky_relu's x*slope) are compared as exact float32 results.
* Copies and selections (relu, add, concat, pad) must be bit-exact.
"""

from __future__ import annotations

from functools import partial

import numpy as np

import deblurcore
from tests.helpers.numerics import assert_sum_close

# Relative tolerance of a float32 sum of products, with respect to the sum of the absolute
# values of its terms (see the module docstring).
SUM_RTOL = 1e-5
ISAS = {"avx512": ["generic", "avx2", "avx512"], "avx2": ["generic", "avx2"]}.get(
    deblurcore.cpu_isa(), ["generic"])
assert_f32_sum_close = partial(assert_sum_close, rtol=SUM_RTOL)


def t64(a):
    """``a`` as a float64 torch tensor (torch is imported by the tests that call this)."""
    import torch

    return torch.from_numpy(np.asarray(a)).double()
