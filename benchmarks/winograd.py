"""Winograd F(4x4, 3x3) against the direct convolution, per layer of the four models.

    PYTHONPATH=build/NAME/python python -m benchmarks.winograd [--threads 2] [--reps 3]
        [--accuracy-only] [--timing-only] [--precision bf16]

With --precision bf16 our two columns are the bf16 kernels (direct bf16 GEMM and bf16
Winograd, CPUs with AVX512_BF16), and the timing adds the float Winograd for comparison.

1. The transform matrices are re-derived from the interpolation points in exact rational
   arithmetic (the Toom-Cook construction for correlation, as in cpp/cpu/conv_winograd.h)
   and checked against the scaled matrices the kernel uses.
2. Accuracy: for each layer shape (at a reduced spatial size), the relative error of our
   Winograd and of our direct convolution against a float64 convolution:
   max|y - y64| / max|y64| and rms(y - y64) / rms(y64). Weights follow PyTorch's default
   initialisation (uniform, bound 1/sqrt(fan_in)), inputs are LeakyReLU(0.1) features of
   standard normal data (an image in [0, 1] for 3 input channels). For comparison the same
   errors of a float32 emulation (numpy) of F(4x4, 3x3) with the points of Lavin & Gray
   (0, +-1, +-2, inf) and with ours (0, +-1, +-1/2, inf).
3. Timing: each layer at its 1280x720 size, Winograd and direct interleaved in one process,
   median of --reps runs after a warm-up, GFLOP/s effective = 2 * Cin * Cout * 9 * Hout * Wout
   / time (the direct convolution's flops for both). Times include the binding's copy of the
   input into a tensor (the same for both); the machine is shared, so the load average is
   printed with every row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from fractions import Fraction

import numpy as np

from deblurcore import ops

# (name, Cin, Cout, Hout, Wout at 1280x720): the 3x3 stride-1 dilation-1 layers of the
# models (STFAN, IFAN, ASPDC share most shapes).
LAYERS = [
    ("first conv (all)", 3, 32, 720, 1280),
    ("32->32 H (STFAN, IFAN)", 32, 32, 720, 1280),
    ("64->64 H/2 (STFAN, IFAN)", 64, 64, 360, 640),
    ("128->128 H/4 (all)", 128, 128, 180, 320),
    ("256->128 H/4 (STFAN fea, IFAN)", 256, 128, 180, 320),
    ("128->128 H/8 (IFAN)", 128, 128, 90, 160),
    ("128->27 H/4 (ASPDC offsets+mask)", 128, 27, 180, 320),
    ("32->3 H (last conv)", 32, 3, 720, 1280),
    ("32->9 H (STFAN)", 32, 9, 720, 1280),
]


def derive(points):
    """B^T, G, A^T of F(4, 3) for the finite points (and infinity), exact fractions."""
    n, m, r = 6, 4, 3
    vand = [[p**j for j in range(n)] for p in points] + [[0] * (n - 1) + [1]]
    # Invert the Vandermonde matrix (Gauss-Jordan on fractions).
    a = [[Fraction(v) for v in row] + [Fraction(int(i == j)) for j in range(n)]
         for i, row in enumerate(vand)]
    for c in range(n):
        piv = next(i for i in range(c, n) if a[i][c] != 0)
        a[c], a[piv] = a[piv], a[c]
        a[c] = [v / a[c][c] for v in a[c]]
        for i in range(n):
            if i != c and a[i][c] != 0:
                a[i] = [vi - a[i][c] * vc for vi, vc in zip(a[i], a[c])]
    inv = [row[n:] for row in a]
    bt = [[inv[j][i] for j in range(n)] for i in range(n)]  # V^{-T}
    g = [[Fraction(p) ** k for k in range(r)] for p in points] + [[0, 0, 1]]
    at = [[Fraction(p) ** i for p in points] + [int(i == m - 1)] for i in range(m)]
    return bt, g, at


def _f(mat):
    return np.array([[float(v) for v in row] for row in mat])


OURS_POINTS = [0, 1, -1, Fraction(1, 2), Fraction(-1, 2)]
LAVIN_POINTS = [0, 1, -1, 2, -2]
# The scaled matrices of cpp/cpu/conv_winograd.h.
BT = np.array([[1, 0, -5, 0, 4, 0], [0, -1, -1, 4, 4, 0], [0, 1, -1, -4, 4, 0],
               [0, 1, 2, -1, -2, 0], [0, -1, 2, 1, -2, 0], [0, 1, 0, -5, 0, 4]], np.float64)
G = np.array([[1, 0, 0], [1 / 6, 1 / 6, 1 / 6], [1 / 6, -1 / 6, 1 / 6], [4 / 3, 2 / 3, 1 / 3],
              [4 / 3, -2 / 3, 1 / 3], [0, 0, 1 / 4]], np.float64)
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 1 / 2, -1 / 2, 0], [0, 1, 1, 1 / 4, 1 / 4, 0],
               [0, 1, -1, 1 / 8, -1 / 8, 1]], np.float64)


def check_matrices():
    bt, g, at = derive(OURS_POINTS)
    bt, g, at = _f(bt), _f(g), _f(at)
    # Same up to a scaling of each point: B^T row j * s_j, G row j / s_j.
    s = BT[:, :] @ np.linalg.pinv(bt)
    assert np.allclose(s, np.diag(np.diag(s))), "B^T rows are not a scaling of the derived ones"
    assert np.allclose(np.diag(1 / np.diag(s)) @ g, G), "G does not match the derived one"
    assert np.allclose(at, AT), "A^T does not match the derived one"
    print("matrices: the kernel's B^T, G, A^T are the derived ones up to row scaling: ok")


def emulate_f32(x, w, bt, g, at):
    """F(4x4, 3x3) in float32 numpy (padding 1), for comparing point sets."""
    bt, g, at = (m.astype(np.float32) for m in (bt, g, at))
    N, C, H, W = x.shape
    th, tw = -(-H // 4), -(-W // 4)
    xp = np.zeros((N, C, 4 * th + 2, 4 * tw + 2), np.float32)
    xp[:, :, 1:1 + H, 1:1 + W] = x
    idx_y = (4 * np.arange(th))[:, None] + np.arange(6)[None, :]
    idx_x = (4 * np.arange(tw))[:, None] + np.arange(6)[None, :]
    d = xp[:, :, idx_y[:, None, :, None], idx_x[None, :, None, :]]  # N C th tw 6 6
    v = np.einsum("ab,ncyxbd,ed->ncyxae", bt, d, bt, optimize=True).astype(np.float32)
    u = np.einsum("ab,ocbd,ed->ocae", g.astype(np.float64), w.astype(np.float64),
                  g.astype(np.float64)).astype(np.float32)
    m = np.einsum("ncyxae,ocae->noyxae", v, u, optimize=True).astype(np.float32)
    y = np.einsum("ia,noyxae,je->noyixj", at, m, at, optimize=True).astype(np.float32)
    return y.reshape(N, -1, 4 * th, 4 * tw)[:, :, :H, :W]


def _errors(y, ref):
    e = y.astype(np.float64) - ref
    return np.abs(e).max() / np.abs(ref).max(), np.sqrt((e**2).mean() / (ref**2).mean())


def accuracy(threads, precision="fp32"):
    import torch
    import torch.nn.functional as F

    lavin = [_f(m) for m in derive(LAVIN_POINTS)]
    rng = np.random.default_rng(0)
    print("\nrelative error vs float64 conv, max|err|/max|y| (rms err/rms y); "
          "48x80 outputs, weights U(+-1/sqrt(9 Cin))")
    print(f"{'layer':34s} {'ours direct ' + precision:>20s} {'ours Winograd ' + precision:>20s} "
          f"{'emul. pts +-1/2':>20s} {'emul. pts +-2':>20s}")
    for name, cin, cout, _, _ in LAYERS:
        H, W = 48, 80
        if cin == 3:
            x = rng.uniform(0, 1, (1, cin, H, W)).astype(np.float32)
        else:
            x = rng.standard_normal((1, cin, H, W)).astype(np.float32)
            x = np.where(x > 0, x, 0.1 * x).astype(np.float32)
        bound = 1 / np.sqrt(9 * cin)
        w = rng.uniform(-bound, bound, (cout, cin, 3, 3)).astype(np.float32)
        ref = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                       padding=1).numpy()
        cols = []
        for algo in ("direct", "winograd"):
            y = ops.conv2d(x, w, None, 1, 1, algorithm=algo, num_threads=threads,
                           precision=precision)
            cols.append(_errors(y, ref))
        cols.append(_errors(emulate_f32(x, w, BT, G, AT), ref))
        cols.append(_errors(emulate_f32(x, w, *lavin), ref))
        print(f"{name:34s} " + " ".join(f"{a:9.2e} ({b:8.2e})" for a, b in cols), flush=True)


def timing(threads, reps, precision="fp32"):
    rng = np.random.default_rng(1)
    runs = [("direct", "direct", precision), ("wino", "winograd", precision)]
    if precision != "fp32":
        runs.append(("wino32", "winograd", "fp32"))
    print(f"\ntiming at 1280x720 sizes, {threads} threads, median of {reps}, {precision}")
    print(f"{'layer':34s} " + " ".join(f"{lbl + ' ms':>10s} {'GF/s':>6s}" for lbl, _, _ in runs)
          + f" {'speedup':>8s} {'load':>6s}")
    for name, cin, cout, H, W in LAYERS:
        x = rng.standard_normal((1, cin, H, W)).astype(np.float32)
        w = (rng.standard_normal((cout, cin, 3, 3)) * 0.05).astype(np.float32)
        flops = 2.0 * cin * cout * 9 * H * W
        times = {lbl: [] for lbl, _, _ in runs}
        for rep in range(reps + 1):
            for lbl, algo, prec in runs:
                t0 = time.perf_counter()
                ops.conv2d(x, w, None, 1, 1, algorithm=algo, num_threads=threads,
                           precision=prec)
                if rep:
                    times[lbl].append(time.perf_counter() - t0)
        med = [statistics.median(times[lbl]) for lbl, _, _ in runs]
        print(f"{name:34s} " + " ".join(f"{t * 1e3:10.1f} {flops / t / 1e9:6.0f}" for t in med)
              + f" {med[0] / med[1]:8.2f} {os.getloadavg()[0]:6.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--accuracy-only", action="store_true")
    ap.add_argument("--timing-only", action="store_true")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = ap.parse_args()
    check_matrices()
    if not args.timing_only:
        accuracy(args.threads, args.precision)
    if not args.accuracy_only:
        timing(args.threads, args.reps, args.precision)


if __name__ == "__main__":
    main()
