"""conv2d by Winograd F(4x4, 3x3) (``algorithm='winograd'``) against PyTorch in float64.

Every case runs on every instruction set this CPU has (avx512, avx2, generic).

Tolerance (elementwise, rigorous rather than tuned). Winograd computes each 4x4 output tile as
A^T [sum_ci (G g G^T) (.) (B^T d B)] A. Every intermediate is a short sum of products with
the exact matrix coefficients (all of B^T, A^T are exact in float32; the transformed weights
are computed in double and rounded once), so the rounding error of the whole chain is bounded
by gamma(n) times the same chain evaluated on absolute values,
    S_w = |A^T| [sum_ci (|G| |g| |G^T|) (.) (|B^T| |d| |B|)] |A|,
where n counts the roundings along one path: the input transform (2 passes of <= 4 terms:
<= 8), the weight rounding (1), the Cin-term GEMM (Cin), the output transform (2 passes of
<= 5 terms: <= 10). The epilogue adds a rounding per operation ((+bias) * scale + shift,
+residual, *slope), each relative to the magnitudes it combines. So
    |ours - exact| <= gamma(Cin + 24) * ((S_w + |bias|) * |scale| + |shift| + |residual|).
S_w is larger than the direct convolution's sum of |terms| by the transforms' growth (a
factor of ~10-100 here, the price of Winograd), which is why the models' layers are checked
end to end against their 1e-4 bound too (test_stfan.py, test_ifan.py, test_aspdc.py). The
bound still catches a wrong coefficient or a missing tile: one term is on average
S_w / (36 Cin), far above gamma(Cin + 24) * S_w for the channel counts here.
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import case_rng, torch_epilogue

torch = pytest.importorskip("torch")
F = torch.nn.functional

U = 2.0**-24

BT = np.array([[1, 0, -5, 0, 4, 0], [0, -1, -1, 4, 4, 0], [0, 1, -1, -4, 4, 0],
               [0, 1, 2, -1, -2, 0], [0, -1, 2, 1, -2, 0], [0, 1, 0, -5, 0, 4]], np.float64)
G = np.array([[1, 0, 0], [1 / 6, 1 / 6, 1 / 6], [1 / 6, -1 / 6, 1 / 6], [4 / 3, 2 / 3, 1 / 3],
              [4 / 3, -2 / 3, 1 / 3], [0, 0, 1 / 4]], np.float64)
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 1 / 2, -1 / 2, 0], [0, 1, 1, 1 / 4, 1 / 4, 0],
               [0, 1, -1, 1 / 8, -1 / 8, 1]], np.float64)


def _isas():
    best = deblurcore._core.cpu_isa()
    order = ["generic", "avx2", "avx512"]
    return order[: order.index(best) + 1]


ISAS = _isas()


def _gamma(n):
    return n * U / (1 - n * U)


def _tiles(x, padding, Hout, Wout, m):
    """The (m+2)x(m+2) input tiles (N, C, th, tw, m+2, m+2) of the mxm output tiles, zero
    outside."""
    top, bottom, left, right = padding
    th, tw = -(-Hout // m), -(-Wout // m)
    N, C, H, W = x.shape
    xp = np.zeros((N, C, m * th + 2, m * tw + 2))
    h = min(H, m * th + 2 - top)
    w = min(W, m * tw + 2 - left)
    xp[:, :, top:top + h, left:left + w] = x[:, :, :h, :w]
    out = np.empty((N, C, th, tw, m + 2, m + 2))
    for i in range(th):
        for j in range(tw):
            out[:, :, i, j] = xp[:, :, m * i:m * i + m + 2, m * j:m * j + m + 2]
    return out


def winograd_chain(x, w, padding, Hout, Wout, bt, g, at):
    """A^T [sum_ci (G g G^T) (.) (B^T d B)] A in float64 with the matrices given (any F(m, 3)),
    (N, Cout, Hout, Wout). On the absolute values of the operands and matrices it is S_w."""
    m = at.shape[0]
    d = _tiles(x.astype(np.float64), padding, Hout, Wout, m)
    v = np.einsum("ab,ncyxbd,ed->ncyxae", bt, d, bt)
    u = np.einsum("ab,ocbd,ed->ocae", g, w.astype(np.float64), g)
    y = np.einsum("ia,noyxae,je->noyixj", at, np.einsum("ncyxae,ocae->noyxae", v, u), at)
    N, Co, th, _, tw, _ = y.shape
    return y.reshape(N, Co, m * th, m * tw)[:, :, :Hout, :Wout]


def winograd_abs_sum(x, w, padding, Hout, Wout):
    """S_w of the module docstring, (N, Cout, Hout, Wout), in float64."""
    return winograd_chain(np.abs(x), np.abs(w), padding, Hout, Wout, np.abs(BT), np.abs(G),
                          np.abs(AT))


def winograd_float64(x, w, padding, Hout, Wout):
    """The Winograd formula itself in float64 (checks the matrices against F.conv2d)."""
    return winograd_chain(x, w, padding, Hout, Wout, BT, G, AT)


def with_epilogue(rng, y, act, slope, use_res, before, affine):
    """The float64 conv output y (a torch tensor, bias included) through a random epilogue:
    per-image scale / shift when `affine`, then the activation and, when `use_res`, a
    residual. Returns (the expected output as numpy, scale, shift, residual), None where not
    drawn."""
    N, Cout = y.shape[:2]
    scale = shift = None
    if affine:
        scale = rng.uniform(-2, 2, (N, Cout)).astype(np.float32)
        shift = rng.standard_normal((N, Cout), dtype=np.float32)
        y = y * torch.from_numpy(scale).double()[:, :, None, None] \
            + torch.from_numpy(shift).double()[:, :, None, None]
    res = rng.standard_normal(tuple(y.shape), dtype=np.float32) if use_res else None
    y = torch_epilogue(y, act, slope, None if res is None else torch.from_numpy(res).double(),
                       before).numpy()
    return y, scale, shift, res


def epilogue_abs_sum(s, b, scale, shift, res):
    """A convolution's sum of |terms| s carried through the epilogue's magnitudes (bias, scale
    and shift, residual): what the epilogue's roundings are relative to."""
    s = s + (0 if b is None else np.abs(b)[None, :, None, None])
    if scale is not None:
        s = s * np.abs(scale)[:, :, None, None] + np.abs(shift)[:, :, None, None]
    if res is not None:
        s = s + np.abs(res)
    return s


