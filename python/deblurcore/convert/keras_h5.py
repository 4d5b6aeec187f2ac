"""Keras HDF5 weight files (``save_weights`` / ``model.save``) of the Analysis–Synthesis pair.

Read with h5py only: no TensorFlow, no Keras, and nothing in the files is executed (the
``model_config`` JSON of a full-model file is not even parsed). Handles the three layouts the
official files may come in (reference spec §5, §8):

* TF 1.x / h5py 2.10 ``save_weights``: name attributes are byte strings;
* current Keras 2 ``save_weights``: name attributes are ``str``, and an extra
  ``top_level_model_weights`` group that is not in ``layer_names``;
* ``model.save``: the same groups under ``model_weights/``.

Weights are mapped the way Keras loads them, **by position**: the file's weighted layers in
``layer_names`` order, zipped with the network's weighted layers in topological order. The
mapping is then cross-checked against the creation order told by the auto-names (per class
prefix, sorted by numeric suffix); any disagreement is an error.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from .analysis_synthesis import (
    ANALYSIS_LAYERS,
    BASE_METADATA,
    NETWORKS,
    SYNTHESIS_LAYERS,
    Network,
    runtime_tensors,
)
from .errors import ConversionError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ARCHITECTURE = "analysis_synthesis"
VARIANT = "AnalysisSynthesis"


def is_hdf5(path: str | os.PathLike) -> bool:
    """True when the file starts with the HDF5 signature (at offset 0; user blocks aside)."""
    try:
        with open(path, "rb") as f:
            return f.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def _decode(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.bytes_):
        return bytes(v).decode("utf-8")
    return str(v)


def _name_list(attrs: Any, key: str) -> list[str] | None:
    """A list-of-names attribute; Keras splits long ones into ``key0``, ``key1``, ... ."""
    if key in attrs:
        raw = list(np.atleast_1d(attrs[key]))
    elif f"{key}0" in attrs:
        raw, i = [], 0
        while f"{key}{i}" in attrs:
            raw += list(np.atleast_1d(attrs[f"{key}{i}"]))
            i += 1
    else:
        return None
    return [_decode(v) for v in raw]


_SUFFIX = re.compile(r"^(.*?)(?:_(\d+))?$")


def _class_and_number(layer_name: str) -> tuple[str, int]:
    """``conv2d_transpose_3`` -> (``conv2d_transpose``, 3); no suffix means 0."""
    m = _SUFFIX.match(layer_name)
    assert m is not None
    return m.group(1), int(m.group(2) or 0)


class KerasWeightsFile:
    """The weighted layers of one Keras HDF5 weights file, in ``layer_names`` order."""

    def __init__(self, path: str | os.PathLike) -> None:
        try:
            import h5py
        except ImportError:
            raise ConversionError("reading Keras .h5 files needs the 'h5py' package (pip install h5py)") from None

        self.path = Path(path)
        if not self.path.is_file():
            raise ConversionError(f"weights file {self.path} does not exist")
        if not is_hdf5(self.path):
            raise ConversionError(f"{self.path.name} is not an HDF5 file (expected Keras .h5 weights)")
        data = self.path.read_bytes()
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.layers: list[tuple[str, list[np.ndarray]]] = []
        try:
            with h5py.File(self.path, "r") as f:
                root = f
                self.full_model = False
                if "layer_names" not in root.attrs and "model_weights" in root:
                    root = root["model_weights"]
                    self.full_model = True
                names = _name_list(root.attrs, "layer_names")
                if names is None:
                    raise ConversionError(
                        f"{self.path.name} is an HDF5 file without Keras 'layer_names' (not Keras weights)"
                    )
                self.keras_version = _decode(root.attrs.get("keras_version", b"unknown"))
                self.backend = _decode(root.attrs.get("backend", b"unknown"))
                key = "layer_names" if "layer_names" in root.attrs else "layer_names0"
                first = np.atleast_1d(root.attrs[key])[:1]
                self.string_attributes = "bytes" if len(first) and isinstance(first[0], (bytes, np.bytes_)) else "str"
                for name in names:
                    if name not in root:
                        raise ConversionError(f"{self.path.name}: layer {name!r} of layer_names has no group")
                    g = root[name]
                    wnames = _name_list(g.attrs, "weight_names") or []
                    arrays = []
                    for wn in wnames:
                        if wn not in g:
                            raise ConversionError(f"{self.path.name}: weight {name}/{wn} is missing")
                        arrays.append(np.asarray(g[wn][()]))
                    if arrays:
                        self.layers.append((name, arrays))
        except OSError as exc:
            raise ConversionError(f"{self.path.name}: unreadable HDF5 file ({exc})") from None

    def network(self) -> Network:
        """Which network the file holds, told by its number of weighted layers."""
        n = len(self.layers)
        if n == ANALYSIS_LAYERS:
            return NETWORKS["analysis"]
        if n == SYNTHESIS_LAYERS:
            return NETWORKS["synthesis"]
        raise ConversionError(
            f"{self.path.name} has {n} weighted layers; the analysis network has {ANALYSIS_LAYERS} "
            f"and the synthesis network {SYNTHESIS_LAYERS} (not an Analysis-Synthesis weights file?)"
        )


def map_layers(wf: KerasWeightsFile, net: Network) -> OrderedDict[str, list[np.ndarray]]:
    """Role -> Keras arrays, by file position; checked by shapes and by creation order."""
    roles = net.file_order
    layers = wf.layers
    if len(layers) != len(roles):
        raise ConversionError(
            f"{wf.path.name} has {len(layers)} weighted layers, the {net.name} network {len(roles)}"
        )
    by_role: OrderedDict[str, list[np.ndarray]] = OrderedDict()
    name_of: dict[str, str] = {}
    bad: list[str] = []
    for (name, arrays), role in zip(layers, roles):
        layer = net.layers[role]
        got = [tuple(a.shape) for a in arrays]
        if got != layer.keras_shapes:
            bad.append(f"{name} (position of {net.name}.{role}) has {got}, expected {layer.keras_shapes}")
        by_role[role] = arrays
        name_of[role] = name
    if bad:
        raise ConversionError(
            f"{wf.path.name}: {len(bad)} layer(s) with unexpected weight shapes: " + "; ".join(bad[:4])
            + (" ..." if len(bad) > 4 else ""),
            mismatched=[(b, (), ()) for b in bad],
        )
    # Cross-check: the auto-names number the layers of each class in creation order.
    groups: dict[str, list[tuple[int, str]]] = {}
    for name, _ in layers:
        cls, num = _class_and_number(name)
        groups.setdefault(cls, []).append((num, name))
    expected_classes = set(net.creation_order)
    if set(groups) != expected_classes:
        raise ConversionError(
            f"{wf.path.name}: layer classes {sorted(groups)} do not match the {net.name} network's "
            f"{sorted(expected_classes)}; cannot cross-check the layer order"
        )
    disagree: list[str] = []
    for cls, created in net.creation_order.items():
        numbered = sorted(groups[cls])
        if len({n for n, _ in numbered}) != len(numbered):
            raise ConversionError(f"{wf.path.name}: two {cls} layers have the same number")
        for (_, name), role in zip(numbered, created):
            if name_of[role] != name:
                disagree.append(f"{net.name}.{role}: position says {name_of[role]}, creation order says {name}")
    if disagree:
        raise ConversionError(
            f"{wf.path.name}: layer order and layer names disagree for {len(disagree)} layer(s) "
            f"(first: {disagree[0]}); the file does not have the official layout"
        )
    for role, arrays in by_role.items():
        for a in arrays:
            if a.dtype.kind != "f":
                raise ConversionError(f"{wf.path.name}: {net.name}.{role} has dtype {a.dtype}, expected float")
            if not np.all(np.isfinite(a)):
                raise ConversionError(f"{wf.path.name}: {net.name}.{role} contains NaN/Inf values")
    return by_role


def read_analysis_synthesis(paths: list[str | os.PathLike]) -> dict[str, Any]:
    """Read both official files (either order) into runtime tensors and metadata."""
    from .._version import __version__
    from .converter import FORMAT_VERSION

    if len(paths) != 2:
        raise ConversionError(
            f"the Analysis-Synthesis pair needs both analysis_weights.h5 and synthesis_weights.h5, "
            f"got {len(paths)} file(s)"
        )
    files: dict[str, KerasWeightsFile] = {}
    for p in paths:
        wf = KerasWeightsFile(p)
        net = wf.network()
        if net.name in files:
            raise ConversionError(
                f"{files[net.name].path.name} and {wf.path.name} are both {net.name} weights; "
                f"give one analysis and one synthesis file"
            )
        files[net.name] = wf
    tensors: OrderedDict[str, np.ndarray] = OrderedDict()
    for name in ("analysis", "synthesis"):
        net = NETWORKS[name]
        by_role = map_layers(files[name], net)
        for role in net.file_order:
            for k, v in runtime_tensors(name, role, by_role[role]).items():
                tensors[k] = np.ascontiguousarray(v, dtype=np.float32)
    num_params = int(sum(a.size for a in tensors.values()))
    a, s = files["analysis"], files["synthesis"]
    meta = {"architecture": ARCHITECTURE, "format_version": FORMAT_VERSION, "variant": VARIANT}
    meta.update(BASE_METADATA)
    meta.update(
        {
            "num_tensors": str(len(tensors)),
            "num_params": str(num_params),
            "source_name": f"{a.path.name},{s.path.name}",
            "source_sha256": f"{a.sha256},{s.sha256}",
            "analysis_source_name": a.path.name,
            "analysis_source_sha256": a.sha256,
            "synthesis_source_name": s.path.name,
            "synthesis_source_sha256": s.sha256,
            "source_format": "keras-h5",
            "source_keras_version": f"{a.keras_version},{s.keras_version}",
            "deblurcore_version": __version__,
        }
    )
    notes = [
        f"{f.path.name}: {n} network, {len(f.layers)} weighted layers, Keras {f.keras_version} "
        f"({f.string_attributes} attributes{', full-model file' if f.full_model else ''})"
        for n, f in files.items()
    ]
    return {"architecture": ARCHITECTURE, "variant": VARIANT, "tensors": tensors, "metadata": meta,
            "num_params": num_params, "notes": notes}
