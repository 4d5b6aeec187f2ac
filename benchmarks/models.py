#!/usr/bin/env python3
"""Time the models at full size against PyTorch eager (and ONNX Runtime where it can run the
network), in the same run, and report peak memory.

Each measurement runs in its own process so that its peak RSS (ru_maxrss) is its own. Weights
are random (the speed of a network does not depend on its weight values), written in the
official layout and converted like a real checkpoint.

    python benchmarks/models.py                       # every model, 1280x720 and 640x360
    python benchmarks/models.py --models stfan --sizes 1280x720 --repeat 3 --threads 2

Prints one row per (model, size): median seconds per frame of each runtime, the ratio
torch/ours (> 1 means deblurcore is faster), and peak RSS in MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the PyTorch reference models used by the tests


# ---- model registry ---------------------------------------------------------------------
# Each entry: how to make our weights and the torch module, and how to run one frame.

def _stfan_torch(seed):
    from torch_models.stfan import DeblurNet, random_state_dict

    net = DeblurNet()
    net.load_state_dict(random_state_dict(seed))
    return net.eval()


class _StfanTorchRunner:
    """One recurrent step per call, with the state carried as the official test does."""

    def __init__(self, net):
        self.net, self.state = net, None

    def __call__(self, x):
        import torch

        with torch.no_grad():
            if self.state is None:
                self.state = (x, x, None)
            last_blur, last_out, last_fea = self.state
            out, fea = self.net(x, last_blur, last_out, last_fea)
            self.state = (x, out.clamp(0, 1), fea)
        return out


def _aspdc_torch(seed):
    from torch_models.aspdc import DeblurringNet, random_state_dict

    net = DeblurringNet()
    net.load_state_dict(random_state_dict(seed))
    return net.eval()


class _AspdcTorchRunner:
    """One image per call: [0, 1] RGB to the network's [-1, 1], raw output (spec §7)."""

    def __init__(self, net):
        self.net = net

    def __call__(self, x):
        import torch

        with torch.no_grad():
            return self.net(x * 2 - 1)[0]


def _ifan_torch(seed):
    from torch_models.ifan import Network, random_state_dict

    net = Network()
    net.load_state_dict(random_state_dict(seed=seed))
    return net.eval()


class _IfanTorchRunner:
    """One image per call: RGB in [0, 1], the raw output before the eval-mode clip."""

    def __init__(self, net):
        self.net = net

    def __call__(self, x):
        import torch

        with torch.no_grad():
            return self.net(x)


MODELS = {
    "stfan": {
        "arch": "stfan",
        "torch": _stfan_torch,
        "torch_runner": _StfanTorchRunner,
        "size_multiple": 4,
    },
    "ifan": {
        "arch": "ifan",
        "torch": _ifan_torch,
        "torch_runner": _IfanTorchRunner,
        "size_multiple": 8,
    },
    "aspdc": {
        "arch": "aspdc",
        "torch": _aspdc_torch,
        "torch_runner": _AspdcTorchRunner,
        "size_multiple": 4,
    },
}


# ---- workers (one process per measurement) ----------------------------------------------

def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _frame(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def worker_ours(args):
    import deblurcore

    h, w = args.height, args.width
    model = deblurcore.load_model(args.weights, num_threads=args.threads)
    frames = [_frame(h, w, s) for s in range(2)]
    times = []
    for i in range(args.warmup + args.repeat):
        t0 = time.perf_counter()
        model(frames[i % 2])
        times.append(time.perf_counter() - t0)
    return {"times": times[args.warmup:], "peak_rss_mb": _peak_rss_mb()}


def worker_torch(args):
    import torch

    torch.set_num_threads(args.threads)
    spec = MODELS[args.model]
    runner = spec["torch_runner"](spec["torch"](0))
    h, w = args.height, args.width
    frames = [torch.from_numpy(_frame(h, w, s)).permute(2, 0, 1)[None].contiguous() for s in range(2)]
    times = []
    for i in range(args.warmup + args.repeat):
        t0 = time.perf_counter()
        runner(frames[i % 2])
        times.append(time.perf_counter() - t0)
    return {"times": times[args.warmup:], "peak_rss_mb": _peak_rss_mb()}


WORKERS = {"ours": worker_ours, "torch": worker_torch}


# ---- driver -----------------------------------------------------------------------------

def _make_weights(arch, folder):
    from deblurcore.convert import convert_checkpoint, write_random_checkpoint

    ckpt = Path(folder) / f"{arch}.pth"
    out = Path(folder) / f"{arch}.safetensors"
    write_random_checkpoint(ckpt, arch=arch, seed=0)
    convert_checkpoint(ckpt, out, overwrite=True)
    return out


def _run_worker(kind, model, h, w, args, weights):
    cmd = [sys.executable, __file__, "--worker", kind, "--models", model, "--height", str(h),
           "--width", str(w), "--threads", str(args.threads), "--repeat", str(args.repeat),
           "--warmup", str(args.warmup), "--weights", str(weights)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--sizes", default="1280x720,640x360", help="WxH list")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--runtimes", default="ours,torch")
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--height", type=int, help=argparse.SUPPRESS)
    p.add_argument("--width", type=int, help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        args.model = args.models
        print(json.dumps(WORKERS[args.worker](args)))
        return 0

    runtimes = args.runtimes.split(",")
    print(f"threads={args.threads} repeat={args.repeat} (median s/frame; ratio = other / ours)")
    header = f"{'model':8} {'size':>10} " + " ".join(f"{r + ' s':>10} {r + ' MB':>9}" for r in runtimes)
    print(header + f" {'torch/ours':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            weights = _make_weights(MODELS[model]["arch"], tmp)
            for size in args.sizes.split(","):
                w, h = (int(v) for v in size.lower().split("x"))
                res = {r: _run_worker(r, model, h, w, args, weights) for r in runtimes}
                cells = []
                for r in runtimes:
                    if "error" in res[r]:
                        cells.append(f"{'error':>10} {'':>9}")
                    else:
                        cells.append(f"{statistics.median(res[r]['times']):10.3f} {res[r]['peak_rss_mb']:9.0f}")
                ratio = ""
                if all("error" not in res[r] for r in ("ours", "torch") if r in res) and "ours" in res and "torch" in res:
                    ratio = f"{statistics.median(res['torch']['times']) / statistics.median(res['ours']['times']):10.2f}"
                print(f"{model:8} {size:>10} " + " ".join(cells) + f" {ratio:>10}", flush=True)
                for r in runtimes:
                    if "error" in res[r]:
                        print(f"    {r}: {res[r]['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
