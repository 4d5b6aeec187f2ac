"""The restricted unpickler of :mod:`.torch_pickle`: what a checkpoint's pickle may build.

Globals resolve through a short allow-list that maps each permitted name to a stand-in of
this module (never to the real torch or numpy object): tensors come back as lazy
:class:`TensorRef` objects. Any other global (``os.system``, ``builtins.eval``, ...) raises
:class:`ConversionError` naming it, before anything is called.

Untrusted pickles are bounded as they are read:

* every callable of the allow-list is a fresh :class:`_Callable` per file, whose
  ``__setstate__`` refuses, so a pickle ``BUILD`` cannot set attributes (``__defaults__``,
  ``__code__``, ...) on the converter's functions, and nothing one file does can reach the
  next; ``BUILD`` is accepted only on the plain data objects the unpickler itself created
  (an ``OrderedDict``'s ignored ``_metadata``, a numpy dtype's byte order);
* the pickle runs on the pure-Python unpickler, whose opcode table is wrapped to charge
  every opcode (more for the ones creating containers, and per element for the allow-listed
  calls that copy a container) against a budget of :data:`MAX_PICKLE_UNITS`, so no pickle
  builds more than a few hundred megabytes of objects, and refusing takes seconds.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from .errors import ConversionError, brief

#: Budget of one pickle, in units: one per opcode, :data:`_CONTAINER_COST` for an opcode that
#: creates a container, one per element copied by ``set(...)``, ``OrderedDict(...)`` and the
#: like. The largest Python object one unit can make is an empty set (~220 bytes per 4
#: units; a one-character string ~60 bytes per unit), so a pickle stays under ~300 MB of
#: objects; reading the budget's worth of opcodes takes a few seconds. Official and re-saved training checkpoints use a few hundred thousand units.
MAX_PICKLE_UNITS = 5_000_000
_CONTAINER_COST = 4
# EMPTY_LIST/TUPLE/DICT/SET, FROZENSET, LIST, TUPLE, TUPLE1-3, DICT.
_CONTAINER_OPCODES = b"])}\x8f\x91lt\x85\x86\x87d"

# Storage class name -> (numpy dtype without byte order, is bfloat16). bfloat16 is read as
# uint16 and widened to float32 by a 16-bit shift (exact), because numpy has no bfloat16.
STORAGE_TYPES: dict[str, tuple[str, bool]] = {
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

#: Tensor sizes, strides and offsets must be below this (PyTorch's int64 limit).
MAX_INDEX = 2**63


#: Largest number of items (counted along every path) of a tuple used as a dict key or set
#: member. Tuples do not cache their hash: one nested with shared members (each level
#: holding the previous one ten times) hashes in time exponential in its depth.
MAX_KEY_ITEMS = 256


def check_key(key: Any) -> None:
    """Refuse a dict key or set member whose hash or comparison would not be quick."""
    if type(key) is not tuple:
        return  # str, int, float, bytes, None, frozenset (caches its hash), markers
    todo, count = [key], 0
    while todo:
        item = todo.pop()
        count += 1
        if count > MAX_KEY_ITEMS:
            raise ConversionError(
                "malformed checkpoint: a dict key or set member is a tuple of more than "
                f"{MAX_KEY_ITEMS} nested items"
            )
        if type(item) is tuple:
            todo.extend(item)


def _checked_set(items: Any = ()) -> set:
    for item in items:
        check_key(item)
    return set(items)


def _checked_frozenset(items: Any = ()) -> frozenset:
    for item in items:
        check_key(item)
    return frozenset(items)


def _ordered_dict(*args: Any) -> PickledOrderedDict:
    if args and isinstance(args[0], (list, tuple)):
        for pair in args[0]:
            if isinstance(pair, (tuple, list)) and pair:
                check_key(pair[0])
    return PickledOrderedDict(*args)


class Opaque:
    """Base of the internal marker objects: refuses pickle BUILD (``__setstate__``)."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise ConversionError(
            f"malformed checkpoint: pickle tries to set state on an internal {type(self).__name__}"
        )


class StorageType(Opaque):
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