def assert_within(ours, want, tol, what):
    """float32 `ours` has want's shape and is within `tol` (elementwise) of float64 `want`."""
    assert ours.shape == want.shape and ours.dtype == np.float32
    err = np.abs(ours.astype(np.float64) - want)
    if err.size:
        worst = np.unravel_index(np.argmax(err - tol), err.shape)
        assert np.all(err <= tol), (
            f"{what}: |diff| {err[worst]:.3g} > tolerance {tol[worst]:.3g} at {worst}")


EPILOGUES = [
    # (activation, negative_slope, residual, residual_before_activation, scale/shift)
    (None, 0.01, False, False, False),
    ("relu", 0.01, False, False, False),
    ("leaky_relu", 0.1, True, False, False),
    ("leaky_relu", 0.2, True, True, False),
    (None, 0.01, False, False, True),
    ("relu", 0.01, True, False, True),
]

# (N, Cin, Cout, H, W, padding): padding an int or per side (top, bottom, left, right).
CASES = [
    (1, 3, 32, 17, 23, 1),          # few input channels, partial tiles both ways
    (2, 16, 16, 8, 8, 1),           # batch, whole tiles
    (1, 1, 1, 1, 1, 1),             # one pixel
    (1, 4, 3, 2, 3, 1),             # less than one tile
    (1, 5, 9, 3, 3, 0),             # one output pixel
    (1, 8, 17, 5, 7, 2),            # padding beyond the kernel radius
    (1, 9, 8, 13, 130, 1),          # several blocks of tiles in a row (130 / 4 > 32 tiles)
    (1, 33, 20, 9, 70, (0, 1, 0, 1)),  # per-side padding (TensorFlow 'same' style)
    (1, 12, 7, 11, 6, (2, 0, 1, 3)),   # asymmetric per-side padding
    (1, 40, 65, 12, 12, 1),         # Cout past a panel of 8, Cin > one cache line of panels
    (2, 7, 10, 23, 19, 1),          # odd everything, batch
    (1, 64, 64, 20, 36, 1),         # the models' channel counts
    (1, 16, 24, 6, 205, 1),         # 52 tiles a row: a last block of 20 (AVX-512) or 4 (AVX2)
    (1, 8, 16, 10, 160, 1),         # 40 tiles (IFAN's 160-pixel rows): last blocks of 8 in
                                    # pairs of tile rows (AVX-512), the third row alone
    (2, 6, 9, 7, 130, 1),           # 33 tiles: last blocks of 1 paired on every ISA, batch
]


