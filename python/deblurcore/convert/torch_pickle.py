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

The restricted unpickler of :mod:`.unpickler` resolves globals through a short allow-list
(nothing from the file is executed) and bounds what a pickle may build; tensors come back as
lazy references and are turned into numpy arrays once all storage bytes are known.

Resources are bounded relative to what the file can hold, so that any file is converted or
refused in seconds and in memory close to the size of its real tensors:

* zip: at most :data:`MAX_ZIP_ENTRIES` entries; ``data.pkl`` at most
  :data:`MAX_PICKLE_BYTES`; every entry's declared size is checked before it is
  decompressed and reading stops at the declared size; all storages together may decompress
  to at most :func:`storage_budget` bytes (twice the file, plus 64 MiB);
* legacy: a storage's element count must fit in the bytes that remain in the file;
* rebuilding: each shared object (a tensor, a container) is materialised once, however often
  the pickle refers to it, and the tensors produced may total at most twice the bytes of the
  storages plus 64 MiB (bfloat16 is widened to float32; stride-0 and overlapping views are
  counted at their expanded size).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from struct import error as struct_error
from typing import Any, Callable

import numpy as np

from .errors import ConversionError, brief
from .unpickler import (
    MAX_INDEX,
    Opaque,
    RestrictedUnpickler,
    Storage,
    StorageSlice,
    StorageType,
    TensorRef,
    as_int,
)

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

#: Largest zip ``data.pkl`` accepted (official checkpoints: a few kilobytes; a training
#: checkpoint with optimizer state and histories: a few megabytes).
MAX_PICKLE_BYTES = 64 << 20
#: Largest number of zip entries (one per storage, plus a few records).
MAX_ZIP_ENTRIES = 100_000
_SLACK_BYTES = 64 << 20

# Upper bound on the elements materialised for one tensor, relative to its storage.
# Only stride-0 (expanded) tensors can exceed their storage; this stops a hostile file
# from asking for terabytes with a tiny storage.
_MAX_EXPANSION = 1024


