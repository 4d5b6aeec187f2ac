"""Read PyTorch checkpoint files without PyTorch and without running code from the file.

Two container formats exist:

* **zip** (``torch.save`` since PyTorch 1.6): a zip archive whose entries share one
  top-level folder of arbitrary name (``archive``, or the file's stem for older writers):
  ``<prefix>/data.pkl`` is the object pickle, ``<prefix>/data/<key>`` holds the raw bytes of
  each storage, ``<prefix>/byteorder`` says ``little`` or ``big`` (absent: little).
* **legacy** (PyTorch 0.4 to 1.5, or ``_use_new_zipfile_serialization=False``): a stream of
  five pickles, the magic number ``0x1950a86a20f9469cfc6c``, the protocol version ``1001``,
  a ``sys_info`` dict, the object pickle and the sorted list of storage keys, followed for
  each key by an int64 little-endian element count and the raw storage bytes.

In both, a tensor is pickled as a call of ``torch._utils._rebuild_tensor_v2(storage,
storage_offset, size, stride, requires_grad, backward_hooks)`` and a storage as the
persistent id ``('storage', torch.FloatStorage, key, location, numel[, view_metadata])``.

The unpickler here resolves globals through a short allow-list that maps each permitted
name to a function of this module (never to the real torch or numpy object): tensors come
back as lazy references and are turned into numpy arrays once all storage bytes are known.
Any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) raises
:class:`ConversionError` naming it, before anything is called.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .errors import ConversionError

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

# Storage class name -> (numpy dtype without byte order, is bfloat16). bfloat16 is read as
# uint16 and widened to float32 by a 16-bit shift (exact), because numpy has no bfloat16.
_STORAGE_TYPES: dict[str, tuple[str, bool]] = {
    "FloatStorage": ("f4", False),
    "DoubleStorage": ("f8", False),
    "HalfStorage": ("f2", False),
    "BFloat16Storage": ("u2", True),
    "LongStorage": ("i8", False),
    "IntStorage": ("i4", False),
    "ShortStorage": ("i2", False),
    "CharStorage": ("i1", False),
    "ByteStorage": ("u1", False),
    "BoolStorage": ("b1", False),
    "UntypedStorage": ("u1", False),
}

# Numpy scalar dtypes accepted inside checkpoints (some training scripts store metrics
# such as the best PSNR as numpy scalars).
_NUMPY_SCALAR_CODES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1", "?"}

# Upper bound on the elements materialised for one tensor, relative to its storage.
# Only stride-0 (expanded) tensors can exceed their storage; this stops a hostile file
# from asking for terabytes with a tiny storage.
_MAX_EXPANSION = 1024


class _Opaque:
    """Base of the internal marker objects: refuses pickle BUILD (``__setstate__``)."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise ConversionError(
            f"malformed checkpoint: pickle tries to set state on an internal {type(self).__name__}"
        )


class StorageType(_Opaque):
    """Stand-in for ``torch.<Name>Storage`` classes."""

    __slots__ = ("name", "code", "bf16")

    def __init__(self, name: str, code: str, bf16: bool) -> None:
        self.name = name
        self.code = code
        self.bf16 = bf16

    def numpy_dtype(self, byteorder: str) -> np.dtype:
        if self.code in ("u1", "i1", "b1"):
            return np.dtype(self.code)
        return np.dtype(("<" if byteorder == "little" else ">") + self.code)

    @property
    def itemsize(self) -> int:
        return np.dtype(self.code).itemsize

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class Storage(_Opaque):
    """One root storage: element type, element count and (once read) its flat data."""

    __slots__ = ("stype", "key", "location", "numel", "data")

    def __init__(self, stype: StorageType, key: str, location: str, numel: int) -> None:
        self.stype = stype
        self.key = key
        self.location = location
        self.numel = numel
        self.data: np.ndarray | None = None