def _torch_padding(p):
    return (p, p, p, p) if isinstance(p, int) else p


@pytest.mark.parametrize("case", range(len(CASES)))
def test_winograd_matches_float64(case):
    N, Cin, Cout, H, W, padding = CASES[case]
    act, slope, use_res, before, affine = EPILOGUES[case % len(EPILOGUES)]
    rng = case_rng("winograd", case)
    x = rng.standard_normal((N, Cin, H, W), dtype=np.float32)
    w = rng.standard_normal((Cout, Cin, 3, 3), dtype=np.float32)
    b = rng.standard_normal(Cout, dtype=np.float32) if case % 3 else None
    top, bottom, left, right = _torch_padding(padding)
    xt = F.pad(torch.from_numpy(x).double(), (left, right, top, bottom))
    y = F.conv2d(xt, torch.from_numpy(w).double(),
                 None if b is None else torch.from_numpy(b).double())
    Hout, Wout = y.shape[2], y.shape[3]
    if Hout > 0 and Wout > 0:
        # The matrices themselves (exact arithmetic up to float64 rounding).
        ywin = winograd_float64(x, w, (top, bottom, left, right), Hout, Wout)
        assert np.allclose(ywin + (0 if b is None else b[None, :, None, None]), y.numpy(),
                           rtol=1e-9, atol=1e-9 * np.abs(y.numpy()).max())
    y, scale, shift, res = with_epilogue(rng, y, act, slope, use_res, before, affine)
    s = epilogue_abs_sum(winograd_abs_sum(x, w, (top, bottom, left, right), Hout, Wout), b,
                         scale, shift, res)
    tol = _gamma(Cin + 24) * s

    for isa in ISAS:
        ours = ops.conv2d(x, w, b, 1, padding, activation=act, negative_slope=slope,
                          residual=res, residual_before_activation=before, scale=scale,
                          shift=shift, isa=isa, algorithm="winograd")
        assert_within(ours, y, tol, isa)


def dilated_abs_sum(x, w, d):
    """S_w of a 3x3 conv with dilation d and padding d, run as the undilated Winograd of each
    polyphase sub-image x[:, :, a::d, b::d] (padding 1)."""
    N, _, H, W = x.shape
    s = np.zeros((N, w.shape[0], H, W))
    for a in range(min(d, H)):
        for b in range(min(d, W)):
            sub = x[:, :, a::d, b::d]
            s[:, :, a::d, b::d] = winograd_abs_sum(sub, w, (1, 1, 1, 1), *sub.shape[2:])
    return s


# (N, Cin, Cout, H, W, dilation); padding = dilation ("same" size).
DILATED_CASES = [
    (1, 8, 27, 20, 37, 2),   # ASPDC's predictor width, sub-images of unequal sizes
    (2, 5, 9, 17, 23, 4),    # batch, dilation 4
    (1, 16, 16, 9, 70, 3),   # an odd dilation, several blocks of tiles per sub-image row
    (1, 3, 8, 3, 5, 4),      # dilation beyond the image: empty sub-images
]


