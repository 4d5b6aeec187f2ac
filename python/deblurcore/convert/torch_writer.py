"""Write PyTorch checkpoint files without PyTorch (used for random demo/test checkpoints).

:func:`save_torch_checkpoint` writes the same byte layout ``torch.save`` produces (zip
format or the legacy format of PyTorch < 1.6) for objects made of dicts, OrderedDicts,
lists, tuples, numbers, strings and numpy arrays; arrays become tensors. The object pickle
is emitted opcode by opcode (protocol 2), because the standard pickler insists that the
globals it writes (``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage``) are
importable, and this module must not need torch.

:func:`random_state_dict` and :func:`write_random_checkpoint` build checkpoints in the
official layout of each architecture with random weights.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .architectures import (
    CONV,
    CONVT,
    DCN_MASK,
    DCN_OFFSET,
    FAC_HEAD,
    IAC_HEAD,
    IFAN_FILTER_ROWS_PER_ITERATION,
    IMAGE_HEAD,
    LINEAR,
    RES2,
    get_architecture,
)
from .errors import ConversionError
from .torch_pickle import LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION

_STORAGE_NAME = {
    np.dtype(np.float32): "FloatStorage",
    np.dtype(np.float64): "DoubleStorage",
    np.dtype(np.float16): "HalfStorage",
    np.dtype(np.int64): "LongStorage",
    np.dtype(np.int32): "IntStorage",
    np.dtype(np.int16): "ShortStorage",
    np.dtype(np.int8): "CharStorage",
    np.dtype(np.uint8): "ByteStorage",
    np.dtype(np.bool_): "BoolStorage",
}


class _Emitter:
    """Minimal protocol-2 pickle writer for the object layouts torch.save produces."""

    def __init__(self, legacy: bool, location: str) -> None:
        self.out = io.BytesIO()
        self.legacy = legacy
        self.location = location
        self.storages: list[tuple[str, np.ndarray]] = []  # (key, contiguous little-endian array)

    def w(self, b: bytes) -> None:
        self.out.write(b)

    def global_(self, module: str, name: str) -> None:
        self.w(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def int_(self, v: int) -> None:
        if 0 <= v < 256:
            self.w(b"K" + bytes([v]))
        elif 0 <= v < 65536:
            self.w(b"M" + struct.pack("<H", v))
        elif -(2**31) <= v < 2**31:
            self.w(b"J" + struct.pack("<i", v))
        else:
            n = (v.bit_length() + 8) // 8
            self.w(b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True))

    def str_(self, s: str) -> None:
        b = s.encode("utf-8")
        self.w(b"X" + struct.pack("<I", len(b)) + b)

    def tuple_(self, items: tuple) -> None:
        if not items:
            self.w(b")")
            return
        if len(items) <= 3:
            for it in items:
                self.obj(it)
            self.w({1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(items)])
            return
        self.w(b"(")
        for it in items:
            self.obj(it)
        self.w(b"t")

    def empty_ordered_dict(self) -> None:
        self.global_("collections", "OrderedDict")
        self.w(b")R")

    def tensor(self, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a)
        name = _STORAGE_NAME.get(a.dtype.newbyteorder("="))
        if name is None:
            raise ConversionError(f"cannot write arrays of dtype {a.dtype} as torch tensors")
        key = str(len(self.storages))
        self.storages.append((key, a.astype(a.dtype.newbyteorder("<"), copy=False)))
        stride: list[int] = []
        acc = 1
        for n in reversed(a.shape):
            stride.insert(0, acc)
            acc *= max(n, 1)
        self.global_("torch._utils", "_rebuild_tensor_v2")
        self.w(b"(")
        # persistent id ('storage', torch.<T>Storage, key, location, numel[, None])
        self.w(b"(")
        self.str_("storage")
        self.global_("torch", name)
        self.str_(key)
        self.str_(self.location)
        self.int_(int(a.size))
        if self.legacy:
            self.w(b"N")
        self.w(b"tQ")
        self.int_(0)
        self.tuple_(tuple(int(s) for s in a.shape))
        self.tuple_(tuple(stride))
        self.w(b"\x89")  # requires_grad=False
        self.empty_ordered_dict()  # backward_hooks
        self.w(b"tR")

    def obj(self, v: Any) -> None:
        if isinstance(v, np.ndarray):
            self.tensor(v)
        elif v is None:
            self.w(b"N")
        elif v is True:
            self.w(b"\x88")
        elif v is False:
            self.w(b"\x89")
        elif isinstance(v, int):
            self.int_(v)
        elif isinstance(v, float):
            self.w(b"G" + struct.pack(">d", v))
        elif isinstance(v, str):
            self.str_(v)
        elif isinstance(v, tuple):
            self.tuple_(v)
        elif isinstance(v, list):
            self.w(b"]")
            if v:
                self.w(b"(")
                for it in v:
                    self.obj(it)
                self.w(b"e")
        elif isinstance(v, dict):
            if isinstance(v, OrderedDict):
                self.empty_ordered_dict()
            else:
                self.w(b"}")
            if v:
                self.w(b"(")
                for k, it in v.items():
                    self.obj(k)
                    self.obj(it)
                self.w(b"u")
        else:
            raise ConversionError(f"cannot write objects of type {type(v).__name__} into a checkpoint")

    def dump(self, v: Any) -> bytes:
        self.w(b"\x80\x02")
        self.obj(v)
        self.w(b".")
        return self.out.getvalue()


def _legacy_bytes(obj: Any, location: str) -> bytes:
    em = _Emitter(legacy=True, location=location)
    main = em.dump(obj)
    out = io.BytesIO()
    pickle.dump(LEGACY_MAGIC_NUMBER, out, protocol=2)
    pickle.dump(LEGACY_PROTOCOL_VERSION, out, protocol=2)
    sys_info = {
        "protocol_version": LEGACY_PROTOCOL_VERSION,
        "little_endian": True,
        "type_sizes": {"short": 2, "int": 4, "long": 4},
    }
    pickle.dump(sys_info, out, protocol=2)
    out.write(main)
    arrays = dict(em.storages)
    keys = sorted(arrays)
    pickle.dump(keys, out, protocol=2)
    for k in keys:
        a = arrays[k]
        out.write(struct.pack("<q", a.size))
        out.write(a.tobytes())
    return out.getvalue()


def _write_zip(path: Path, obj: Any, location: str, prefix: str) -> None:
    em = _Emitter(legacy=False, location=location)
    main = em.dump(obj)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/data.pkl", main)
        zf.writestr(f"{prefix}/byteorder", "little")
        for key, a in em.storages:
            zf.writestr(f"{prefix}/data/{key}", a.tobytes())
        zf.writestr(f"{prefix}/version", "3\n")


def save_torch_checkpoint(
    obj: Any, path: str | os.PathLike, fmt: str = "zip", location: str = "cpu", prefix: str = "archive"
) -> Path:
    """Write ``obj`` like ``torch.save`` would (numpy arrays become tensors).

    ``fmt`` is ``'zip'`` (PyTorch ≥ 1.6 default) or ``'legacy'`` (``_use_new_zipfile_serialization
    =False``); ``location`` is the device tag stored with each storage (``'cuda:0'`` mimics
    files saved from a GPU). The file is written to a temporary name and renamed.
    """
    if fmt not in ("zip", "legacy"):
        raise ConversionError(f"fmt must be 'zip' or 'legacy', got {fmt!r}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if fmt == "legacy":
            Path(tmp).write_bytes(_legacy_bytes(obj, location))
        else:
            _write_zip(Path(tmp), obj, location, prefix)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# ----------------------------------------------------------------------------- random weights

_LRELU_GAIN = float(np.sqrt(2.0 / (1.0 + 0.1**2)))  # He gain for LeakyReLU(0.1)


def random_state_dict(arch: str = "stfan", seed: int = 0, variant: str | None = None) -> "OrderedDict[str, np.ndarray]":
    """Random float32 weights with the official key names and shapes (no wrapper prefixes).

    Scales keep activations of moderate size through the whole network: He init for
    conv+LeakyReLU, the second conv of each residual unit damped to 0.2× so residual sums
    grow slowly, biases within ±0.01, the image heads damped to 0.05× so the output stays
    near the input. Adaptive-filter heads produce near-uniform filters: STFAN's FAC taps
    ≈ 1/25 (a box filter), IFAN's IAC taps ≈ 1/3 per pass with
    biases ≈ 0; ASPDC's DCN offsets ≈ 0 and masks ≈ sigmoid(1).
    """
    a = get_architecture(arch)
    var = a.detect_variant({}, None) if variant is None else _variant_for_writer(a, variant)
    rng = np.random.default_rng(seed)
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for spec in a.convs(var):
        shape = spec.weight
        if spec.role == CONVT:
            cin, cout, kh, kw = shape
            # stride 2: each output pixel sees about (k/2)^2 taps of every input channel
            fan_in = cin * kh * kw / 4.0
        else:
            cout, cin, kh, kw = shape
            fan_in = cin * kh * kw
        std = _LRELU_GAIN / np.sqrt(fan_in)
        bias = rng.uniform(-0.01, 0.01, size=spec.bias)
        if spec.role == RES2:
            std *= 0.2
        elif spec.role == LINEAR:
            std = 1.0 / np.sqrt(fan_in)
        elif spec.role == FAC_HEAD:
            std *= 0.05
            # taps ≈ 0.8/25 plus the weight-driven spread: the 25 taps sum to about 1
            bias = 0.8 / 25.0 + rng.uniform(-0.002, 0.002, size=spec.bias)
        elif spec.role == IAC_HEAD:
            # N iterations multiply the per-pass tap sums: keep their spread around 1 small
            std *= 0.02
            n = shape[0] // IFAN_FILTER_ROWS_PER_ITERATION
            bias = rng.uniform(-0.01, 0.01, size=spec.bias)
            bias[: 768 * n] += 1.0 / 3.0  # F1/F2 taps of every iteration; biases stay ≈ 0
        elif spec.role == IMAGE_HEAD:
            # a small predicted residual: the output stays close to the input image
            std *= 0.05
            bias = np.zeros(spec.bias)
        elif spec.role == DCN_OFFSET:
            std *= 0.01
            bias = np.zeros(spec.bias)
        elif spec.role == DCN_MASK:
            std *= 0.05
            bias = np.ones(spec.bias)
        else:
            assert spec.role in (CONV, CONVT)
        out[f"{spec.prefix}.weight"] = rng.normal(0.0, std, size=shape).astype(np.float32)
        out[f"{spec.prefix}.bias"] = bias.astype(np.float32)
    return out


def _variant_for_writer(arch: Any, variant: str) -> Any:
    """Variant from a name for writing (IFAN names imply N and dual-pixel input)."""
    if arch.name != "ifan":
        return arch.detect_variant({}, variant)
    name = variant.strip()
    low = name.lower()
    if low in ("ifan", "ifan_16bit", "16bit"):
        n, dual = 17, False
    elif low.startswith("ifan_dual"):
        rest = low[len("ifan_dual"):].lstrip("_")
        n, dual = (int(rest) if rest else 17), True
    elif low.startswith("ifan_") and low[5:].isdigit():
        n, dual = int(low[5:]), False
    else:
        raise ConversionError(f"unknown IFAN variant {variant!r}")
    shapes = {
        "F.3.weight": np.empty((IFAN_FILTER_ROWS_PER_ITERATION * n, 128, 1, 1), np.float32),
        "kconv1_1.0.weight": np.empty((32, 6 if dual else 3, 3, 3), np.float32),
    }
    return arch.detect_variant(shapes, None)


def official_checkpoint_object(arch: str, state: Mapping[str, np.ndarray], epoch: int = 0) -> Any:
    """Wrap a plain state dict the way the official training code saves it.

    STFAN: ``{'epoch_idx', 'Best_Img_PSNR', 'Best_Epoch', 'deblurnet_state_dict'}`` with
    ``module.``-prefixed keys. IFAN: a flat OrderedDict of ``module.Network.``-prefixed keys.
    ASPDC: ``{'epoch', 'deblurring_state_dict'}`` without prefixes.
    """
    a = get_architecture(arch)
    if a.name == "stfan":
        sd = OrderedDict((f"module.{k}", v) for k, v in state.items())
        return {"epoch_idx": epoch, "Best_Img_PSNR": 0.0, "Best_Epoch": epoch, "deblurnet_state_dict": sd}
    if a.name == "ifan":
        return OrderedDict((f"module.Network.{k}", v) for k, v in state.items())
    return {"epoch": epoch, "deblurring_state_dict": OrderedDict(state)}


_DEFAULT_FORMAT = {"stfan": "legacy", "ifan": "zip", "aspdc": "zip"}


def write_random_checkpoint(
    path: str | os.PathLike,
    arch: str = "stfan",
    fmt: str | None = None,
    seed: int = 0,
    variant: str | None = None,
) -> Path:
    """Write a checkpoint with RANDOM weights in the official layout of ``arch``.

    The result converts and runs like a released file but restores nothing: it exists for
    demos and tests on machines without the real weights. ``fmt`` defaults to the format
    of the official release (STFAN: legacy; IFAN and ASPDC: zip); storages are tagged
    ``'cuda:0'`` as in files saved from a GPU.
    """
    a = get_architecture(arch)
    fmt = fmt or _DEFAULT_FORMAT[a.name]
    obj = official_checkpoint_object(a.name, random_state_dict(a.name, seed=seed, variant=variant))
    return save_torch_checkpoint(obj, path, fmt=fmt, location="cuda:0")
