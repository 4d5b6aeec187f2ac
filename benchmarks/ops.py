"""Op benchmarks: deblurcore's CPU kernels against PyTorch and ONNX Runtime in the same run.

    PYTHONPATH=build/NAME/python python -m benchmarks.ops [--threads 2] [--reps 7] [-k conv]

For each case it prints the median wall time of ours (deblurcore.ops on numpy arrays), of
torch (same thread count, torch.set_num_threads) and of ONNX Runtime, GFLOP/s (2 flops per
multiply-add) and the ratios torch_time / our_time and ort_time / our_time (> 1: we are
faster). Our time includes copying the numpy inputs into tensors (the bindings copy each
input once; the output is handed back without a copy); the `copy` column is that copy timed
alone, so ours minus copy is the kernel. Medians over --reps runs after one warm-up; the
machine is shared, so compare ratios from the same run.

ONNX Runtime (the `ort` columns; left empty when onnxruntime is not installed) runs a graph
built with onnx.helper, on the CPUExecutionProvider with intra_op_num_threads = --threads,
one inter-op thread and all graph optimizations: for the convolutions one Conv or
ConvTranspose node (weight and bias as initializers, plus a LeakyRelu node where the case has
one), for fac the shifted-slices formulation (edge Pad, then per tap a Slice of the padded
input times a Gather of the filter, added up). `ort err` is max |ort - torch| / max |torch|,
a check that the graph computes the same op.

Add a case by appending to CASES: a name and a function returning (ours, theirs, flops,
input arrays, ort), where ort is (onnx ModelProto, feeds dict) or None.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from deblurcore import ops

try:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # the ort columns stay empty
    onnx = ort = None

ONNX_OPSET = 19


def _rand(rng, shape, scale=1.0):
    return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)


def _onnx_model(nodes, inputs, out_shape, initializers=()):
    """A one-output graph: `inputs` maps graph input names to arrays (their static shapes)."""
    graph = helper.make_graph(
        nodes,
        "case",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(a, n) for n, a in initializers],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = 9  # the first IR version of opset 19; any recent ONNX Runtime loads it
    onnx.checker.check_model(model)
    return model


def _onnx_conv(op, x, w, b, out_shape, slope, **attrs):
    if onnx is None:
        return None
    out = "y" if slope is None else "pre"
    nodes = [helper.make_node(op, ["x", "w", "b"], [out], kernel_shape=list(w.shape[2:]), **attrs)]
    if slope is not None:
        nodes.append(helper.make_node("LeakyRelu", ["pre"], ["y"], alpha=slope))
    return _onnx_model(nodes, {"x": x}, out_shape, [("w", w), ("b", b)]), {"x": x}


def _onnx_fac(x, kern, k):
    """FAC as k*k shifted slices: edge-pad x, then sum over taps t = ky*k + kx of
    x_pad[:, :, ky:ky+H, kx:kx+W] * kernel[:, c*k*k + t] (same math as unfold + sum)."""
    if onnx is None:
        return None
    N, C, H, W = x.shape
    r = (k - 1) // 2
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    consts = [
        ("pads", i64(0, 0, r, r, 0, 0, r, r)),
        ("kshape", i64(N, C, k * k, H, W)),
        ("axes", i64(2, 3)),
    ]
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["xp"], mode="edge"),
        helper.make_node("Reshape", ["kern", "kshape"], ["k5"]),
    ]
    acc = None
    for t in range(k * k):
        ky, kx = divmod(t, k)
        consts += [
            (f"s{t}", i64(ky, kx)),
            (f"e{t}", i64(ky + H, kx + W)),
            (f"t{t}", np.array(t, np.int64)),
        ]
        nodes += [
            helper.make_node("Slice", ["xp", f"s{t}", f"e{t}", "axes"], [f"xs{t}"]),
            helper.make_node("Gather", ["k5", f"t{t}"], [f"kt{t}"], axis=2),
        ]
        prod = "y" if t == 0 == k * k - 1 else f"p{t}"
        nodes.append(helper.make_node("Mul", [f"xs{t}", f"kt{t}"], [prod]))
        if acc is not None:
            total = "y" if t == k * k - 1 else f"a{t}"
            nodes.append(helper.make_node("Add", [acc, prod], [total]))
            prod = total
        acc = prod
    return _onnx_model(nodes, {"x": x, "kern": kern}, (N, C, H, W), consts), {"x": x, "kern": kern}


def _ort_runner(model_and_feeds, threads):
    if model_and_feeds is None:
        return None
    model, feeds = model_and_feeds
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, feeds)[0]


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
            return ops.conv2d(
                x,
                w,
                b,
                stride,
                padding,
                activation=act,
                negative_slope=0.01 if slope is None else slope,
                num_threads=threads,
            )

        def theirs():
            y = F.conv2d(xt, wt, bt, stride, padding)
            return y if slope is None else F.leaky_relu(y, slope)

        ort_model = _onnx_conv(
            "Conv", x, w, b, (N, Cout, Ho, Wo), slope, strides=[stride, stride], pads=[padding] * 4
        )
        return ours, theirs, 2.0 * N * Cout * Ho * Wo * Cin * k * k, (x, w, b), ort_model

    return make


def conv_transpose_case(N, Cin, Cout, H, W, k, stride, padding, slope=None):
    def make(rng, threads):
        x = _rand(rng, (N, Cin, H, W))
        w = _rand(rng, (Cin, Cout, k, k), 0.05)
        b = _rand(rng, (Cout,), 0.1)
        xt, wt, bt = map(torch.from_numpy, (x, w, b))
        act = None if slope is None else "leaky_relu"

        def ours():
            return ops.conv_transpose2d(
                x,
                w,
                b,
                stride,
                padding,
                activation=act,
                negative_slope=0.01 if slope is None else slope,
                num_threads=threads,
            )

        def theirs():
            y = F.conv_transpose2d(xt, wt, bt, stride, padding)
            return y if slope is None else F.leaky_relu(y, slope)

        Ho, Wo = (H - 1) * stride - 2 * padding + k, (W - 1) * stride - 2 * padding + k
        ort_model = _onnx_conv(
            "ConvTranspose",
            x,
            w,
            b,
            (N, Cout, Ho, Wo),
            slope,
            strides=[stride, stride],
            pads=[padding] * 4,
        )
        # Every input pixel meets every tap once.
        return ours, theirs, 2.0 * N * Cin * Cout * k * k * H * W, (x, w, b), ort_model

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

        return ours, theirs, 2.0 * N * C * k * k * H * W, (x, kern), _onnx_fac(x, kern, k)

    return make


CASES = [
    ("conv2d 3x3 64->64 1x64x360x640 lrelu", conv_case(1, 64, 64, 360, 640, 3, 1, 1, 0.1)),
    ("conv2d 3x3 s2 64->128 1x64x360x640", conv_case(1, 64, 128, 360, 640, 3, 2, 1, 0.1)),
    ("conv2d 3x3 3->32 1x3x720x1280", conv_case(1, 3, 32, 720, 1280, 3, 1, 1, 0.1)),
    ("conv2d 1x1 128->3200 1x128x180x320", conv_case(1, 128, 3200, 180, 320, 1)),
    ("conv2d 1x1 3200->128 1x3200x180x320", conv_case(1, 3200, 128, 180, 320, 1)),
    (
        "conv_t 4x4 s2 p1 256->64 1x256x90x160",
        conv_transpose_case(1, 256, 64, 90, 160, 4, 2, 1, 0.1),
    ),
    (
        "conv_t 4x4 s2 p1 64->32 1x64x180x320",
        conv_transpose_case(1, 64, 32, 180, 320, 4, 2, 1, 0.1),
    ),
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

    print(
        f"threads={args.threads} reps={args.reps} torch {torch.__version__} "
        f"onnxruntime {ort.__version__ if ort else '(not installed)'}"
    )
    header = (
        f"{'case':42s} {'ours ms':>9s} {'copy ms':>8s} {'torch ms':>9s} {'ort ms':>8s} "
        f"{'ours GF/s':>9s} {'torch GF/s':>10s} {'ort GF/s':>8s} {'torch/ours':>10s} "
        f"{'ort/ours':>8s} {'ort err':>8s}"
    )
    print(header)
    print("-" * len(header))
    for name, make in CASES:
        if args.k not in name:
            continue
        ours, theirs, flops, inputs, ort_model = make(rng, args.threads)
        t_copy = _median_time(
            lambda inputs=inputs: [np.array(a, copy=True) for a in inputs], args.reps
        )
        t_ours = _median_time(ours, args.reps)
        t_torch = _median_time(theirs, args.reps)
        run_ort = _ort_runner(ort_model, args.threads)
        ort_cells = f"{'':>8s}", f"{'':>8s}", f"{'':>8s}", f"{'':>8s}"
        if run_ort is not None:
            # Max |ort - torch| relative to max |torch|: the graph must compute the same op.
            ref = theirs().numpy()
            err = float(np.abs(run_ort() - ref).max() / max(np.abs(ref).max(), 1e-30))
            t_ort = _median_time(run_ort, args.reps)
            ort_cells = (
                f"{t_ort * 1e3:8.1f}",
                f"{flops / t_ort / 1e9:8.2f}",
                f"{t_ort / t_ours:8.2f}",
                f"{err:8.1e}",
            )
        print(
            f"{name:42s} {t_ours * 1e3:9.1f} {t_copy * 1e3:8.1f} {t_torch * 1e3:9.1f} "
            f"{ort_cells[0]} {flops / t_ours / 1e9:9.2f} {flops / t_torch / 1e9:10.2f} "
            f"{ort_cells[1]} {t_torch / t_ours:10.2f} {ort_cells[2]} {ort_cells[3]}"
        )


if __name__ == "__main__":
    main()