@pytest.mark.parametrize("case", range(len(DILATED_CASES)))
def test_dilated_winograd_matches_float64(case):
    """A dilated 3x3 conv with padding = dilation by Winograd on the polyphase sub-images."""
    N, Cin, Cout, H, W, d = DILATED_CASES[case]
    act, slope = [(None, 0.01), ("relu", 0.01), ("leaky_relu", 0.1)][case % 3]
    rng = case_rng("winograd-dilated", case)
    x = rng.standard_normal((N, Cin, H, W), dtype=np.float32)
    w = rng.standard_normal((Cout, Cin, 3, 3), dtype=np.float32)
    b = rng.standard_normal(Cout, dtype=np.float32)
    y = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                 torch.from_numpy(b).double(), 1, d, d)
    y = torch_epilogue(y, act, slope, None, False).numpy()
    tol = _gamma(Cin + 24) * (dilated_abs_sum(x, w, d) + np.abs(b)[None, :, None, None])
    for isa in ISAS:
        ours = ops.conv2d(x, w, b, 1, d, d, activation=act, negative_slope=slope, isa=isa,
                          algorithm="winograd")
        assert_within(ours, y, tol, isa)
        # Winograd indeed ran (the direct conv rounds differently).
        direct = ops.conv2d(x, w, b, 1, d, d, activation=act, negative_slope=slope, isa=isa,
                            algorithm="direct")
        assert not np.array_equal(ours, direct), isa


def test_dilated_winograd_falls_back_with_a_residual_or_affine():
    """The polyphase path takes no residual, scale or shift: those run the direct conv."""
    rng = case_rng("winograd-dilated-fallback")
    x = rng.standard_normal((1, 8, 12, 20), dtype=np.float32)
    w = rng.standard_normal((8, 8, 3, 3), dtype=np.float32)
    res = rng.standard_normal((1, 8, 12, 20), dtype=np.float32)
    scale = rng.uniform(-2, 2, (1, 8)).astype(np.float32)
    for kw in ({"residual": res}, {"scale": scale, "shift": scale}):
        want = ops.conv2d(x, w, None, 1, 2, 2, algorithm="direct", **kw)
        np.testing.assert_array_equal(ops.conv2d(x, w, None, 1, 2, 2, algorithm="winograd", **kw),
                                      want)
    # And padding other than the dilation is the direct conv too.
    np.testing.assert_array_equal(ops.conv2d(x, w, None, 1, 1, 2, algorithm="winograd"),
                                  ops.conv2d(x, w, None, 1, 1, 2, algorithm="direct"))


def test_direct_and_auto_agree_with_torch():
    """'direct' and 'auto' give the conv too (auto may pick either algorithm)."""
    rng = case_rng("winograd-auto")
    x = rng.standard_normal((1, 32, 40, 64), dtype=np.float32)
    w = rng.standard_normal((32, 32, 3, 3), dtype=np.float32)
    y = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1).numpy()
    for algo in ("direct", "auto", "winograd"):
        ours = ops.conv2d(x, w, None, 1, 1, algorithm=algo)
        assert np.abs(ours - y).max() <= 1e-3 * np.abs(y).max(), algo


def test_winograd_falls_back_where_it_does_not_apply():
    """Forcing Winograd on a stride-2, dilated (padding other than the dilation) or 5x5 conv
    runs the direct algorithm."""
    rng = case_rng("winograd-fallback")
    x = rng.standard_normal((1, 8, 15, 17), dtype=np.float32)
    for k, s, d in ((3, 2, 1), (3, 1, 2), (5, 1, 1)):
        w = rng.standard_normal((8, 8, k, k), dtype=np.float32)
        y = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, s, 1, d).numpy()
        ours = ops.conv2d(x, w, None, s, 1, d, algorithm="winograd")
        np.testing.assert_allclose(ours, y, rtol=1e-4, atol=1e-4)


def test_bad_algorithm_names_the_argument():
    x = np.zeros((1, 1, 4, 4), np.float32)
    w = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="algorithm"):
        ops.conv2d(x, w, algorithm="fft")