class StorageSlice(_Opaque):
    """What a persistent id resolves to: a root storage or a view of it (legacy format)."""

    __slots__ = ("root", "start", "length")

    def __init__(self, root: Storage, start: int, length: int) -> None:
        self.root = root
        self.start = start
        self.length = length


class TensorRef(_Opaque):
    """A tensor whose bytes may not have been read yet (legacy storages follow the pickle)."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage: StorageSlice, offset: int, size: tuple, stride: tuple) -> None:
        self.storage = storage
        self.offset = offset
        self.size = size
        self.stride = stride


class _TypeMarker(_Opaque):
    """Stand-in for ``torch.Tensor`` / ``torch.nn.Parameter`` as passed to ``_rebuild_from_type_v2``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class PickledOrderedDict(OrderedDict):
    """``collections.OrderedDict`` as unpickled: pickle BUILD state (a state dict's
    ``_metadata`` attribute of module versions) is accepted and ignored."""

    def __setstate__(self, state: Any) -> None:  # noqa: D401 - pickle protocol
        if not isinstance(state, dict):
            raise ConversionError("malformed checkpoint: OrderedDict state is not a dict")


class _NumpyDType(_Opaque):
    """Stand-in for ``numpy.dtype(code, align, copy)`` followed by BUILD of its state."""

    __slots__ = ("code", "byteorder")

    def __init__(self, code: Any = None, align: Any = False, copy: Any = True) -> None:
        if not isinstance(code, str) or code not in _NUMPY_SCALAR_CODES:
            raise ConversionError(f"refusing numpy dtype {code!r} in checkpoint (numbers only)")
        self.code = code
        self.byteorder = "<"

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
            raise ConversionError("malformed checkpoint: bad numpy dtype state")
        self.byteorder = state[1]


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConversionError(
            f"malformed checkpoint: {what} must be an integer, got {type(value).__name__}"
        )
    return value