def storage_budget(file_size: int) -> int:
    """Bytes all storages of a zip checkpoint may decompress to: twice the file (PyTorch
    stores entries uncompressed), plus 64 MiB."""
    return 2 * file_size + _SLACK_BYTES


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
        self,
        legacy: bool,
        byteorder: str,
        reader: Callable[[Storage], None] | None,
        max_bytes: int,
    ) -> None:
        self.legacy = legacy
        self.byteorder = byteorder
        self.reader = reader  # zip: reads a storage's bytes on first use
        self.max_bytes = max_bytes  # total bytes all storages may declare
        self.declared = 0
        self.roots: dict[str, Storage] = {}
        self.views: dict[str, StorageSlice] = {}

    def __call__(self, pid: Any) -> StorageSlice:
        if not isinstance(pid, tuple) or not pid:
            raise ConversionError("malformed checkpoint: persistent id is not a tuple")
        kind = pid[0].decode("ascii", "replace") if isinstance(pid[0], bytes) else pid[0]
        if kind != "storage":
            raise ConversionError(
                f"refusing persistent id of kind {brief(kind)}: only tensor storages are supported "
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
        numel = as_int(numel, "storage size")
        if numel < 0:
            raise ConversionError("malformed checkpoint: negative storage size")
        root = self.roots.get(key)
        if root is None:
            self.declared += numel * stype.itemsize
            if self.declared > self.max_bytes:
                raise ConversionError(
                    f"malformed checkpoint: storage {key!r} of {numel:,} elements makes the "
                    f"storages larger than the file can hold ({self.max_bytes:,} bytes)"
                )
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
        offset = as_int(offset, "storage view offset")
        size = as_int(size, "storage view size")
        if not isinstance(view_key, str) or offset < 0 or size < 0 or offset + size > numel:
            raise ConversionError(f"malformed checkpoint: storage view outside storage {key!r}")
        existing = self.views.get(view_key)
        if existing is None:
            existing = StorageSlice(root, offset, size)
            self.views[view_key] = existing
        return existing


class _Materializer:
    """Replaces every TensorRef in nested dicts/lists/tuples by a numpy array.

    Each object is converted once and the result reused wherever the pickle refers to it
    again (memoised by identity, which also ends cycles), and identical views of a storage
    give one array; the bytes of the arrays made are charged to ``budget``. ``counts``
    collects how many tensors had each storage type.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.limit = budget
        self.counts: dict[str, int] = {}
        self._done: dict[int, Any] = {}
        self._keep: list[Any] = []  # keeps memoised inputs alive, so their ids stay unique
        self._views: dict[tuple, np.ndarray] = {}

    def __call__(self, obj: Any, depth: int = 0) -> Any:
        if depth > 200:
            raise ConversionError("malformed checkpoint: objects nested too deeply")
        if not isinstance(obj, (TensorRef, Opaque, dict, list, tuple)):
            return obj
        done = self._done.get(id(obj), self)
        if done is not self:
            return done
        self._keep.append(obj)
        if isinstance(obj, TensorRef):
            out = self._tensor(obj)
        elif isinstance(obj, Opaque):
            raise ConversionError(
                f"malformed checkpoint: stray {type(obj).__name__} outside a tensor"
            )
        elif isinstance(obj, dict):
            out = OrderedDict() if isinstance(obj, OrderedDict) else {}
            self._done[id(obj)] = out  # before the items: a cycle finds it
            for k, v in obj.items():
                out[k] = self(v, depth + 1)
        elif isinstance(obj, list):
            out = []
            self._done[id(obj)] = out
            out.extend(self(v, depth + 1) for v in obj)
        else:
            out = tuple(self(v, depth + 1) for v in obj)
        self._done[id(obj)] = out
        return out

    def _tensor(self, ref: TensorRef) -> np.ndarray:
        root = ref.storage.root
        self.counts[root.stype.name] = self.counts.get(root.stype.name, 0) + 1
        key = (id(root), ref.storage.start + ref.offset, ref.size, ref.stride)
        out = self._views.get(key)
        if out is None:
            out = self._views[key] = self._new_tensor(ref)
        return out

    def _new_tensor(self, ref: TensorRef) -> np.ndarray:
        root = ref.storage.root
        if root.data is None:
            raise ConversionError(f"malformed checkpoint: no data for storage {root.key!r}")
        numel = 1
        for s in ref.size:
            numel *= s
        if numel >= MAX_INDEX:
            raise ConversionError(f"malformed checkpoint: tensor of size {ref.size} is too large")
        dtype = root.data.dtype.newbyteorder("=")
        if numel == 0:
            return np.zeros(ref.size, dtype=dtype)
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
        nbytes = numel * (4 if root.stype.bf16 else dtype.itemsize)
        self.budget -= nbytes
        if self.budget < 0:
            raise ConversionError(
                f"malformed checkpoint: its tensors expand to more than {self.limit:,} bytes "
                "(twice its storages plus 64 MiB: repeated, overlapping or stride-0 views)"
            )
        itemsize = root.data.dtype.itemsize
        base = root.data[ref.storage.start + ref.offset :]
        view = np.lib.stride_tricks.as_strided(
            base, shape=ref.size, strides=tuple(st * itemsize for st in ref.stride), writeable=False
        )
        # np.array, not np.ascontiguousarray: the latter turns 0-d tensors into 1-d arrays
        out = np.array(view, dtype=dtype, order="C", copy=True)
        if root.stype.bf16:
            out = (out.astype(np.uint32) << 16).view(np.float32)
        return out


def _materialize(obj: Any, storages: dict[str, Storage]) -> tuple[Any, dict[str, int]]:
    """``obj`` with every tensor as a numpy array, and the tensor counts per storage type."""
    storage_bytes = sum(s.numel * s.stype.itemsize for s in storages.values())
    materializer = _Materializer(2 * storage_bytes + _SLACK_BYTES)
    return materializer(obj), materializer.counts


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


def _zip_entry_count(data: bytes) -> int | None:
    """The entry count of a zip's end-of-central-directory record (zip64 too), read before
    :class:`zipfile.ZipFile` parses every entry; ``None`` when the record is not found."""
    try:
        end = zipfile._EndRecData(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, struct_error):
        return None
    return None if not end else int(end[zipfile._ECD_ENTRIES_TOTAL])


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, expected: int, what: str) -> bytes:
    """Read an entry known to hold ``expected`` bytes: its declared size is checked before
    anything is decompressed, and reading stops one byte past ``expected``."""
    if info.file_size != expected:
        raise ConversionError(f"{what} has {info.file_size:,} bytes, expected {expected:,}")
    with zf.open(info) as f:
        raw = f.read(expected + 1)
    if len(raw) != expected:
        raise ConversionError(
            f"{what} decompresses to a size other than its declared {expected:,} bytes"
        )
    return raw


def _load_zip(data: bytes, name: str) -> LoadedCheckpoint:
    entries = _zip_entry_count(data)
    if entries is not None and entries > MAX_ZIP_ENTRIES:
        raise ConversionError(
            f"{name}: zip archive declares {entries:,} entries (more than {MAX_ZIP_ENTRIES:,}); "
            "not a PyTorch checkpoint"
        )
    zf = _guarded(f"{name}: reading zip archive", lambda: zipfile.ZipFile(io.BytesIO(data)))
    infos = zf.infolist()
    if not infos:
        raise ConversionError(f"{name}: zip archive is empty, not a PyTorch checkpoint")
    if len(infos) > MAX_ZIP_ENTRIES:
        raise ConversionError(f"{name}: zip archive has more than {MAX_ZIP_ENTRIES:,} entries")
    # As in PyTorch's reader, the record prefix is the folder of the first entry.
    first = infos[0].filename
    prefix = first.split("/", 1)[0] if "/" in first else ""
    join = (lambda rec: f"{prefix}/{rec}") if prefix else (lambda rec: rec)
    present = {info.filename: info for info in infos}
    pkl_info = present.get(join("data.pkl"))
    if pkl_info is None:
        raise ConversionError(
            f"{name}: zip archive has no {join('data.pkl')}; not a PyTorch checkpoint"
        )
    if pkl_info.file_size > MAX_PICKLE_BYTES:
        raise ConversionError(
            f"{name}: {join('data.pkl')} declares {pkl_info.file_size:,} bytes (more than "
            f"{MAX_PICKLE_BYTES:,}); not a model checkpoint"
        )
    byteorder = "little"
    order_info = present.get(join("byteorder"))
    if order_info is not None:
        if order_info.file_size > 16:
            raise ConversionError(f"{name}: byteorder record is {order_info.file_size:,} bytes")
        raw = _guarded(
            f"{name}: reading byteorder",
            lambda: _read_entry(zf, order_info, order_info.file_size, "byteorder"),
        ).strip()
        if raw not in (b"little", b"big"):
            raise ConversionError(f"{name}: unknown byteorder record {raw[:20]!r}")
        byteorder = raw.decode()

    def read_storage(storage: Storage) -> None:
        record = join(f"data/{storage.key}")
        info = present.get(record)
        if info is None:
            raise ConversionError(f"{name}: storage record {record} is missing from the archive")
        expected = storage.numel * storage.stype.itemsize
        raw = _read_entry(zf, info, expected, f"{name}: storage {storage.key!r}")
        storage.data = np.frombuffer(raw, dtype=storage.stype.numpy_dtype(byteorder))

    table = _StorageTable(
        legacy=False, byteorder=byteorder, reader=read_storage, max_bytes=storage_budget(len(data))
    )
    pkl = _guarded(
        f"{name}: reading data.pkl",
        lambda: _read_entry(zf, pkl_info, pkl_info.file_size, "data.pkl"),
    )
    obj = _guarded(
        f"{name}: reading data.pkl",
        lambda: RestrictedUnpickler(io.BytesIO(pkl), table).load(),
    )
    obj, counts = _guarded(f"{name}: rebuilding tensors", lambda: _materialize(obj, table.roots))
    locations = {s.location for s in table.roots.values()}
    return LoadedCheckpoint(
        obj=obj, container="zip", notes=_bf16_notes(counts), locations=locations
    )


def _load_legacy(data: bytes, name: str) -> LoadedCheckpoint:
    f = io.BytesIO(data)
    notes: list[str] = []

    def header(what: str) -> Any:
        return _guarded(f"{name}: reading {what}", lambda: RestrictedUnpickler(f).load())

    magic = header("magic number")
    if magic != LEGACY_MAGIC_NUMBER:
        raise ConversionError(
            f"{name}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save stream)"
        )
    version = header("protocol version")
    if version != LEGACY_PROTOCOL_VERSION:
        raise ConversionError(
            f"{name}: unsupported legacy protocol version {brief(version)} (expected 1001)"
        )
    sys_info = header("sys_info")
    if not isinstance(sys_info, dict):
        raise ConversionError(f"{name}: malformed legacy sys_info record")
    byteorder = "little" if sys_info.get("little_endian", True) else "big"
    # The storages follow the pickle in the file: together they cannot exceed its size.
    table = _StorageTable(legacy=True, byteorder=byteorder, reader=None, max_bytes=len(data))
    obj = _guarded(f"{name}: reading object pickle", lambda: RestrictedUnpickler(f, table).load())
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
        if nbytes > len(data) - f.tell():
            raise ConversionError(f"{name}: file is truncated (storage {key!r} is incomplete)")
        raw = f.read(nbytes)
        storage.data = np.frombuffer(raw, dtype=storage.stype.numpy_dtype(byteorder))
    missing = [k for k, s in table.roots.items() if s.data is None]
    if missing:
        raise ConversionError(f"{name}: no data for storages {', '.join(missing)} (corrupt file)")
    trailing = len(data) - f.tell()
    if trailing:
        notes.append(f"ignored {trailing} trailing bytes after the last storage")
    obj, counts = _guarded(f"{name}: rebuilding tensors", lambda: _materialize(obj, table.roots))
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
        try:
            is_zip = zipfile.is_zipfile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError, struct_error):
            is_zip = False  # e.g. "zipfiles that span multiple disks are not supported"
        if not is_zip:
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
