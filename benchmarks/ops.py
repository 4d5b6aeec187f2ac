"""Op benchmarks: deblurcore's CPU kernels against PyTorch in the same run.

    PYTHONPATH=build/NAME/python python3 benchmarks/ops.py [--threads 2] [--reps 7] [-k conv]

For each case it prints the median wall time of ours (deblurcore.ops on numpy arrays) and of
torch (same thread count, torch.set_num_threads), GFLOP/s (2 flops per multiply-add) and the
ratio torch_time / our_time (> 1: we are faster). Our time includes copying the numpy inputs
into tensors (the bindings copy each input once; the output is handed back without a copy);
the `copy` column is that copy timed alone, so ours minus copy is the kernel. Medians over
--reps runs after one warm-up; the machine is shared, so compare ratios from the same run.

Add a case by appending to CASES: a name and a function returning (ours, theirs, flops,
input arrays).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from deblurcore import ops


def _rand(rng, shape, scale=1.0):
    return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)


def conv_case(N, Cin, Cout, H, W, k, stride=1, padding=0, slope=None):
    def make(rng, threads):
        x = _rand(rng, (N, Cin, H, W))
        w = _rand(rng, (Cout, Cin, k, k), 0.05)
        b = _rand(rng, (Cout,), 0.1)
        xt, wt, bt = map(torch.from_numpy, (x, w, b))
        act = None if slope is None else "leaky_relu"
        Ho = (H + 2 * padding - k) // stride + 1
        Wo = (W + 2 * padding - k) // stride + 1

        def ours():
            return ops.conv2d(x, w, b, stride, padding, activation=act,
                              negative_slope=0.01 if slope is None else slope,
                              num_threads=threads)

        def theirs():
            y = F.conv2d(xt, wt, bt, stride, padding)
            return y if slope is None else F.leaky_relu(y, slope)

        return ours, theirs, 2.0 * N * Cout * Ho * Wo * Cin * k * k, (x, w, b)
    return make


def conv_transpose_case(N, Cin, Cout, H, W, k, stride, padding, slope=None):
    def make(rng, threads):
        x = _rand(rng, (N, Cin, H, W))
        w = _rand(rng, (Cin, Cout, k, k), 0.05)
        b = _rand(rng, (Cout,), 0.1)
        xt, wt, bt = map(torch.from_numpy, (x, w, b))
        act = None if slope is None else "leaky_relu"

        def ours():
            return ops.conv_transpose2d(x, w, b, stride, padding, activation=act,
                                        negative_slope=0.01 if slope is None else slope,
                                        num_threads=threads)

        def theirs():
            y = F.conv_transpose2d(xt, wt, bt, stride, padding)
            return y if slope is None else F.leaky_relu(y, slope)

        # Every input pixel meets every tap once.
        return ours, theirs, 2.0 * N * Cin * Cout * k * k * H * W, (x, w, b)
    return make


def fac_case(N, C, H, W, k):
    def make(rng, threads):
        x = _rand(rng, (N, C, H, W))
        kern = _rand(rng, (N, C * k * k, H, W), 0.2)
        xt, kt = torch.from_numpy(x), torch.from_numpy(kern)
        r = (k - 1) // 2

        def ours():
            return ops.fac(x, kern, k, num_threads=threads)

        def theirs():
            # The usual PyTorch formulation: replicate pad, unfold, weight, sum over taps.
            cols = F.unfold(F.pad(xt, (r, r, r, r), mode="replicate"), k)
            cols = cols.view(N, C, k * k, H, W)
            return (cols * kt.view(N, C, k * k, H, W)).sum(2)

        return ours, theirs, 2.0 * N * C * k * k * H * W, (x, kern)
    return make


CASES = [
    ("conv2d 3x3 64->64 1x64x360x640 lrelu", conv_case(1, 64, 64, 360, 640, 3, 1, 1, 0.1)),
    ("conv2d 3x3 s2 64->128 1x64x360x640", conv_case(1, 64, 128, 360, 640, 3, 2, 1, 0.1)),
    ("conv2d 3x3 3->32 1x3x720x1280", conv_case(1, 3, 32, 720, 1280, 3, 1, 1, 0.1)),
    ("conv2d 1x1 128->3200 1x128x180x320", conv_case(1, 128, 3200, 180, 320, 1)),
    ("conv2d 1x1 3200->128 1x3200x180x320", conv_case(1, 3200, 128, 180, 320, 1)),
    ("conv_t 4x4 s2 p1 256->64 1x256x90x160",
     conv_transpose_case(1, 256, 64, 90, 160, 4, 2, 1, 0.1)),
    ("conv_t 4x4 s2 p1 64->32 1x64x180x320",
     conv_transpose_case(1, 64, 32, 180, 320, 4, 2, 1, 0.1)),
    ("fac k=5 1x128x180x320", fac_case(1, 128, 180, 320, 5)),
]


def _median_time(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("-k", default="", help="run only the cases whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    print(f"threads={args.threads} reps={args.reps} torch {torch.__version__}")
    header = (f"{'case':42s} {'ours ms':>9s} {'copy ms':>8s} {'torch ms':>9s} "
              f"{'ours GF/s':>9s} {'torch GF/s':>10s} {'torch/ours':>10s}")
    print(header)
    print("-" * len(header))
    for name, make in CASES:
        if args.k not in name:
            continue
        ours, theirs, flops, inputs = make(rng, args.threads)
        t_copy = _median_time(lambda: [np.array(a, copy=True) for a in inputs], args.reps)
        t_ours = _median_time(ours, args.reps)
        t_torch = _median_time(theirs, args.reps)
        print(f"{name:42s} {t_ours * 1e3:9.1f} {t_copy * 1e3:8.1f} {t_torch * 1e3:9.1f} "
              f"{flops / t_ours / 1e9:9.2f} {flops / t_torch / 1e9:10.2f} "
              f"{t_torch / t_ours:10.2f}")


if __name__ == "__main__":
    main()
