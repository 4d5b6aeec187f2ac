"""ONNX export of converted weights, without PyTorch (numpy, onnx and safetensors only).

:func:`export_model` writes a graph of standard ONNX ops for the network a weights file
holds. Every graph takes ``image``, (1, 3, H, W) float32 RGB in [0, 1], and returns
``output`` in the same form: the channel order and value scaling of the weights (from their
metadata) are inside the graph, as in the Python API. STFAN's graph is one step of its
recurrence with the state as extra inputs and outputs (see :mod:`.stfan`); IFAN_dual also takes
``right`` and ``left``; the Analysis-Synthesis graph also returns the estimated ``kernel``.

Needs the ``onnx`` package (``pip install deblurcore[export]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ExportError

#: Default opset: the first with DeformConv (ASPDC).
DEFAULT_OPSET = 19
#: Lowest opset of STFAN, IFAN and Analysis-Synthesis (Squeeze, Unsqueeze, ReduceSum and
#: Softmax in their opset-13 forms).
MIN_OPSET = 13
#: The size multiple and smallest side of each architecture's graph.
SIZE_RULES = {"stfan": (4, 4), "ifan": (8, 8), "aspdc": (4, 12), "analysis_synthesis": (16, 208)}


@dataclass
class ExportResult:
    path: Path
    architecture: str
    variant: str
    opset: int
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    num_nodes: int = 0


def read_weights(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The float32 tensors and the metadata of a converted weights file."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file not found: {p}")
    try:
        with safe_open(str(p), framework="numpy") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, ValueError) as exc:
        raise ExportError(f"weights file {p} is not a readable safetensors file: {exc}") from None
    except Exception as exc:  # safetensors' own SafetensorError is not a ValueError
        raise ExportError(f"weights file {p} is not a readable safetensors file: {exc}") from None
    for k, v in tensors.items():
        if v.dtype != np.float32:
            raise ExportError(f"weights file {p}: tensor {k} is {v.dtype}, expected float32")
        if not np.all(np.isfinite(v)):
            raise ExportError(f"weights file {p}: tensor {k} holds NaN or infinite values")
    return tensors, meta


def _check_opset(opset, architecture: str, deform_conv: str) -> int:
    import onnx

    from .deform import MIN_OPSET as DEFORM_MIN_OPSET

    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise ExportError(f"opset must be an integer, got {opset!r}")
    lowest = DEFORM_MIN_OPSET[deform_conv] if architecture == "aspdc" else MIN_OPSET
    highest = onnx.defs.onnx_opset_version()
    if not lowest <= opset <= highest:
        why = (
            " (DeformConv needs 19; --deform-conv gridsample needs 16)"
            if architecture == "aspdc"
            else ""
        )
        raise ExportError(
            f"opset must be between {lowest} and {highest} for {architecture}{why}, got {opset}"
        )
    return int(opset)


def _check_size(height, width, dynamic: bool, architecture: str) -> tuple:
    multiple, smallest = SIZE_RULES[architecture]
    if dynamic:
        if height is not None or width is not None:
            raise ExportError("give either height and width or dynamic, not both")
        return "height", "width"
    if height is None or width is None:
        raise ExportError("give height and width (a fixed input size) or dynamic=True (any size)")
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ExportError(f"{name} must be an integer, got {v!r}")
        if v < smallest or v % multiple:
            raise ExportError(
                f"{name} must be a multiple of {multiple} and at least {smallest} for "
                f"{architecture}, got {v}"
            )
    return int(height), int(width)


def build_model(
    tensors,
    meta,
    *,
    opset: int = DEFAULT_OPSET,
    height=None,
    width=None,
    dynamic: bool = False,
    deform_conv: str = "deformconv",
):
    """The ONNX ModelProto for weights ``tensors`` with metadata ``meta`` (see export_model)."""
    from . import analysis_synthesis, aspdc, ifan, stfan
    from .deform import METHODS
    from .graph import GraphBuilder
    from .image_format import ImageFormat

    architecture = meta.get("architecture")
    if architecture not in SIZE_RULES:
        raise ExportError(
            f"metadata names architecture {architecture!r}; exportable: {', '.join(SIZE_RULES)}"
            " (convert the official checkpoint with `deblurcore convert`)"
        )
    if deform_conv not in METHODS:
        raise ExportError(f"deform_conv must be one of {', '.join(METHODS)}, got {deform_conv!r}")
    if deform_conv != "deformconv" and architecture != "aspdc":
        raise ExportError(f"deform_conv concerns ASPDC only; {architecture} has no deformable conv")
    opset = _check_opset(opset, architecture, deform_conv)
    h, w = _check_size(height, width, dynamic, architecture)
    multiple = SIZE_RULES[architecture][0]
    if architecture == "analysis_synthesis":
        _check_analysis_synthesis_metadata(meta)
    else:
        fmt = ImageFormat.from_metadata(meta, architecture, multiple)
    variant = meta.get("variant", architecture)
    g = GraphBuilder(tensors, opset)
    try:
        if architecture == "stfan":
            stfan.build(g, fmt, h, w)
        elif architecture == "analysis_synthesis":
            analysis_synthesis.build(g, h, w)
        elif architecture == "ifan":
            iterations, dual = _ifan_variant(tensors, meta)
            ifan.build(g, fmt, h, w, iterations, dual)
        else:
            d0_mode = meta.get("d0_mode", "mmcv_flat")
            if d0_mode not in ("mmcv_flat", "intended"):
                raise ExportError(
                    f"aspdc: metadata d0_mode is {d0_mode!r}, expected 'mmcv_flat' or 'intended'"
                )
            aspdc.build(g, fmt, h, w, d0_mode, deform_conv)
    except KeyError as exc:
        raise ExportError(f"{architecture} weights lack tensor {exc.args[0]!r}") from None
    unused = g.unused_weights()
    if unused:
        raise ExportError(
            f"{architecture} weights hold {len(unused)} tensors the network does not use "
            f"(first: {unused[0]})"
        )
    doc = (
        f"deblurcore export of {architecture} ({variant}): image (1, 3, H, W) float32 RGB in "
        f"[0, 1] -> output, same form; H and W multiples of {multiple}"
    )
    meta_props = {"architecture": architecture, "variant": variant, "size_multiple": str(multiple)}
    if architecture == "aspdc":
        meta_props["deform_conv"] = deform_conv
    return g.model(f"deblurcore_{architecture}", doc, meta_props)


def _check_analysis_synthesis_metadata(meta) -> None:
    """The pair's values are 0..255 RGB (the graph scales by 255) with multiples of 16."""
    for key, expected in (("channel_order", "RGB"), ("input_range", "0,255"),
                          ("size_multiple", "16"), ("kernel_size", "85")):  # fmt: skip
        if meta.get(key, expected) != expected:
            raise ExportError(
                f"analysis_synthesis: metadata {key} is {meta[key]!r}, expected {expected!r}"
            )