def _as_int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise ConversionError(
            f"malformed checkpoint: {what} must be a tuple, got {type(value).__name__}"
        )
    return tuple(_as_int(v, what) for v in value)


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> TensorRef:
    """Replacement of ``torch._utils._rebuild_tensor``: records the view, copies nothing."""
    if not isinstance(storage, StorageSlice):
        raise ConversionError(
            "malformed checkpoint: tensor rebuilt from something that is not a storage"
        )
    offset = _as_int(storage_offset, "storage_offset")
    size_t = _as_int_tuple(size, "tensor size")
    stride_t = _as_int_tuple(stride, "tensor stride")
    if len(size_t) != len(stride_t):
        raise ConversionError(
            f"malformed checkpoint: tensor size {size_t} and stride {stride_t} differ in length"
        )
    if offset < 0 or any(s < 0 for s in size_t) or any(s < 0 for s in stride_t):
        raise ConversionError(
            f"malformed checkpoint: negative tensor offset/size/stride ({offset}, {size_t}, {stride_t})"
        )
    return TensorRef(storage, offset, size_t, stride_t)


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> TensorRef:
    """Replacement of ``torch._utils._rebuild_tensor_v2``; autograd fields are ignored."""
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(
    data: Any, requires_grad: Any = False, backward_hooks: Any = None, state: Any = None
) -> Any:
    """Replacement of ``torch._utils._rebuild_parameter(_with_state)``: a parameter is its data."""
    if not isinstance(data, TensorRef):
        raise ConversionError("malformed checkpoint: parameter data is not a tensor")
    return data


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any = None) -> Any:
    """Replacement of ``torch._tensor._rebuild_from_type_v2`` (tensors carrying a Python type)."""
    if func not in (_rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter) or not isinstance(
        new_type, _TypeMarker
    ):
        raise ConversionError("malformed checkpoint: unsupported tensor subclass reconstruction")
    if not isinstance(args, tuple):
        raise ConversionError(
            "malformed checkpoint: tensor reconstruction arguments are not a tuple"
        )
    return func(*args)


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """Replacement of ``_codecs.encode``, which protocol-2 pickles use for ``bytes`` objects."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ConversionError("refusing _codecs.encode call other than str -> latin1 bytes")
    return text.encode("latin1")


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """Replacement of ``numpy.core.multiarray.scalar``: returns a plain Python number."""
    if not isinstance(dtype, _NumpyDType) or not isinstance(data, bytes):
        raise ConversionError("malformed checkpoint: bad numpy scalar")
    order = "|" if dtype.code in ("i1", "u1", "b1", "?") else dtype.byteorder
    dt = np.dtype(dtype.code).newbyteorder(order if order != "=" else "=")
    if len(data) != dt.itemsize:
        raise ConversionError("malformed checkpoint: numpy scalar has the wrong byte count")
    return np.frombuffer(data, dtype=dt)[0].item()


def _make_set(items: Any = ()) -> set:
    return set(items)


def _make_frozenset(items: Any = ()) -> frozenset:
    return frozenset(items)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch._utils", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): _TypeMarker("Tensor"),
        ("torch._tensor", "Tensor"): _TypeMarker("Tensor"),
        ("torch.nn.parameter", "Parameter"): _TypeMarker("Parameter"),
        ("collections", "OrderedDict"): PickledOrderedDict,
        ("builtins", "set"): _make_set,
        ("builtins", "frozenset"): _make_frozenset,
        ("__builtin__", "set"): _make_set,
        ("__builtin__", "frozenset"): _make_frozenset,
        ("_codecs", "encode"): _codecs_encode,
        ("numpy.core.multiarray", "scalar"): _numpy_scalar,
        ("numpy._core.multiarray", "scalar"): _numpy_scalar,
        ("numpy", "dtype"): _NumpyDType,
    }
    for name, (code, bf16) in _STORAGE_TYPES.items():
        stype = StorageType(name, code, bf16)
        table[("torch", name)] = stype
        table[("torch.storage", name)] = stype
        if name != "UntypedStorage":
            # PyTorch normalises CUDA storage classes to CPU ones when saving, but accept both.
            table[("torch.cuda", name)] = stype
    return table


_ALLOWED = _allowed_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose globals come only from the allow-list above.

    ``encoding='latin1'`` decodes Python-2 ``str`` objects (``SHORT_BINSTRING`` /
    ``BINSTRING``) to ``str``; checkpoint keys are ASCII, so this is lossless for them.
    """

    def __init__(
        self, file: io.BytesIO, persistent_load: Callable[[Any], Any] | None = None
    ) -> None:
        super().__init__(file, encoding="latin1")
        self._persistent = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise ConversionError(
                f"refusing to load global '{module}.{name}' from the checkpoint: only tensors, "
                "containers and numbers are allowed (nothing from the file is executed)"
            )
        return obj

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise ConversionError(
                "malformed checkpoint: unexpected persistent id in a header pickle"
            )
        return self._persistent(pid)


@dataclass
class LoadedCheckpoint:
    """Result of :func:`load_torch_checkpoint`.

    ``obj`` is the unpickled object with every tensor replaced by a C-contiguous numpy array
    of the stored dtype (bfloat16 widened to float32). ``notes`` lists facts worth
    reporting (widened bfloat16 tensors, ignored trailing bytes); ``locations`` the device
    tags of the storages (``'cpu'``, ``'cuda:0'``, ...; all are read to host memory).
    """

    obj: Any
    container: str  # "zip" or "legacy"
    notes: list[str] = field(default_factory=list)
    locations: set[str] = field(default_factory=set)


