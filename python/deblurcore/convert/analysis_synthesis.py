"""Layer tables of Kaufman & Fattal's Analysis–Synthesis pair (CVPR 2020) for the Keras converter.

The official weights are two Keras HDF5 files that Keras loads **by position**: the file's
weighted layers, in ``layer_names`` order, are zipped with the model's weighted layers in
``model.layers`` order (a depth-sorted topological order, not the creation order). The tables
below give, for each network, that file order (``*_FILE_ORDER``) and, per Keras layer class,
the creation order (``*_CREATION_ORDER``), both as role names of the reference spec
(analysis_synthesis.md §3.2, §4, §5).

Runtime tensor names (the safetensors keys) are ``<net>.<role>.<part>``:

=================================  ======================================================
role / Keras class                 tensors (runtime layout)
=================================  ======================================================
Conv2D ``analysis.L0.c7a``         ``.weight`` (Cout, Cin, kh, kw) from HWIO, ``.bias`` (Cout)
Conv2DTranspose ``analysis.U2.up`` ``.weight`` (Cin, Cout, kh, kw) from HWOI, ``.bias`` (Cout)
Dense ``synthesis.E0.c0.mul``      ``.weight`` (out, in) = kernelᵀ, ``.bias`` (out)
BiasLayer ``synthesis.E0.c0.beta`` the vector itself (C), under the role name (no suffix)
=================================  ======================================================

Role names: analysis ``L{l}.c7a|c7b|c7c|cc_in|cc_out|down`` (level l = 0..3, ``down`` for
l < 3), ``U{l}.up|fuse`` (l = 2, 1, 0), ``P.c24|c16|c8|out``; synthesis blocks ``E0..E3``,
``B``, ``D3..D0`` with ``g0``, ``g1`` (guidance MLP), ``c{j}`` (guided convs, j = 0..2) and
their ``c{j}.mul``, ``c{j}.add``, ``c{j}.beta``; ``E{i}.down``, ``D{i}.up``, ``D{i}.skip``,
``D{i}.merge``; ``OUT``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

CONV2D, CONV2D_T, DENSE, BIAS_LAYER = "conv2d", "conv2d_transpose", "dense", "bias_layer"

KERNEL_SIZE = 85  # the estimated blur kernel is 85 x 85
GUIDE_IN = KERNEL_SIZE * KERNEL_SIZE  # the flattened kernel feeding each guidance MLP
ANALYSIS_LAYERS = 33
SYNTHESIS_LAYERS = 143


@dataclass(frozen=True)
class Layer:
    """One weighted Keras layer: its role, class and Keras weight shapes."""

    role: str
    cls: str
    kernel: tuple[int, ...]  # Keras layout (HWIO / HWOI / [in, out] / [n] for BiasLayer)

    @property
    def keras_shapes(self) -> list[tuple[int, ...]]:
        if self.cls == BIAS_LAYER:
            return [self.kernel]
        # Conv2D HWIO and Conv2DTranspose HWOI both have the bias on the output channels
        # (index 3 for Conv2D, index 2 for Conv2DTranspose).
        out = self.kernel[2] if self.cls == CONV2D_T else self.kernel[-1]
        return [self.kernel, (out,)]


# --------------------------------------------------------------------------- analysis


def _analysis_layers() -> OrderedDict[str, Layer]:
    t: OrderedDict[str, Layer] = OrderedDict()

    def conv(role: str, k: int, cin: int, cout: int) -> None:
        t[role] = Layer(role, CONV2D, (k, k, cin, cout))

    for lv in range(4):
        conv(f"L{lv}.c7a", 7, 1, 64)
        conv(f"L{lv}.c7b", 7, 64, 64)
        conv(f"L{lv}.c7c", 7, 64, 64)
        conv(f"L{lv}.cc_in", 1, 64, 32)
        conv(f"L{lv}.cc_out", 1, 1056, 32)
        if lv < 3:
            conv(f"L{lv}.down", 5, 1, 1)
    for lv in (2, 1, 0):
        t[f"U{lv}.up"] = Layer(f"U{lv}.up", CONV2D_T, (5, 5, 32, 32))
    for lv in (2, 1, 0):
        conv(f"U{lv}.fuse", 3, 64, 32)
    conv("P.c24", 3, 32, 24)
    conv("P.c16", 3, 24, 16)
    conv("P.c8", 3, 16, 8)
    conv("P.out", 5, 8, 1)
    return t


ANALYSIS = _analysis_layers()

#: Creation order per Keras class (auto-name numbering order), spec §3.2.
ANALYSIS_CREATION_ORDER = {
    cls: [r for r, lay in ANALYSIS.items() if lay.cls == cls] for cls in (CONV2D, CONV2D_T)
}

#: File (topological) order, spec §5.
ANALYSIS_FILE_ORDER = (
    "L0.down L1.down L2.down L3.c7a L3.c7b L2.c7a L3.c7c L2.c7b L3.cc_in "
    "L2.c7c L2.cc_in L3.cc_out L1.c7a U2.up L1.c7b L2.cc_out L1.c7c "
    "L1.cc_in U2.fuse L0.c7a U1.up L0.c7b L1.cc_out L0.c7c L0.cc_in "
    "U1.fuse U0.up L0.cc_out U0.fuse P.c24 P.c16 P.c8 P.out"
).split()

# --------------------------------------------------------------------------- synthesis

SYNTHESIS_BLOCKS = ("E0", "E1", "E2", "E3", "B", "D3", "D2", "D1", "D0")


def _synthesis_layers() -> OrderedDict[str, Layer]:
    t: OrderedDict[str, Layer] = OrderedDict()
    c = 128
    for b in SYNTHESIS_BLOCKS:
        t[f"{b}.g0"] = Layer(f"{b}.g0", DENSE, (GUIDE_IN, c))
        t[f"{b}.g1"] = Layer(f"{b}.g1", DENSE, (c, c))
        for j in range(3):
            cin = 3 if (b == "E0" and j == 0) else c
            t[f"{b}.c{j}"] = Layer(f"{b}.c{j}", CONV2D, (3, 3, cin, c))
            t[f"{b}.c{j}.mul"] = Layer(f"{b}.c{j}.mul", DENSE, (c, c))
            t[f"{b}.c{j}.add"] = Layer(f"{b}.c{j}.add", DENSE, (c, c))
            t[f"{b}.c{j}.beta"] = Layer(f"{b}.c{j}.beta", BIAS_LAYER, (c,))
        if b.startswith("E"):
            t[f"{b}.down"] = Layer(f"{b}.down", CONV2D, (3, 3, c, c))
        if b.startswith("D"):
            t[f"{b}.up"] = Layer(f"{b}.up", CONV2D_T, (5, 5, c, c))
            t[f"{b}.skip"] = Layer(f"{b}.skip", CONV2D, (3, 3, c, c))
            t[f"{b}.merge"] = Layer(f"{b}.merge", CONV2D, (1, 1, 2 * c, c))
    t["OUT"] = Layer("OUT", CONV2D, (3, 3, c, 3))
    return t


SYNTHESIS = _synthesis_layers()


def _synthesis_creation_order() -> dict[str, list[str]]:
    conv: list[str] = []
    for b in SYNTHESIS_BLOCKS:
        if b.startswith("D"):
            conv += [f"{b}.skip", f"{b}.merge"]
        conv += [f"{b}.c0", f"{b}.c1", f"{b}.c2"]
        if b.startswith("E"):
            conv.append(f"{b}.down")
    conv.append("OUT")
    dense = [f"{b}.{p}" for b in SYNTHESIS_BLOCKS
             for p in ("g0", "g1", "c0.mul", "c0.add", "c1.mul", "c1.add", "c2.mul", "c2.add")]
    beta = [f"{b}.c{j}.beta" for b in SYNTHESIS_BLOCKS for j in range(3)]
    up = [f"{b}.up" for b in ("D3", "D2", "D1", "D0")]
    return {CONV2D: conv, DENSE: dense, BIAS_LAYER: beta, CONV2D_T: up}


SYNTHESIS_CREATION_ORDER = _synthesis_creation_order()


def _synthesis_file_order() -> list[str]:
    def guided(x: str, j: int) -> list[str]:
        return [f"{x}.c{j}.beta", f"{x}.c{j}", f"{x}.c{j}.add"]

    order = ["E0.g0", "E0.g1", "E0.c0.mul", *guided("E0", 0)]
    order += ["E0.c1.mul", *guided("E0", 1), "E0.c2.mul", *guided("E0", 2)]
    for x, y in (("E1", "E0"), ("E2", "E1"), ("E3", "E2"), ("B", "E3")):
        # The previous encoder's stride-2 conv sits inside this block's group.
        order += [f"{x}.g0", f"{x}.g1", f"{x}.c0.mul", f"{y}.down", *guided(x, 0)]
        order += [f"{x}.c1.mul", *guided(x, 1), f"{x}.c2.mul", *guided(x, 2)]
    for x in ("D3", "D2", "D1", "D0"):
        order += [f"{x}.g0", f"{x}.g1", f"{x}.up", f"{x}.skip", f"{x}.c0.mul", f"{x}.merge"]
        order += guided(x, 0) + [f"{x}.c1.mul", *guided(x, 1), f"{x}.c2.mul", *guided(x, 2)]
    order.append("OUT")
    return order


SYNTHESIS_FILE_ORDER = _synthesis_file_order()


@dataclass(frozen=True)
class Network:
    """One of the two networks: its layers, file order and creation order."""

    name: str  # 'analysis' or 'synthesis': the tensor-name prefix
    layers: OrderedDict[str, Layer]
    file_order: list[str]
    creation_order: dict[str, list[str]]


NETWORKS = {
    "analysis": Network("analysis", ANALYSIS, ANALYSIS_FILE_ORDER, ANALYSIS_CREATION_ORDER),
    "synthesis": Network("synthesis", SYNTHESIS, SYNTHESIS_FILE_ORDER, SYNTHESIS_CREATION_ORDER),
}


def runtime_tensors(net: str, role: str, arrays: list) -> OrderedDict[str, object]:
    """Keras weights of one layer -> runtime-named tensors in the runtime layouts.

    Conv2D HWIO and Conv2DTranspose HWOI both become (dim3, dim2, kh, kw) by the permutation
    (3, 2, 0, 1): OIHW for Conv2D and PyTorch's (Cin, Cout, kh, kw) for Conv2DTranspose. A
    Dense kernel [in, out] is transposed to (out, in). A BiasLayer stays a vector.
    """
    import numpy as np

    layer = NETWORKS[net].layers[role]
    key = f"{net}.{role}"
    out: OrderedDict[str, object] = OrderedDict()
    if layer.cls == BIAS_LAYER:
        out[key] = np.ascontiguousarray(arrays[0])
        return out
    kernel, bias = arrays
    if layer.cls in (CONV2D, CONV2D_T):
        kernel = kernel.transpose(3, 2, 0, 1)
    else:
        kernel = kernel.T
    out[f"{key}.weight"] = np.ascontiguousarray(kernel)
    out[f"{key}.bias"] = np.ascontiguousarray(bias)
    return out


def expected_runtime_shapes() -> OrderedDict[str, tuple[int, ...]]:
    """Every runtime tensor name and shape, analysis first, each net in file order."""
    import numpy as np

    out: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    for net in NETWORKS.values():
        for role in net.file_order:
            arrays = [np.zeros(s, np.float32) for s in net.layers[role].keras_shapes]
            for k, v in runtime_tensors(net.name, role, arrays).items():
                out[k] = v.shape
    return out


BASE_METADATA = {
    "channel_order": "RGB",
    "input_scale": "255",
    "input_range": "0,255",
    "output_range": "0,255",
    "output_clamped": "false",
    "size_multiple": "16",
    "size_policy": "pad",
    "pad_mode": "symmetric",
    "recurrent": "false",
    "kernel_size": str(KERNEL_SIZE),
}
