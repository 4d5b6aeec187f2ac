"""The elementwise and channel ops of deblurcore.ops (relu, leaky_relu, sigmoid,
softmax, add, concat, pad) against PyTorch, at the API level.

The tolerances and how they are derived: tests/helpers/op_checks.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from deblurcore import ops
from tests.helpers.numerics import (
    assert_bitwise,
    case_rng,
    randn,
)
from tests.helpers.op_checks import t64

torch = pytest.importorskip("torch")
F = torch.nn.functional


# ---------------------------------------------------------------------------------------------
# Elementwise and channel ops

SHAPES = [(2, 3, 5, 7), (1, 1, 1, 1), (40_000,), (3, 0), (2, 9, 33)]
REF = pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])


def _special_values(rng, shape):
    """Random normals scaled up, with +-0, +-inf and large values mixed in when there is room."""
    x = randn(rng, shape) * 4
    flat = x.reshape(-1)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 1e30, -1e30, 88.0, -88.0, -104.0],
                        np.float32)
    if flat.size >= specials.size:
        flat[: specials.size] = specials
    return x


@REF
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_relu(shape, reference):
    x = _special_values(case_rng("relu", shape), shape)
    # A selection: bit-exact, including +0 (not -0) for negative inputs and 0 for -inf.
    assert_bitwise(ops.relu(x, reference=reference), F.relu(torch.from_numpy(x)).numpy(),
                    "relu")


@REF
@pytest.mark.parametrize("slope", [0.1, 0.01, 0.2])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_leaky_relu(shape, slope, reference):
    x = _special_values(case_rng("leaky_relu", shape, slope), shape)
    # x or one float32 product x*slope, rounded once: bit-exact.
    ref = F.leaky_relu(torch.from_numpy(x), slope).numpy()
    assert_bitwise(ops.leaky_relu(x, slope, reference=reference), ref, "leaky_relu")


@REF
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sigmoid(shape, reference):
    x = _special_values(case_rng("sigmoid", shape), shape)
    ours = ops.sigmoid(x, reference=reference)
    ref = torch.sigmoid(t64(x)).numpy()
    # 1 / (1 + exp(-x)) in float32: the C library's expf (within 2 units of roundoff u =
    # 2**-24), one addition and one division (u each) give a relative error <= 4u; plus 1e-44
    # absolute for results that underflow into the subnormal range (spacing 1.4e-45).
    assert ours.shape == ref.shape and ours.dtype == np.float32
    err = np.abs(ours.astype(np.float64) - ref)
    assert np.all(err <= 4 * 2.0**-24 * np.abs(ref) + 1e-44), err.max()


@REF
def test_sigmoid_sweep(reference):
    """Every 1024th float32 in [-88.7, 104], where 1 / (1 + exp(-x)) neither overflows nor
    rounds to 1, and a dense run around 0: the bound of test_sigmoid (4 units of roundoff)."""
    def magnitudes(top):  # every 1024th float32 in [0, top)
        return np.arange(0, np.float32(top).view(np.int32), 1024, dtype=np.int32).view(np.float32)

    x = np.concatenate([-magnitudes(88.7), magnitudes(104.0),
                        np.linspace(-1, 1, 100_001, dtype=np.float32)])
    assert x.size > 2_000_000
    ours = ops.sigmoid(x, reference=reference).astype(np.float64)
    ref = torch.sigmoid(t64(x)).numpy()
    err = np.abs(ours - ref)
    assert np.all(err <= 4 * 2.0**-24 * np.abs(ref) + 1e-44), (err / ref).max() / 2.0**-24


@REF
@pytest.mark.parametrize("shape", [(2, 5, 3, 4), (1, 1, 2, 3), (1, 64, 1, 1), (3, 7, 1, 9)],
                         ids=str)
def test_softmax(shape, reference):
    x = randn(case_rng("softmax", shape), shape) * 5
    x[0, 0, 0, 0] = 60.0  # large logits must not overflow (max subtracted first)
    ours = ops.softmax(x, 1, reference=reference)
    ref = torch.softmax(t64(x), 1).numpy()
    # exp(x - max), a float32 sum of C <= 64 positive terms and one division: relative error
    # <= (C + 4) * 2**-24 < 1e-5 of each element (no term underflows: x - max > -87).
    assert ours.shape == ref.shape and ours.dtype == np.float32
    err = np.abs(ours.astype(np.float64) - ref)
    assert np.all(err <= 1e-5 * ref), (err / ref).max()
    # dim=-3 is the same dimension as dim=1.
    assert_bitwise(ops.softmax(x, -3, reference=reference), ours, "softmax dim=-3")


@REF
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_add(shape, reference):
    rng = case_rng("add", shape)
    a, b = _special_values(rng, shape), randn(rng, shape)
    # One float32 addition, rounded once as torch does: bit-exact.
    assert_bitwise(ops.add(a, b, reference=reference),
                    (torch.from_numpy(a) + torch.from_numpy(b)).numpy(), "add")


@REF
@pytest.mark.parametrize("channels", [(3,), (1, 4), (2, 1, 5), (16, 3, 8, 1)], ids=str)
@pytest.mark.parametrize("N", [1, 2])
def test_concat(channels, N, reference):
    rng = case_rng("concat", channels, N)
    xs = [randn(rng, (N, c, 3, 5)) for c in channels]
    ref = torch.cat([torch.from_numpy(x) for x in xs], 1).numpy()
    assert_bitwise(ops.concat(xs, 1, reference=reference), ref, "concat")  # a copy
    assert_bitwise(ops.concat(tuple(xs), -3, reference=reference), ref, "concat dim=-3")


PAD_CASES = [
    # (shape, pad, mode, value)
    ((1, 2, 4, 5), (1, 2, 3, 0), "constant", 0.0),
    ((2, 3, 3, 3), (2, 1, 1, 2), "constant", -1.5),
    ((1, 1, 4, 6), (2, 3), "constant", 7.0),          # 2-tuple: left/right only
    ((1, 2, 4, 5), (0, 0, 0, 0), "constant", 1.0),    # no padding
    ((2, 2, 3, 4), (3, 2, 4, 1), "replicate", 0.0),   # pads larger than the image
    ((1, 3, 1, 1), (2, 2, 2, 2), "replicate", 0.0),   # one pixel
    ((1, 2, 5, 3), (1, 0), "replicate", 0.0),
    ((1, 2, 4, 5), (3, 4, 2, 3), "reflect", 0.0),     # the largest pads reflect allows
    ((2, 3, 6, 7), (1, 1, 1, 1), "reflect", 0.0),
    ((1, 1, 2, 4), (2, 1), "reflect", 0.0),
]


@REF
@pytest.mark.parametrize("case", PAD_CASES, ids=str)
def test_pad(case, reference):
    shape, pad, mode, value = case
    x = randn(case_rng("pad", case), shape)
    kwargs = {"value": value} if mode == "constant" else {}
    # torch takes a 2-tuple on 4-D input only in 'constant' mode; ours means (l, r, 0, 0).
    ref = F.pad(torch.from_numpy(x), tuple(pad) + (0, 0) * (len(pad) == 2), mode=mode,
                **kwargs).numpy()
    assert_bitwise(ops.pad(x, pad, mode, value, reference=reference), ref, f"pad {case}")
