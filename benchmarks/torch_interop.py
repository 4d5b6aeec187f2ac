"""deblurcore.torch against the pure-PyTorch formulations: forward + backward at training sizes.

    PYTHONPATH=build/NAME/python python -m benchmarks.torch_interop [--threads 2] [--reps 3]

For each op, one training step's worth of work (forward, then backward of ``out.sum()`` into
every input) is timed for ours (deblurcore.torch) and for the pure-PyTorch formulation of the
test suite (the official formulations):

* FAC: replicate pad + ``F.unfold`` + multiply + sum (STFAN's pure-PyTorch layer);
* IAC: pad + ``unfold`` + multiply + sum per pass (the official IFAN code, tests/test_iac.py);
* DCNv2: ``torchvision.ops.deform_conv2d`` when torchvision is installed, else the gather-based
  formulation of tests/torch_models/aspdc.py.

Each (op, implementation) runs in a fresh subprocess with the same thread count
(``torch.set_num_threads``): median wall time over --reps steps after one warm-up, and peak
memory = the process's peak RSS over the warm-up and the timed steps minus its RSS with the
inputs allocated (the kernel resets the peak through /proc/self/clear_refs): what one training
step needs beyond its inputs. The machine may be shared: compare
the two rows of one op from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CASES = {
    # op: (description, sizes)
    "fac": "FAC x 4x128x64x64, kernel 4x(128*25)x64x64, k=5",
    "iac": "IAC x 4x64x64x64, filters 4x(2*64*11)x64x64, 2 iterations, k=5",
    "dcn": "DCNv2 x 4x64x64x64 -> 64 channels, 3x3, pad 1, mask, 1 offset group",
}


def _inputs(op):
    import torch

    g = torch.Generator().manual_seed(0)
    if op == "fac":
        return (torch.randn(4, 128, 64, 64, generator=g),
                torch.randn(4, 128 * 25, 64, 64, generator=g) / 25)
    if op == "iac":
        return (torch.randn(4, 64, 64, 64, generator=g),
                torch.randn(4, 2 * 64 * 11, 64, 64, generator=g) * 0.3)
    shape = (4, 18, 64, 64)
    return (torch.randn(4, 64, 64, 64, generator=g), torch.randn(*shape, generator=g) * 2,
            torch.rand(4, 9, 64, 64, generator=g), torch.randn(64, 64, 3, 3, generator=g) / 24,
            torch.randn(64, generator=g))


def _function(op, impl):
    """(callable, name of the implementation)."""
    if impl == "ours":
        import deblurcore.torch as dt

        return {
            "fac": (lambda x, k: dt.fac(x, k, 5), "deblurcore.torch"),
            "iac": (lambda x, f: dt.iac(x, f, 2, 5), "deblurcore.torch"),
            "dcn": (lambda x, o, m, w, b: dt.deform_conv2d(x, o, m, w, b, 1, 1, 1),
                    "deblurcore.torch"),
        }[op]
    if op == "fac":
        from tests.torch_models.stfan import fac_reference

        return (lambda x, k: fac_reference(x, k, 5)), "torch unfold"
    if op == "iac":
        from tests.test_iac import iac_torch

        return (lambda x, f: iac_torch(x, f, 2, 5)), "torch unfold (official)"
    try:
        from torchvision.ops import deform_conv2d as tv_deform

        return (lambda x, o, m, w, b: tv_deform(x, o, w, b, 1, 1, 1, m)), "torchvision"
    except ImportError:
        from tests.torch_models.aspdc import modulated_deform_conv2d

        return (lambda x, o, m, w, b: modulated_deform_conv2d(x, o, w, b, 1, 1, 1, m),
                "torch gather")


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _child(op, impl, threads, reps):
    import torch

    torch.set_num_threads(threads)
    fn, name = _function(op, impl)
    inputs = [t.requires_grad_() for t in _inputs(op)]

    def step():
        for t in inputs:
            t.grad = None
        fn(*inputs).sum().backward()

    # Peak over the warm-up and the timed steps: memory a step frees may stay with the
    # process (malloc keeps it), so the first step is where a step's footprint shows.
    base = _rss_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
    except OSError:
        pass
    step()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak = _rss_kib("VmHWM")
    print(json.dumps({"name": name, "median_s": statistics.median(times),
                      "peak_mib": max(0, peak - base) / 1024}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("-k", default="", help="run only the ops whose name contains this")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child, args.threads, args.reps)
        return
    print(f"threads {args.threads}, median of {args.reps} forward+backward steps, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| op | implementation | median fwd+bwd (s) | peak memory (MiB) | time vs ours |")
    print("|---|---|---|---|---|")
    for op, what in CASES.items():
        if args.k not in op:
            continue
        rows = []
        for impl in ("ours", "torch"):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.torch_interop", "--child", op, impl,
                 "--threads", str(args.threads), "--reps", str(args.reps)],
                capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        ours = rows[0]["median_s"]
        for r in rows:
            print(f"| {what} | {r['name']} | {r['median_s']:.3f} | {r['peak_mib']:.0f} | "
                  f"{r['median_s'] / ours:.2f}x |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