class _StorageTable:
    """Persistent-id handler shared by both formats."""

    def __init__(
        self, legacy: bool, byteorder: str, reader: Callable[[Storage], None] | None
    ) -> None:
        self.legacy = legacy
        self.byteorder = byteorder
        self.reader = reader  # zip: reads a storage's bytes on first use
        self.roots: dict[str, Storage] = {}
        self.views: dict[str, StorageSlice] = {}

    def __call__(self, pid: Any) -> StorageSlice:
        if not isinstance(pid, tuple) or not pid:
            raise ConversionError("malformed checkpoint: persistent id is not a tuple")
        kind = pid[0].decode("ascii", "replace") if isinstance(pid[0], bytes) else pid[0]
        if kind != "storage":
            raise ConversionError(
                f"refusing persistent id of kind {kind!r}: only tensor storages are supported "
                "(whole pickled modules cannot be loaded without running their code)"
            )
        if self.legacy:
            if len(pid) != 6:
                raise ConversionError("malformed checkpoint: legacy storage id must have 6 fields")
            _, stype, key, location, numel, view = pid
        else:
            if len(pid) != 5:
                raise ConversionError("malformed checkpoint: storage id must have 5 fields")
            _, stype, key, location, numel = pid
            view = None
        if not isinstance(stype, StorageType):
            raise ConversionError("malformed checkpoint: storage id does not name a storage type")
        if not isinstance(key, str) or not isinstance(location, str):
            raise ConversionError("malformed checkpoint: storage key/location must be strings")
        numel = _as_int(numel, "storage size")
        if numel < 0:
            raise ConversionError("malformed checkpoint: negative storage size")
        root = self.roots.get(key)
        if root is None:
            root = Storage(stype, key, location, numel)
            self.roots[key] = root
            if self.reader is not None:
                self.reader(root)
        elif root.stype is not stype or root.numel != numel:
            raise ConversionError(
                f"malformed checkpoint: storage {key!r} declared twice with different types/sizes"
            )
        if view is None:
            return StorageSlice(root, 0, numel)
        if not isinstance(view, tuple) or len(view) != 3:
            raise ConversionError("malformed checkpoint: bad storage view metadata")
        view_key, offset, size = view
        offset = _as_int(offset, "storage view offset")
        size = _as_int(size, "storage view size")
        if not isinstance(view_key, str) or offset < 0 or size < 0 or offset + size > numel:
            raise ConversionError(f"malformed checkpoint: storage view outside storage {key!r}")
        existing = self.views.get(view_key)
        if existing is None:
            existing = StorageSlice(root, offset, size)
            self.views[view_key] = existing
        return existing


def _materialize_tensor(ref: TensorRef, byteorder: str) -> np.ndarray:
    root = ref.storage.root
    if root.data is None:
        raise ConversionError(f"malformed checkpoint: no data for storage {root.key!r}")
    numel = 1
    for s in ref.size:
        numel *= s
    itemsize = root.data.dtype.itemsize
    if numel == 0:
        out = np.zeros(ref.size, dtype=root.data.dtype.newbyteorder("="))
    else:
        last = ref.offset + sum((n - 1) * st for n, st in zip(ref.size, ref.stride))
        if last >= ref.storage.length:
            raise ConversionError(
                f"malformed checkpoint: tensor of size {ref.size} (offset {ref.offset}, stride "
                f"{ref.stride}) reads past the end of storage {root.key!r} ({ref.storage.length} elements)"
            )
        if numel > max(ref.storage.length, 1) * _MAX_EXPANSION:
            raise ConversionError(
                f"malformed checkpoint: tensor of size {ref.size} is implausibly large for its storage"
            )
        base = root.data[ref.storage.start + ref.offset :]
        view = np.lib.stride_tricks.as_strided(
            base, shape=ref.size, strides=tuple(st * itemsize for st in ref.stride), writeable=False
        )
        # np.array, not np.ascontiguousarray: the latter turns 0-d tensors into 1-d arrays
        out = np.array(view, dtype=root.data.dtype.newbyteorder("="), order="C", copy=True)
    if root.stype.bf16:
        out = (out.astype(np.uint32) << 16).view(np.float32)
    return out


