#!/usr/bin/env python3
"""Per-op time and memory of one model frame, with each op's memory- or compute-bound limit.

    python -m benchmarks.profile --model stfan --size 1280x720
    python -m benchmarks.profile --model ifan --size 640x360 --top 30 --calls
    python -m benchmarks.profile --load before.json --compare after.json

Loads the model (random weights in the official layout) with an op profiler on its Context
(deblurcore/profiler.h: op name, argument shapes, wall time, allocator bytes after the op),
runs --warmup frames (STFAN: the recurrence then carries a real feature), clears the records
and profiles one more frame. Rows group the calls of one op on one set of shapes.

Limits: each row's `bound ms` is the larger of
  * bytes / bandwidth: the bytes of its arguments and output, each read or written once,
    over the bandwidth of a STREAM-like probe run first (torch add of two 256 MiB arrays into
    a third, same thread count: 3 arrays' bytes per pass, as STREAM counts);
  * FLOPs / GEMM ceiling for the convolutions (2 * MACs of the dense conv), over the rate of
    a large fp32 matmul in torch on the same threads (the machine's practical fp32 peak).
`eff` = bound / measured: 1.0 is at the limit; `rate` is what the op achieved, in the unit of
its limit (GF/s for the convolutions, GB/s for the rest). The allocator columns show where the frame's
memory goes (with --calls): `live MB` in use and `held MB` (live + cached blocks) after each op,
and the op after which the most is live.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPE_RE = re.compile(r"([A-Za-z_]+)\(([\d, ]*)\)")


def parse_shapes(text):
    out = {}
    for name, dims in SHAPE_RE.findall(text):
        out[name] = tuple(int(d) for d in dims.split(",") if d.strip())
    return out


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def op_flops(op, shapes):
    """2 * MACs of the dense computation, or 0 for memory-bound ops."""
    w, out = shapes.get("weight"), shapes.get("out")
    if w is None or out is None:
        return 0
    if op in ("conv2d", "deform_conv2d"):  # weight (Cout, Cin, kh, kw), out (N, Cout, Ho, Wo)
        return 2 * numel(out) * w[1] * w[2] * w[3]
    if op == "conv_transpose2d":  # weight (Cin, Cout, kh, kw), every input pixel scatters
        x = shapes["x"]
        return 2 * numel(x) * w[1] * w[2] * w[3]
    if op == "linear":
        return 2 * numel(out) * w[1]
    return 0


def op_bytes(op, shapes):
    """Bytes read and written once: the arguments and the output (concat: every input;
    weighted_sum: every input, not only the `first` one its record names)."""
    if op == "concat":
        return 2 * 4 * numel(shapes["out"])
    if op == "weighted_sum":  # weights (N, B, H, W): B inputs shaped like `first`
        b = shapes["weights"][1]
        return 4 * (b * numel(shapes["first"]) + numel(shapes["weights"]) + numel(shapes["out"]))
    return 4 * sum(numel(s) for s in shapes.values())


def stream_probe(threads, mib=256, repeat=5):
    """GB/s of c = a + b over three arrays of `mib` MiB (STREAM's add), median of repeats."""
    import torch

    torch.set_num_threads(threads)
    n = mib * 2**20 // 4
    a, b, c = (torch.full((n,), v, dtype=torch.float32) for v in (1.0, 2.0, 0.0))
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        torch.add(a, b, out=c)
        times.append(time.perf_counter() - t0)
    return 3 * 4 * n / sorted(times[1:])[len(times[1:]) // 2] / 1e9


def gemm_probe(threads, n=2048, repeat=5):
    """GFLOP/s of an fp32 n x n x n matmul (torch, its best CPU kernel), median of repeats."""
    import torch

    torch.set_num_threads(threads)
    a = torch.rand(n, n)
    b = torch.rand(n, n)
    c = torch.empty(n, n)
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / sorted(times[1:])[len(times[1:]) // 2] / 1e9


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def profile(args):
    from deblurcore import _core
    from deblurcore.convert import write_random_weights

    w, h = (int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        weights = write_random_weights(Path(tmp) / "m.safetensors", arch=args.model, seed=0)
        prof = _core.OpProfiler()
        rss0 = rss_mb()
        model = _core.load_model_profiled(str(weights), "cpu", args.threads, prof, args.precision)
        rss_loaded = rss_mb()
        frames = [rng.random((h, w, 3), dtype=np.float32) for _ in range(2)]
        for i in range(args.warmup):
            model.process(frames[i % 2])
        prof.clear()
        t0 = time.perf_counter()
        model.process(frames[args.warmup % 2])
        frame_s = time.perf_counter() - t0
        records = prof.records()
        rss_after = rss_mb()
        del model
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return records, frame_s, rss0, rss_loaded, rss_after, peak_rss


def table_rows(records, bw, gflops):
    """Rows (sec, op, shapes, calls, flops, bytes, bound sec) per op and shapes, slowest first,
    and the total op time."""
    groups = collections.OrderedDict()
    for op, shape, sec, *_ in records:
        g = groups.setdefault((op, shape), [0, 0.0])
        g[0] += 1
        g[1] += sec
    rows = []
    for (op, shape), (calls, sec) in groups.items():
        shapes = parse_shapes(shape)
        flops, nbytes = op_flops(op, shapes) * calls, op_bytes(op, shapes) * calls
        bound = max(flops / (gflops * 1e9), nbytes / (bw * 1e9))
        rows.append((sec, op, shape, calls, flops, nbytes, bound))
    rows.sort(reverse=True)
    return rows, sum(r[2] for r in records)


def rate(flops, nbytes, sec, bw, gflops):
    """What the op achieved, in the unit of its limit: GF/s if compute-bound, else GB/s."""
    if not sec:
        return "-"
    if flops / (gflops * 1e9) >= nbytes / (bw * 1e9):
        return f"{flops / sec / 1e9:.1f} GF/s"
    return f"{nbytes / sec / 1e9:.1f} GB/s"


def compare(path_a, path_b, top):
    """Two --save files side by side: per row, each run's time, % of its frame, rate and
    efficiency (each against its own run's probes), matched by op and shapes."""
    runs = []
    for path in (path_a, path_b):
        saved = json.loads(Path(path).read_text())
        records, frame_s, *_ = saved["run"]
        rows, total = table_rows(records, saved["bw"], saved["gflops"])
        runs.append((saved, {(r[1], r[2]): r for r in rows}, total, frame_s))
        print(
            f"{path}: {saved['model']} {saved['size']} threads={saved['threads']}: frame "
            f"{frame_s:.3f} s, ops {total:.3f} s; probes {saved['bw']:.1f} GB/s, "
            f"{saved['gflops']:.0f} GFLOP/s; load {'/'.join(f'{v:.2f}' for v in saved['load0'])}"
            f" -> {'/'.join(f'{v:.2f}' for v in saved['load1'])}; peak RSS {saved['run'][5]:.0f} MB"
        )
    (sa, ra, ta, _), (sb, rb, tb, _) = runs
    keys = sorted(set(ra) | set(rb), key=lambda k: -max(ra.get(k, (0,))[0], rb.get(k, (0,))[0]))
    print(
        f"{'A ms':>8} {'A %':>5} {'A rate':>10} {'A eff':>5} | {'B ms':>8} {'B %':>5} "
        f"{'B rate':>10} {'B eff':>5} | {'bound ms A/B':>13}  op  shapes"
    )

    def cells(row, total, saved):
        if row is None:
            return f"{'-':>8} {'-':>5} {'-':>10} {'-':>5}", "-"
        sec, _op, _shape, _calls, flops, nbytes, bound = row
        r = rate(flops, nbytes, sec, saved["bw"], saved["gflops"])
        return (
            f"{1e3 * sec:8.1f} {100 * sec / total:5.1f} {r:>10} {bound / sec if sec else 0:5.2f}",
            f"{1e3 * bound:.1f}",
        )

    for key in keys[:top]:
        a, bound_a = cells(ra.get(key), ta, sa)
        b, bound_b = cells(rb.get(key), tb, sb)
        print(f"{a} | {b} | {bound_a + '/' + bound_b:>13}  {key[0]}  {key[1]}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="stfan", choices=["stfan", "ifan", "aspdc"])
    p.add_argument("--size", default="1280x720", help="WxH (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--warmup", type=int, default=1, help="frames before the profiled one")
    p.add_argument("--top", type=int, default=40, help="rows to print (default: %(default)s)")
    p.add_argument("--calls", action="store_true", help="also print every call in order")
    p.add_argument("--save", help="also write the measurements to this JSON file")
    p.add_argument("--load", help="print the tables of a --save file instead of measuring")
    p.add_argument(
        "--compare",
        help="with --load: a second --save file (e.g. after a change); prints both runs' time "
        "and efficiency per row, side by side",
    )
    args = p.parse_args(argv)

    if args.compare:
        if not args.load:
            p.error("--compare needs --load")
        return compare(args.load, args.compare, args.top)
    if args.load:
        saved = json.loads(Path(args.load).read_text())
        args.model, args.size, args.threads = saved["model"], saved["size"], saved["threads"]
        bw, gflops, load0, load1 = saved["bw"], saved["gflops"], saved["load0"], saved["load1"]
        records, frame_s, rss0, rss_loaded, rss_after, peak_rss = saved["run"]
        args.precision = saved.get("precision", "fp32")
    else:
        load0 = os.getloadavg()
        bw, gflops = stream_probe(args.threads), gemm_probe(args.threads)
        records, frame_s, rss0, rss_loaded, rss_after, peak_rss = profile(args)
        load1 = os.getloadavg()
    if args.save:
        Path(args.save).write_text(json.dumps({
            "model": args.model, "size": args.size, "precision": args.precision,
            "threads": args.threads, "bw": bw,
            "gflops": gflops, "load0": load0, "load1": load1,
            "run": [records, frame_s, rss0, rss_loaded, rss_after, peak_rss],
        }))

    print(
        f"{args.model} {args.size} {args.precision} threads={args.threads}: frame {frame_s:.3f} s; "
        f"probes: {bw:.1f} GB/s (torch add), {gflops:.0f} GFLOP/s (torch mm); "
        f"load {'/'.join(f'{v:.2f}' for v in load0)} -> {'/'.join(f'{v:.2f}' for v in load1)}"
    )
    print(
        f"RSS: {rss0:.0f} MB before load, {rss_loaded:.0f} MB loaded, {rss_after:.0f} MB after "
        f"the frames; peak {peak_rss:.0f} MB"
    )

    rows, total = table_rows(records, bw, gflops)
    peak_op, last_peak = None, -1
    peak_live = 0
    for op, shape, _sec, live, _held, peak, _plive in records:
        if live > peak_live:
            peak_op, peak_live = (op, shape), live
        last_peak = max(last_peak, peak)
    print(
        f"ops: {len(records)} calls, {total:.3f} s of the {frame_s:.3f} s frame "
        f"({100 * total / frame_s:.0f}%); allocator: {last_peak / 2**20:.0f} MB held at most, "
        f"{records[-1][6] / 2**20 if records else 0:.0f} MB live at most (inside ops), "
        f"{peak_live / 2**20:.0f} MB live after an op at most, after "
        f"{peak_op[0] if peak_op else '-'} {peak_op[1] if peak_op else ''}"
    )
    print(
        f"{'ms':>8} {'%':>5} {'calls':>5} {'GFLOP':>7} {'MB':>7} {'rate':>10} {'bound ms':>8} "
        f"{'eff':>5}  op  shapes"
    )
    for sec, op, shape, calls, flops, nbytes, bound in rows[: args.top]:
        print(
            f"{1e3 * sec:8.1f} {100 * sec / total:5.1f} {calls:5d} {flops / 1e9:7.1f} "
            f"{nbytes / 2**20:7.0f} {rate(flops, nbytes, sec, bw, gflops):>10} {1e3 * bound:8.1f} "
            f"{bound / sec if sec else 0:5.2f}  {op}  {shape}"
        )
    by_op = collections.Counter()
    for sec, op, *_ in rows:
        by_op[op] += sec
    print("per op: " + ", ".join(f"{op} {1e3 * s:.0f} ms" for op, s in by_op.most_common()))
    if args.calls:
        print(f"{'ms':>8} {'live MB':>8} {'held MB':>8} {'peak MB':>8}  op  shapes")
        for op, shape, sec, live, held, peak, _ in records:
            print(
                f"{1e3 * sec:8.1f} {live / 2**20:8.0f} {held / 2**20:8.0f} {peak / 2**20:8.0f}"
                f"  {op}  {shape}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
