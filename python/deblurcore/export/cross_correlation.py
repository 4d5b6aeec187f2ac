"""The analysis network's CrossCorrelationFFT (analysis_synthesis spec §2) in standard ops.

Each channel is centred and scaled to unit L2 norm; for every pair (i, j >= i), i-major, the
circular cross-correlation cc_ij[dy, dx] = sum a_i[(y+dy) mod h, (x+dx) mod w] a_j[y, x] is
wanted on the (2m+1) x (2m+1) window of lags -m..m, then the same window flipped on both
axes (the swapped pairs).

Written as discrete Fourier transforms by matrix products (MatMul with cos/sin matrices made
inside the graph from the map's size, angles reduced modulo n in integers first so that they
stay exact), not with the ONNX DFT op: ONNX Runtime runs DFT on these non-power-of-two
lengths by a direct O(n^2) sum, slower than MLAS's matrix products (24 s for the 720p level-0
forward transform under load) and less accurate in float32, and TensorRT and OpenVINO users get
plain MatMuls. The forward transform is the real one along the width (w//2 + 1 bins) and the
complex one along the height; the inverse is evaluated only at the 2m+1 lags per axis
(a (2m+1) x h complex matrix, then the real inverse along the width at 2m+1 lags), so the
full-size correlation maps are never made. Pairs are processed in chunks of 64 to bound the
memory of the spectrum products.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder

PAIR_CHUNK = 64


def _angle_matrix(g: GraphBuilder, n: str, rows: str, cols: str) -> tuple[str, str]:
    """cos and sin of 2*pi*((rows x cols) mod n)/n for int64 vectors rows, cols; n int64 (1,)."""
    prod = g.mul(g.op("Unsqueeze", [rows, g.ints([1])]), g.op("Unsqueeze", [cols, g.ints([0])]))
    r = g.op("Mod", [prod, n], fmod=0)  # Python-style: non-negative for negative lags
    nf = g.op("Cast", [n], to=1)
    theta = g.div(g.mul(g.op("Cast", [r], to=1), g.const(2.0 * np.pi, "two_pi")), nf)
    return g.op("Cos", [theta]), g.op("Sin", [theta])


def _range(g: GraphBuilder, start: str, end: str) -> str:
    """int64 start..end-1 from int64 (1,) tensors."""
    squeeze = g.ints([0])
    return g.op(
        "Range",
        [g.op("Squeeze", [start, squeeze]), g.op("Squeeze", [end, squeeze]),
         g.const(1, "one_i", np.int64)],
    )  # fmt: skip


def cross_correlation(g: GraphBuilder, x: str, channels: int, m: int) -> str:
    """x (1, C, h, w) -> (1, C(C+1), 2m+1, 2m+1): the C(C+1)/2 pair windows, then flipped."""
    h = g.shape(x, 2, 3)
    w = g.shape(x, 3, 4)
    # 1. centre, scale to unit norm; a constant channel becomes 0 (sigma := inf)
    xc = g.sub(x, g.mean(x, [2, 3]))
    ms = g.mean(g.mul(xc, xc), [2, 3])
    sigma = g.op("Sqrt", [ms])
    inf = g.const(np.inf, "inf")
    sigma = g.op("Where", [g.op("Less", [sigma, g.const(1e-9, "tiny")]), inf, sigma])
    hw = g.op("Cast", [g.mul(h, w)], to=1)
    a = g.div(xc, g.mul(sigma, g.op("Sqrt", [hw])))

    # 2. forward: real DFT along the width, complex along the height (e^{-i theta})
    zero = g.ints([0])
    wf = g.add(g.op("Div", [w, g.ints([2])]), g.ints([1]))
    cw, sw = _angle_matrix(g, w, _range(g, zero, w), _range(g, zero, wf))  # (w, wf)
    xr = g.op("MatMul", [a, cw])
    xi = g.op("Neg", [g.op("MatMul", [a, sw])])
    ch, sh = _angle_matrix(g, h, _range(g, zero, h), _range(g, zero, h))  # (h, h)
    fr = g.add(g.op("MatMul", [ch, xr]), g.op("MatMul", [sh, xi]))
    fi = g.sub(g.op("MatMul", [ch, xi]), g.op("MatMul", [sh, xr]))

    # inverse matrices at the lags -m..m (e^{+i theta}, 1/h) and the real inverse along the
    # width: weight 1/w for bin 0 and the Nyquist bin of an even width, 2/w for the others
    lags = g.const(np.arange(-m, m + 1, dtype=np.int64), "lags", np.int64)
    cy, sy = _angle_matrix(g, h, lags, _range(g, zero, h))  # (2m+1, h)
    hf = g.op("Cast", [h], to=1)
    cy, sy = g.div(cy, hf), g.div(sy, hf)
    cx, sx = _angle_matrix(g, w, _range(g, zero, wf), lags)  # (wf, 2m+1)
    k = g.op("Cast", [_range(g, zero, wf)], to=1)
    wfl = g.op("Cast", [w], to=1)
    edge = g.op("Or", [g.op("Equal", [k, g.const(0.0, "zero_f")]),
                       g.op("Equal", [g.mul(k, g.const(2.0, "two")), wfl])])  # fmt: skip
    weight = g.div(g.op("Where", [edge, g.const(1.0, "one"), g.const(2.0, "two")]), wfl)
    weight = g.op("Unsqueeze", [weight, g.ints([1])])  # (wf, 1)
    cx, sx = g.mul(cx, weight), g.mul(sx, weight)

    ii, jj = np.triu_indices(channels)
    windows = []
    for start in range(0, len(ii), PAIR_CHUNK):
        i = g.const(ii[start : start + PAIR_CHUNK].astype(np.int64), "pair_i", np.int64)
        j = g.const(jj[start : start + PAIR_CHUNK].astype(np.int64), "pair_j", np.int64)
        ri, ii_ = g.op("Gather", [fr, i], axis=1), g.op("Gather", [fi, i], axis=1)
        rj, ij = g.op("Gather", [fr, j], axis=1), g.op("Gather", [fi, j], axis=1)
        # A_i * conj(A_j)
        pr = g.add(g.mul(ri, rj), g.mul(ii_, ij))
        pi = g.sub(g.mul(ii_, rj), g.mul(ri, ij))
        # inverse along the height at the lags: (cy + i sy)(pr + i pi)
        zr = g.sub(g.op("MatMul", [cy, pr]), g.op("MatMul", [sy, pi]))
        zi = g.add(g.op("MatMul", [cy, pi]), g.op("MatMul", [sy, pr]))
        # real inverse along the width at the lags: Re((zr + i zi)(cx + i sx))
        windows.append(g.sub(g.op("MatMul", [zr, cx]), g.op("MatMul", [zi, sx])))
    out = g.concat(windows)
    flipped = g.op("Slice", [out, g.ints([-1, -1]), g.ints([-(2**62), -(2**62)]),
                             g.ints([2, 3]), g.ints([-1, -1])])  # fmt: skip
    return g.concat([out, flipped])
