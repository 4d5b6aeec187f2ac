"""The measurements of the model benchmark (see :mod:`benchmarks.models`), one process each:
the driver runs ``python -m benchmarks.models --worker KIND ...``, which calls ``WORKERS[KIND]``
and prints its result as one line of JSON."""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from .model_registry import MODELS, _AspdcTorchRunner, _export, _ort_session, _torch_net


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _frame(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def _nchw(frame):
    return np.ascontiguousarray(frame.transpose(2, 0, 1)[None])


def _time_frames(run, frames, args):
    times = []
    for i in range(args.warmup + args.repeat):
        t0 = time.perf_counter()
        run(frames[i % 2])
        times.append(time.perf_counter() - t0)
    return times[args.warmup :]


def _image01(model, raw):
    """A raw network output as the image in [0, 1] the model's users get."""
    if model == "aspdc":
        return (np.clip(raw, -1, 1) + 1) / 2
    return np.clip(raw, 0, 1)


def _check_error(model, out, args):
    """max |out - torch| on the image of the check step, or None without a torch check."""
    if not args.check_ref or not Path(args.check_ref).exists():
        return None
    ref = np.load(args.check_ref)["ref"]
    return float(np.abs(_image01(model, out) - _image01(model, ref)).max())


def worker_ours(args):
    import deblurcore

    h, w = args.height, args.width
    precision = "bf16" if args.worker == "ours-bf16" else args.precision
    model = deblurcore.load_model(args.weights, num_threads=args.threads, precision=precision)
    frames = [_frame(h, w, s) for s in range(2)]
    result = {"times": _time_frames(model, frames, args), "peak_rss_mb": _peak_rss_mb()}
    if args.check_ref and Path(args.check_ref).exists():
        core, d = model._core, np.load(args.check_ref)
        core.reset()
        if args.model == "stfan":  # the same two steps the torch worker ran
            core.forward(d["x0"])
            out = core.forward(d["x1"])
        elif args.model == "aspdc":  # native input: [-1, 1]
            out = core.forward(d["x1"] * 2 - 1)
        else:
            out = core.forward(d["x1"])
        result["err"] = _check_error(args.model, out, args)
    return result


def worker_torch(args):
    import torch

    torch.set_num_threads(args.threads)
    spec = MODELS[args.model]
    net = _torch_net(args.model, args.weights)
    runner = spec["torch_runner"](net)
    frames = [torch.from_numpy(_nchw(_frame(args.height, args.width, s))) for s in range(2)]
    result = {"times": _time_frames(runner, frames, args), "peak_rss_mb": _peak_rss_mb()}
    if args.check_ref:
        # The check step: stfan's second frame of a clip (its state saved for the graph
        # runtimes, whose first frame cannot start the recurrence as the model does).
        x0, x1 = frames
        with torch.no_grad():
            if args.model == "stfan":
                out0, fea0 = net(x0, x0, x0, None)
                feeds = (x1, x0, out0.clamp(0, 1), fea0)
                ref = net(*feeds)[0]
            else:
                feeds, ref = (x1,), spec["torch_runner"](net)(x1)
        np.savez(
            args.check_ref,
            x0=x0.numpy(),
            x1=x1.numpy(),
            ref=ref.numpy(),
            **{f"feed{i}": f.numpy() for i, f in enumerate(feeds)},
        )
        result["err"] = 0.0
    return result


def worker_ort_export(args):
    import torch

    torch.set_num_threads(args.threads)
    return {
        "export_s": _export(
            args.model, args.height, args.width, args.onnx, args.ort_fac, args.weights
        )
    }


def _graph_check(sess, args):
    """Run the saved check step through a graph session; its error against torch."""
    if not args.check_ref or not Path(args.check_ref).exists():
        return None
    d = np.load(args.check_ref)
    feeds = [d[f"feed{i}"] for i in range(len(sess.get_inputs()))]
    names = [i.name for i in sess.get_inputs()]
    out = sess.run(None, dict(zip(names, feeds)))[0]
    return _check_error(args.model, out, args)


def worker_ort(args):
    t0 = time.perf_counter()
    sess = _ort_session(args.onnx, args.threads)
    session_s = time.perf_counter() - t0
    runner = MODELS[args.model]["ort_runner"](sess)
    frames = [_nchw(_frame(args.height, args.width, s)) for s in range(2)]
    return {
        "times": _time_frames(runner, frames, args),
        "peak_rss_mb": _peak_rss_mb(),
        "session_s": session_s,
        "err": _graph_check(sess, args),
    }


class _OvSession:
    """An OpenVINO compiled model behind the small part of ONNX Runtime's session API the
    runners use (get_inputs()[i].name, run(None, feeds) -> outputs)."""

    class _Input:
        def __init__(self, name):
            self.name = name

    def __init__(self, compiled):
        self.compiled = compiled
        self.request = compiled.create_infer_request()

    def get_inputs(self):
        return [self._Input(i.get_any_name()) for i in self.compiled.inputs]

    def run(self, _names, feeds):
        self.request.infer(feeds)
        return [
            self.request.get_output_tensor(i).data.copy()
            for i in range(len(self.compiled.outputs))
        ]


def worker_ov(args):
    import openvino as ov

    config = {
        "INFERENCE_NUM_THREADS": args.threads,
        "PERFORMANCE_HINT": "LATENCY",
    }
    if args.worker == "ov":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    t0 = time.perf_counter()
    compiled = ov.Core().compile_model(str(args.onnx), "CPU", config)
    session_s = time.perf_counter() - t0
    precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    sess = _OvSession(compiled)
    runner = MODELS[args.model]["ort_runner"](sess)
    frames = [_nchw(_frame(args.height, args.width, s)) for s in range(2)]
    return {
        "times": _time_frames(runner, frames, args),
        "peak_rss_mb": _peak_rss_mb(),
        "session_s": session_s,
        "precision": precision,
        "err": _graph_check(sess, args),
    }


def worker_ort_check(args):
    """Export at a small size and compare ONNX Runtime with the torch model on the same
    inputs: for stfan the second step of a clip (a carried feature of the real scale)."""
    import torch

    torch.set_num_threads(args.threads)
    h, w = args.height, args.width
    net = MODELS[args.model]["torch"](0)
    x0, x1 = (torch.from_numpy(_nchw(_frame(h, w, s))) for s in (0, 1))
    with torch.no_grad():
        if args.model == "stfan":
            out0, fea0 = net(x0, x0, x0, None)
            feeds = (x1, x0, out0.clamp(0, 1), fea0)
            refs = net(*feeds)
        elif args.model == "aspdc":
            feeds, refs = (x1,), (_AspdcTorchRunner(net)(x1),)
        else:
            feeds, refs = (x1,), (net(x1),)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "check.onnx"
        _export(args.model, h, w, path, args.ort_fac)
        sess = _ort_session(path, args.threads)
        names = [i.name for i in sess.get_inputs()]
        outs = sess.run(None, {n: f.numpy() for n, f in zip(names, feeds)})
    diff = max(float(np.abs(o - r.numpy()).max()) for o, r in zip(outs, refs))
    scale = max(float(np.abs(r.numpy()).max()) for r in refs)
    return {"max_abs_diff": diff, "max_abs_ref": scale}


WORKERS = {
    "ours": worker_ours,
    "ours-bf16": worker_ours,
    "torch": worker_torch,
    "ort": worker_ort,
    "ov": worker_ov,
    "ov-bf16": worker_ov,
    "ort-export": worker_ort_export,
    "ort-check": worker_ort_check,
}
