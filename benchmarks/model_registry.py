"""The models the model benchmark runs (see :mod:`benchmarks.models`): for each, how to make
the torch module, how to run one frame with it and with ONNX Runtime, and how to export it
to ONNX."""

from __future__ import annotations

import contextlib
import time

import numpy as np

from .onnx_graphs import STFAN_INPUTS, aspdc_onnx, ifan_onnx, stfan_onnx

ONNX_OPSET = 19  # DeformConv is a standard ONNX op from opset 19


def _stfan_torch(seed):
    from tests.torch_models.stfan import DeblurNet, random_state_dict

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


class _StfanOrtRunner:
    """The same recurrence around the exported step; the first frame gets a zero feature."""

    NAMES = STFAN_INPUTS

    def __init__(self, sess):
        self.sess, self.state = sess, None

    def __call__(self, x):
        if self.state is None:
            n, _, h, w = x.shape
            self.state = (x, x, np.zeros((n, 256, h // 4, w // 4), np.float32))
        out, fea = self.sess.run(None, dict(zip(self.NAMES, (x,) + self.state)))
        self.state = (x, np.clip(out, 0, 1), fea)
        return out


def _aspdc_torch(seed):
    from tests.torch_models.aspdc import DeblurringNet, random_state_dict

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
    from tests.torch_models.ifan import Network, random_state_dict

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


class _OrtImageRunner:
    """One image in, the first output out (the graph includes any input scaling)."""

    def __init__(self, sess):
        self.sess, self.name = sess, sess.get_inputs()[0].name

    def __call__(self, x):
        return self.sess.run(None, {self.name: x})[0]


MODELS = {
    "stfan": {
        "arch": "stfan",
        "torch": _stfan_torch,
        "torch_runner": _StfanTorchRunner,
        "ort_runner": _StfanOrtRunner,
        "onnx": stfan_onnx,
        "size_multiple": 4,
    },
    "ifan": {
        "arch": "ifan",
        "torch": _ifan_torch,
        "torch_runner": _IfanTorchRunner,
        "ort_runner": _OrtImageRunner,
        "onnx": ifan_onnx,
        "size_multiple": 8,
    },
    "aspdc": {
        "arch": "aspdc",
        "torch": _aspdc_torch,
        "torch_runner": _AspdcTorchRunner,
        "ort_runner": _OrtImageRunner,
        "onnx": aspdc_onnx,
        "size_multiple": 4,
    },
}


def _torch_net(model, weights=""):
    """The torch model, with the weights of `weights` (ours' file) when given, so that every
    runtime computes the same network; else the tests' random weights (seed 0)."""
    net = MODELS[model]["torch"](0)
    if weights:
        import torch
        from safetensors.numpy import load_file

        state = {k: torch.from_numpy(v) for k, v in load_file(weights).items()}
        net.load_state_dict(state)
    return net


def _export(model, h, w, path, fac, weights=""):
    """Export a fresh torch model (the torch worker's weights) at (h, w); returns seconds."""
    import torch

    net = _torch_net(model, weights).requires_grad_(False)
    t0 = time.perf_counter()
    graph, inputs, in_names, out_names, patches = MODELS[model]["onnx"](net, h, w, fac)
    with contextlib.ExitStack() as stack, torch.no_grad():
        for p in patches:
            stack.enter_context(p)
        torch.onnx.export(
            graph,
            inputs,
            str(path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=in_names,
            output_names=out_names,
            do_constant_folding=True,
        )
    return time.perf_counter() - t0


def _ort_session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
