"""A small builder of ONNX graphs over :mod:`onnx.helper`: one method per standard op the
exported networks use, weights stored as float32 initializers named after their official
state_dict keys (so a node that reads ``conv1_1.0.weight`` says where it comes from).

Tensors are passed around as their names (``str``); every method returns the name of its
output. Nothing here knows a network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: LeakyReLU slope of every network here.
SLOPE = 0.1
#: An ``end`` for Slice meaning "to the end of the axis", whatever its (dynamic) length.
TO_END = np.iinfo(np.int64).max


class GraphBuilder:
    def __init__(self, weights: Mapping[str, np.ndarray], opset: int) -> None:
        self._weights = weights
        self.opset = opset
        self._used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._count = 0

    # -- names, inputs, outputs, constants ------------------------------------------------
    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def input(self, name: str, shape: Sequence, elem_type: int = TensorProto.FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        return name

    def output(
        self, source: str, name: str, shape: Sequence, elem_type: int = TensorProto.FLOAT
    ) -> None:
        self.op("Identity", [source], name=name, out=name)
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))

    def weight(self, key: str) -> str:
        """The stored tensor ``key`` as an initializer of the same name."""
        if key not in self.initializers:
            array = np.ascontiguousarray(self._weights[key], dtype=np.float32)
            self.initializers[key] = numpy_helper.from_array(array, key)
            self._used.add(key)
        return key

    def const(self, value, hint: str = "const", dtype=np.float32) -> str:
        """A constant initializer (derived values: reshaped weights, shapes, scalars)."""
        name = self._name(hint)
        self.initializers[name] = numpy_helper.from_array(np.asarray(value, dtype=dtype), name)
        return name

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        return self.const(np.asarray(values, np.int64), hint, np.int64)

    def stored(self, key: str) -> np.ndarray:
        """The stored tensor ``key`` as numpy (for a derived constant); counts as used."""
        self._used.add(key)
        return self._weights[key]

    def unused_weights(self) -> list[str]:
        return [k for k in self._weights if k not in self._used]

    # -- generic node -------------------------------------------------------------------
    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        name: str | None = None,
        out: str | None = None,
        **attrs,
    ) -> str:
        node_name = name or self._name(op_type)
        result = out or node_name + "_out"
        self.nodes.append(helper.make_node(op_type, list(inputs), [result], node_name, **attrs))
        return result

    # -- layers -------------------------------------------------------------------------
    def conv(
        self,
        x: str,
        prefix: str,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        act: bool = False,
    ) -> str:
        """nn.Conv2d with weight ``prefix.weight`` [Cout, Cin, k, k] and ``prefix.bias``;
        default padding (k-1)/2 * dilation; ``act`` appends LeakyReLU(0.1)."""
        w = self._weights[prefix + ".weight"]
        k = int(w.shape[2])
        pad = (k - 1) // 2 * dilation if padding is None else padding
        y = self.op(
            "Conv",
            [x, self.weight(prefix + ".weight"), self.weight(prefix + ".bias")],
            name=prefix,
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[pad] * 4,
            dilations=[dilation, dilation],
        )
        return self.lrelu(y) if act else y

    def conv_transpose(
        self,
        x: str,
        prefix: str,
        stride: int,
        padding: int,
        output_padding: int = 0,
        act: bool = False,
    ) -> str:
        """nn.ConvTranspose2d, weight [Cin, Cout, k, k] (the layout ONNX uses as well)."""
        k = int(self._weights[prefix + ".weight"].shape[2])
        y = self.op(
            "ConvTranspose",
            [x, self.weight(prefix + ".weight"), self.weight(prefix + ".bias")],
            name=prefix,
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[padding] * 4,
            output_padding=[output_padding] * 2,
        )
        return self.lrelu(y) if act else y

    def lrelu(self, x: str) -> str:
        return self.op("LeakyRelu", [x], alpha=SLOPE)

    def add(self, a: str, b: str) -> str:
        return self.op("Add", [a, b])

    def sub(self, a: str, b: str) -> str:
        return self.op("Sub", [a, b])

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", [a, b])

    def div(self, a: str, b: str) -> str:
        return self.op("Div", [a, b])

    def sigmoid(self, x: str) -> str:
        return self.op("Sigmoid", [x])

    def concat(self, xs: Sequence[str], axis: int = 1) -> str:
        return self.op("Concat", list(xs), axis=axis)

    def clip(self, x: str, lo: float, hi: float) -> str:
        return self.op("Clip", [x, self.const(lo, "lo"), self.const(hi, "hi")])

    def slice(self, x: str, axis: int, start: int, end: int = TO_END, step: int = 1) -> str:
        """x[..., start:end:step, ...] along ``axis``; a negative ``end`` counts from the end,
        so that the slice works for any (dynamic) length of the axis."""
        return self.op(
            "Slice",
            [
                x,
                self.ints([start], "starts"),
                self.ints([end], "ends"),
                self.ints([axis], "axes"),
                self.ints([step], "steps"),
            ],
        )

    def pad(self, x: str, pads: Sequence[int], mode: str = "constant") -> str:
        """``pads`` in ONNX order: the begins of every axis, then the ends."""
        return self.op("Pad", [x, self.ints(pads, "pads")], mode=mode)

    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: int = 1) -> str:
        """Reduce<op> over ``axes`` (an input from opset 13 for ReduceSum, 18 for the others;
        an attribute before)."""
        if self.opset >= (13 if op_type == "ReduceSum" else 18):
            return self.op(op_type, [x, self.ints(axes, "axes")], keepdims=keepdims)
        return self.op(op_type, [x], axes=list(axes), keepdims=keepdims)

    def mean(self, x: str, axes: Sequence[int]) -> str:
        return self.reduce("ReduceMean", x, axes)

    def shape(self, x: str, start: int | None = None, end: int | None = None) -> str:
        """Shape(x)[start:end] (int64); Shape's own start/end exist from opset 15."""
        if start is None and end is None:
            return self.op("Shape", [x])
        if self.opset >= 15:
            return self.op("Shape", [x], start=start or 0, end=TO_END if end is None else end)
        return self.slice(self.op("Shape", [x]), 0, start or 0, TO_END if end is None else end)

    def flip_channels(self, x: str) -> str:
        """RGB <-> BGR of a (N, 3, H, W) tensor (a Gather of channels 2, 1, 0)."""
        return self.op("Gather", [x, self.ints([2, 1, 0], "bgr")], axis=1)

    # -- the model ----------------------------------------------------------------------
    def model(
        self, graph_name: str, doc: str = "", metadata: Mapping[str, str] | None = None
    ) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, graph_name, self.inputs, self.outputs, list(self.initializers.values())
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", self.opset)],
            producer_name="deblurcore",
            doc_string=doc,
        )
        # The lowest IR version that carries this opset, so older runtimes can read it.
        model.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", self.opset)])
        for key, value in (metadata or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
        return model