def _materialize(obj: Any, byteorder: str, counts: dict[str, int], depth: int = 0) -> Any:
    """Replace every TensorRef in nested dicts/lists/tuples by a numpy array; ``counts``
    collects how many tensors had each storage type."""
    if depth > 200:
        raise ConversionError("malformed checkpoint: objects nested too deeply")
    if isinstance(obj, TensorRef):
        name = obj.storage.root.stype.name
        counts[name] = counts.get(name, 0) + 1
        return _materialize_tensor(obj, byteorder)
    if isinstance(obj, _Opaque):
        raise ConversionError(f"malformed checkpoint: stray {type(obj).__name__} outside a tensor")
    if isinstance(obj, dict):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _materialize(v, byteorder, counts, depth + 1)
        return out
    if isinstance(obj, list):
        return [_materialize(v, byteorder, counts, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v, byteorder, counts, depth + 1) for v in obj)
    return obj


def _bf16_notes(counts: dict[str, int]) -> list[str]:
    n = counts.get("BFloat16Storage", 0)
    return [f"converted {n} bfloat16 tensors to float32 (exact)"] if n else []


def _guarded(what: str, fn: Callable[[], Any]) -> Any:
    """Run a parsing step, turning any low-level failure into a one-line ConversionError."""
    try:
        return fn()
    except ConversionError:
        raise
    except (EOFError, pickle.UnpicklingError) as exc:
        raise ConversionError(f"{what}: truncated or corrupt pickle data ({exc})") from None
    except zipfile.BadZipFile as exc:
        raise ConversionError(f"{what}: corrupt zip archive ({exc})") from None
    except MemoryError:
        raise ConversionError(
            f"{what}: corrupt file (asks for more memory than available)"
        ) from None
    except RecursionError:
        raise ConversionError(f"{what}: corrupt file (objects nested too deeply)") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure of untrusted bytes is a format error
        raise ConversionError(
            f"{what}: corrupt or unsupported data ({type(exc).__name__}: {exc})"
        ) from None


def _load_zip(data: bytes, name: str) -> LoadedCheckpoint:
    zf = _guarded(f"{name}: reading zip archive", lambda: zipfile.ZipFile(io.BytesIO(data)))
    names = zf.namelist()
    if not names:
        raise ConversionError(f"{name}: zip archive is empty, not a PyTorch checkpoint")
    # As in PyTorch's reader, the record prefix is the folder of the first entry.
    prefix = names[0].split("/", 1)[0] if "/" in names[0] else ""
    join = (lambda rec: f"{prefix}/{rec}") if prefix else (lambda rec: rec)
    present = set(names)
    if join("data.pkl") not in present:
        raise ConversionError(
            f"{name}: zip archive has no {join('data.pkl')}; not a PyTorch checkpoint"
        )
    byteorder = "little"
    if join("byteorder") in present:
        raw = _guarded(f"{name}: reading byteorder", lambda: zf.read(join("byteorder"))).strip()
        if raw not in (b"little", b"big"):
            raise ConversionError(f"{name}: unknown byteorder record {raw[:20]!r}")
        byteorder = raw.decode()

    def read_storage(storage: Storage) -> None:
        record = join(f"data/{storage.key}")
        if record not in present:
            raise ConversionError(f"{name}: storage record {record} is missing from the archive")
        raw = zf.read(record)
        expected = storage.numel * storage.stype.itemsize
        if len(raw) != expected:
            raise ConversionError(
                f"{name}: storage {storage.key!r} has {len(raw)} bytes, expected {expected}"
            )
        storage.data = np.frombuffer(raw, dtype=storage.stype.numpy_dtype(byteorder))

    table = _StorageTable(legacy=False, byteorder=byteorder, reader=read_storage)
    pkl = _guarded(f"{name}: reading data.pkl", lambda: zf.read(join("data.pkl")))
    obj = _guarded(
        f"{name}: reading data.pkl",
        lambda: _RestrictedUnpickler(io.BytesIO(pkl), table).load(),
    )
    counts: dict[str, int] = {}
    obj = _guarded(f"{name}: rebuilding tensors", lambda: _materialize(obj, byteorder, counts))
    locations = {s.location for s in table.roots.values()}
    return LoadedCheckpoint(
        obj=obj, container="zip", notes=_bf16_notes(counts), locations=locations
    )