class Storage(Opaque):
    """One root storage: element type, element count and (once read) its flat data."""

    __slots__ = ("stype", "key", "location", "numel", "data")

    def __init__(self, stype: StorageType, key: str, location: str, numel: int) -> None:
        self.stype = stype
        self.key = key
        self.location = location
        self.numel = numel
        self.data: np.ndarray | None = None


class StorageSlice(Opaque):
    """What a persistent id resolves to: a root storage or a view of it (legacy format)."""

    __slots__ = ("root", "start", "length")

    def __init__(self, root: Storage, start: int, length: int) -> None:
        self.root = root
        self.start = start
        self.length = length


class TensorRef(Opaque):
    """A tensor whose bytes may not have been read yet (legacy storages follow the pickle)."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage: StorageSlice, offset: int, size: tuple, stride: tuple) -> None:
        self.storage = storage
        self.offset = offset
        self.size = size
        self.stride = stride


class _TypeMarker(Opaque):
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


class _NumpyDType(Opaque):
    """Stand-in for ``numpy.dtype(code, align, copy)`` followed by BUILD of its state."""

    __slots__ = ("code", "byteorder")

    def __init__(self, code: Any = None, align: Any = False, copy: Any = True) -> None:
        if not isinstance(code, str) or code not in _NUMPY_SCALAR_CODES:
            raise ConversionError(
                f"refusing numpy dtype {brief(code)} in checkpoint (numbers only)"
            )
        self.code = code
        self.byteorder = "<"

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
            raise ConversionError("malformed checkpoint: bad numpy dtype state")
        self.byteorder = state[1]


def as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConversionError(
            f"malformed checkpoint: {what} must be an integer, got {type(value).__name__}"
        )
    if not -MAX_INDEX < value < MAX_INDEX:
        raise ConversionError(f"malformed checkpoint: {what} is out of the int64 range")
    return value


def _as_int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise ConversionError(
            f"malformed checkpoint: {what} must be a tuple, got {type(value).__name__}"
        )
    if len(value) > 64:
        raise ConversionError(f"malformed checkpoint: {what} has {len(value)} dimensions")
    return tuple(as_int(v, what) for v in value)


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> TensorRef:
    """Replacement of ``torch._utils._rebuild_tensor``: records the view, copies nothing."""
    if not isinstance(storage, StorageSlice):
        raise ConversionError(
            "malformed checkpoint: tensor rebuilt from something that is not a storage"
        )
    offset = as_int(storage_offset, "storage_offset")
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


_TENSOR_REBUILDERS = (_rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter)


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any = None) -> Any:
    """Replacement of ``torch._tensor._rebuild_from_type_v2`` (tensors carrying a Python type)."""
    target = func.fn if isinstance(func, _Callable) else None
    if target not in _TENSOR_REBUILDERS or not isinstance(new_type, _TypeMarker):
        raise ConversionError("malformed checkpoint: unsupported tensor subclass reconstruction")
    if not isinstance(args, tuple):
        raise ConversionError(
            "malformed checkpoint: tensor reconstruction arguments are not a tuple"
        )
    return target(*args)


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


class _Callable(Opaque):
    """An allow-listed callable as one unpickler sees it: calls ``fn``, first charging the
    elements of its first argument (the container it copies) to that unpickler's budget.
    Being an :class:`Opaque`, it refuses BUILD, so the pickle cannot modify ``fn``."""

    __slots__ = ("fn", "charge")

    def __init__(self, fn: Callable[..., Any], charge: Callable[[int], None]) -> None:
        self.fn = fn
        self.charge = charge

    def __call__(self, *args: Any) -> Any:
        if args and isinstance(args[0], (list, tuple, dict, set, frozenset, str, bytes)):
            self.charge(len(args[0]))
        return self.fn(*args)


_CALLABLES: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch._utils", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "set"): _checked_set,
    ("builtins", "frozenset"): _checked_frozenset,
    ("__builtin__", "set"): _checked_set,
    ("__builtin__", "frozenset"): _checked_frozenset,
    ("_codecs", "encode"): _codecs_encode,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): _NumpyDType,
}


def _markers() -> dict[tuple[str, str], Opaque]:
    """The non-callable globals: tensor type markers and storage classes (immutable)."""
    table: dict[tuple[str, str], Opaque] = {
        ("torch", "Tensor"): _TypeMarker("Tensor"),
        ("torch._tensor", "Tensor"): _TypeMarker("Tensor"),
        ("torch.nn.parameter", "Parameter"): _TypeMarker("Parameter"),
    }
    for name, (code, bf16) in STORAGE_TYPES.items():
        stype = StorageType(name, code, bf16)
        table[("torch", name)] = stype
        table[("torch.storage", name)] = stype
        if name != "UntypedStorage":
            # PyTorch normalises CUDA storage classes to CPU ones when saving, but accept both.
            table[("torch.cuda", name)] = stype
    return table


_MARKERS = _markers()


# Protocol-5 buffers, which no checkpoint uses; BYTEARRAY8 would also allocate its declared
# length (up to 2**63 bytes) before reading a single byte of it.
_REFUSED_OPCODES = b"\x96\x97\x98"  # BYTEARRAY8, NEXT_BUFFER, READONLY_BUFFER


def _refuse_opcode(unpickler: RestrictedUnpickler) -> None:
    raise ConversionError(
        "malformed checkpoint: pickle uses out-of-band buffers or bytearrays (protocol 5), "
        "which no PyTorch checkpoint contains"
    )


def _charging(op: Callable[[Any], None], cost: int) -> Callable[[Any], None]:
    def charged(unpickler: RestrictedUnpickler) -> None:
        unpickler.charge(cost)
        op(unpickler)

    return charged


def _dispatch_table(cls: type) -> dict[int, Callable[[Any], None]]:
    """The opcode table of the pure-Python unpickler, with the methods ``cls`` overrides,
    each opcode charged to the budget."""
    table = {
        code: _charging(
            getattr(cls, op.__name__), _CONTAINER_COST if code in _CONTAINER_OPCODES else 1
        )
        for code, op in pickle._Unpickler.dispatch.items()
    }
    for code in _REFUSED_OPCODES:
        table[code] = _refuse_opcode
    return table


class RestrictedUnpickler(pickle._Unpickler):
    """Pure-Python unpickler with the allow-list above and a budget of opcodes/elements.

    ``encoding='latin1'`` decodes Python-2 ``str`` objects (``SHORT_BINSTRING`` /
    ``BINSTRING``) to ``str``; checkpoint keys are ASCII, so this is lossless for them.
    ``persistent_load`` resolves storages (``None``: a persistent id is an error).
    """

    def __init__(
        self, file: io.BytesIO, persistent_load: Callable[[Any], Any] | None = None
    ) -> None:
        super().__init__(file, encoding="latin1")
        self._persistent = persistent_load
        self._units = MAX_PICKLE_UNITS
        self._callables: dict[tuple[str, str], _Callable] = {}

    def charge(self, units: int) -> None:
        self._units -= units
        if self._units < 0:
            raise ConversionError(
                f"checkpoint pickle is too large: it builds more than {MAX_PICKLE_UNITS:,} "
                "objects/elements (no model checkpoint needs that many; refused to bound memory)"
            )

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        marker = _MARKERS.get(key)
        if marker is not None:
            return marker
        fn = _CALLABLES.get(key)
        if fn is None:
            raise ConversionError(
                f"refusing to load global '{module}.{name}' from the checkpoint: only tensors, "
                "containers and numbers are allowed (nothing from the file is executed)"
            )
        wrapped = self._callables.get(key)
        if wrapped is None:
            wrapped = self._callables[key] = _Callable(fn, self.charge)
        return wrapped

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise ConversionError(
                "malformed checkpoint: unexpected persistent id in a header pickle"
            )
        return self._persistent(pid)

    # The opcodes that hash pickled objects (dict keys, set members) check them first.
    def load_setitem(self) -> None:
        check_key(self.stack[-2])
        super().load_setitem()

    def load_setitems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        for i in range(0, len(items), 2):
            check_key(items[i])
            target[items[i]] = items[i + 1]

    def load_dict(self) -> None:
        items = self.pop_mark()
        for key in items[::2]:
            check_key(key)
        self.append({items[i]: items[i + 1] for i in range(0, len(items), 2)})

    def load_additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        for item in items:
            check_key(item)
            target.add(item)

    def load_frozenset(self) -> None:
        self.append(_checked_frozenset(self.pop_mark()))


RestrictedUnpickler.dispatch = _dispatch_table(RestrictedUnpickler)