def _ifan_variant(tensors, meta) -> tuple[int, bool]:
    rows = tensors["F.3.weight"].shape[0]
    from .ifan import ROWS_PER_ITERATION

    iterations = int(meta.get("iterations", rows // ROWS_PER_ITERATION))
    if rows != iterations * ROWS_PER_ITERATION:
        raise ExportError(
            f"ifan: F.3.weight has {rows} rows, but metadata iterations {iterations} needs "
            f"{iterations * ROWS_PER_ITERATION}"
        )
    dual = meta.get("dual_pixel", "false") == "true"
    channels = tensors["kconv1_1.0.weight"].shape[1]
    if channels != (6 if dual else 3):
        raise ExportError(
            f"ifan: kconv1_1.0.weight reads {channels} channels, but metadata dual_pixel is {dual}"
        )
    return iterations, dual


def export_model(
    weights_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    height=None,
    width=None,
    dynamic: bool = False,
    deform_conv: str = "deformconv",
    overwrite: bool = False,
) -> ExportResult:
    """Write the ONNX graph of the network in ``weights_path`` to ``output_path``.

    Give ``height`` and ``width`` (multiples of the network's size multiple) for a graph of
    that size, or ``dynamic=True`` for symbolic ``height``/``width``. ``deform_conv``
    (ASPDC): ``"deformconv"`` (the DeformConv op, opset >= 19) or ``"gridsample"`` (GridSample
    and Conv, opset >= 16, for runtimes without DeformConv). The graph is checked with
    ``onnx.checker`` before it is written (through a temporary file, then renamed).
    """
    import onnx

    out = Path(output_path)
    if out.exists() and not overwrite:
        raise ExportError(f"output {out} already exists (use overwrite / --force to replace it)")
    if out.is_dir():
        raise IsADirectoryError(f"output {out} is a directory")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder {out.parent} does not exist")
    tensors, meta = read_weights(weights_path)
    model = build_model(
        tensors,
        meta,
        opset=opset,
        height=height,
        width=width,
        dynamic=dynamic,
        deform_conv=deform_conv,
    )
    onnx.checker.check_model(model, full_check=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        onnx.save(model, str(tmp))
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return ExportResult(
        out,
        meta["architecture"],
        meta.get("variant", meta["architecture"]),
        int(opset),
        [i.name for i in model.graph.input],
        [o.name for o in model.graph.output],
        len(model.graph.node),
    )


__all__ = [
    "export_model",
    "build_model",
    "read_weights",
    "ExportError",
    "ExportResult",
    "DEFAULT_OPSET",
]