def _load_legacy(data: bytes, name: str) -> LoadedCheckpoint:
    f = io.BytesIO(data)
    notes: list[str] = []

    def header(what: str) -> Any:
        return _guarded(f"{name}: reading {what}", lambda: _RestrictedUnpickler(f).load())

    magic = header("magic number")
    if magic != LEGACY_MAGIC_NUMBER:
        raise ConversionError(
            f"{name}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save stream)"
        )
    version = header("protocol version")
    if version != LEGACY_PROTOCOL_VERSION:
        raise ConversionError(
            f"{name}: unsupported legacy protocol version {version!r} (expected 1001)"
        )
    sys_info = header("sys_info")
    if not isinstance(sys_info, dict):
        raise ConversionError(f"{name}: malformed legacy sys_info record")
    byteorder = "little" if sys_info.get("little_endian", True) else "big"
    table = _StorageTable(legacy=True, byteorder=byteorder, reader=None)
    obj = _guarded(f"{name}: reading object pickle", lambda: _RestrictedUnpickler(f, table).load())
    keys = header("storage key list")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ConversionError(f"{name}: malformed legacy storage key list")
    for key in keys:
        storage = table.roots.get(key)
        if storage is None:
            raise ConversionError(
                f"{name}: storage {key!r} in the key list is not used by any tensor"
            )
        head = f.read(8)
        if len(head) != 8:
            raise ConversionError(f"{name}: file is truncated (missing data of storage {key!r})")
        count = int.from_bytes(head, "little", signed=True)
        if count != storage.numel:
            raise ConversionError(
                f"{name}: storage {key!r} has {count} elements in the data section, "
                f"{storage.numel} in the pickle (corrupt file)"
            )
        nbytes = count * storage.stype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise ConversionError(f"{name}: file is truncated (storage {key!r} is incomplete)")
        storage.data = np.frombuffer(raw, dtype=storage.stype.numpy_dtype(byteorder))
    missing = [k for k, s in table.roots.items() if s.data is None]
    if missing:
        raise ConversionError(f"{name}: no data for storages {', '.join(missing)} (corrupt file)")
    trailing = len(data) - f.tell()
    if trailing:
        notes.append(f"ignored {trailing} trailing bytes after the last storage")
    counts: dict[str, int] = {}
    obj = _guarded(f"{name}: rebuilding tensors", lambda: _materialize(obj, byteorder, counts))
    locations = {s.location for s in table.roots.values()}
    return LoadedCheckpoint(
        obj=obj, container="legacy", notes=notes + _bf16_notes(counts), locations=locations
    )


def load_torch_checkpoint_bytes(data: bytes, name: str = "checkpoint") -> LoadedCheckpoint:
    """Parse the bytes of a ``torch.save`` file (zip or legacy) into numpy arrays.

    ``name`` only prefixes error messages. Raises :class:`ConversionError` for anything
    that is not a well-formed PyTorch checkpoint made of tensors, containers and numbers.
    """
    if not data:
        raise ConversionError(f"{name}: file is empty")
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise ConversionError(f"{name}: truncated or corrupt zip archive")
        return _load_zip(data, name)
    if data[:1] == b"\x80":
        return _load_legacy(data, name)
    if len(data) > 262 and data[257:262] == b"ustar":
        raise ConversionError(
            f"{name}: tar-based checkpoints (PyTorch < 0.4) are not supported; re-save with a newer PyTorch"
        )
    raise ConversionError(
        f"{name}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save stream)"
    )
