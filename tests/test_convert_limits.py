"""Hostile and malformed checkpoints: each is refused with a one-line ConversionError (exit
status 2 from the command line), quickly and within bounded memory, and nothing a file does
persists into the next conversion.

Pickles are written by hand (opcode by opcode) where torch.save cannot produce the pattern.
Time limits are generous (the machine may be shared): each refusal here takes well under a
second; the limits catch the exponential/unbounded behaviour, which took tens of seconds or
never ended. Memory is measured with tracemalloc (numpy reports its buffers to it).
"""

from __future__ import annotations

import io
import pickle
import struct
import time
import tracemalloc
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from deblurcore import cli
from deblurcore.convert import ConversionError, convert_checkpoint, read_checkpoint_tensors
from deblurcore.convert.torch_pickle import (
    LEGACY_MAGIC_NUMBER,
    MAX_PICKLE_BYTES,
    load_torch_checkpoint_bytes,
)
from deblurcore.convert.unpickler import MAX_PICKLE_UNITS, _rebuild_tensor_v2

torch = pytest.importorskip("torch")

P = pickle  # opcode constants: P.MARK, P.EMPTY_LIST, ...


def _global(module: str, name: str) -> bytes:
    return P.GLOBAL + f"{module}\n{name}\n".encode()


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return P.BINUNICODE + struct.pack("<I", len(raw)) + raw


def _int(value: int) -> bytes:
    if -(2**31) <= value < 2**31:
        return P.BININT + struct.pack("<i", value)
    raw = pickle.encode_long(value)
    return P.LONG1 + bytes([len(raw)]) + raw


def _zip_checkpoint(pkl: bytes, storages: dict[str, bytes] | None = None, **zip_kw) -> bytes:
    """A zip-format checkpoint with the given data.pkl and storage records."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", **zip_kw) as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/byteorder", "little")
        for key, raw in (storages or {}).items():
            zf.writestr(f"archive/data/{key}", raw)
    return buf.getvalue()


def _legacy_checkpoint(obj_pickle: bytes, keys: list[str], tail: bytes = b"") -> bytes:
    head = b"".join(
        pickle.dumps(x, protocol=2)
        for x in (LEGACY_MAGIC_NUMBER, 1001, {"protocol_version": 1001, "little_endian": True})
    )
    return head + obj_pickle + pickle.dumps(keys, protocol=2) + tail


def _tensor_ref(key: str, numel: int, size: tuple, stride: tuple, legacy=False) -> bytes:
    """Pickle code pushing ``_rebuild_tensor_v2(storage key, 0, size, stride)``."""
    pid = P.MARK + _unicode("storage") + _global("torch", "FloatStorage") + _unicode(key)
    pid += _unicode("cpu") + _int(numel) + (P.NONE if legacy else b"") + P.TUPLE
    tup = lambda xs: P.MARK + b"".join(_int(x) for x in xs) + P.TUPLE  # noqa: E731
    return (
        _global("torch._utils", "_rebuild_tensor_v2")
        + P.MARK
        + pid
        + P.BINPERSID
        + _int(0)
        + tup(size)
        + tup(stride)
        + P.NEWFALSE
        + _global("collections", "OrderedDict")
        + P.EMPTY_TUPLE
        + P.REDUCE
        + P.TUPLE
        + P.REDUCE
    )


def _measure(fn):
    """(exception or result, seconds, peak traced bytes) of ``fn()``."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001 - returned for the assertions
            out = exc
        return out, time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _refused(data: bytes, match: str, seconds: float = 10, megabytes: float = 400):
    out, elapsed, peak = _measure(lambda: load_torch_checkpoint_bytes(data, "ck"))
    assert isinstance(out, ConversionError), out
    assert match in str(out) and "\n" not in str(out)
    assert elapsed < seconds, f"refusal took {elapsed:.1f} s"
    assert peak < megabytes * 2**20, f"refusal used {peak / 2**20:.0f} MB"
    return out


# ---- item 4: resource bounds ----------------------------------------------------------


def test_billion_laughs_shared_lists_materialised_once():
    # 30 levels, each a list holding the previous one 10 times: 10**30 paths to the bottom,
    # ~600 bytes of pickle. Each shared list is rebuilt once, so this loads at once.
    body = P.EMPTY_LIST + P.BINPUT + b"\x00"
    for level in range(1, 31):
        body += P.MARK + (P.BINGET + bytes([level - 1])) * 10 + P.LIST
        body += P.BINPUT + bytes([level])
    data = _zip_checkpoint(P.PROTO + b"\x02" + body + P.STOP)
    out, elapsed, peak = _measure(lambda: load_torch_checkpoint_bytes(data, "ck"))
    assert not isinstance(out, Exception), out
    assert elapsed < 5 and peak < 50 * 2**20
    top = out.obj
    assert len(top) == 10 and all(item is top[0] for item in top)


def test_self_referencing_list_terminates():
    pkl = P.PROTO + b"\x02" + P.EMPTY_LIST + P.BINPUT + b"\x00" + P.BINGET + b"\x00"
    pkl += P.APPEND + P.STOP
    out = load_torch_checkpoint_bytes(_zip_checkpoint(pkl), "ck").obj
    assert out[0] is out


def test_opcode_budget_bounds_a_growing_pickle():
    # One new object per opcode byte: 1.25 M empty lists cost more than the budget.
    pkl = P.PROTO + b"\x02" + P.EMPTY_LIST * (MAX_PICKLE_UNITS // 4 + 1) + P.STOP
    _refused(_legacy_checkpoint(pkl, []), "too large", seconds=30, megabytes=800)


def test_set_of_a_shared_list_charged_per_element():
    # One 100k-element list, then set(list) 1000 times: 10**8 elements from ~20 KB of calls.
    pkl = P.PROTO + b"\x02" + P.MARK + _int(7) * 100_000 + P.LIST + P.BINPUT + b"\x00"
    pkl += P.MARK + (_global("builtins", "set") + P.BINGET + b"\x00" + P.TUPLE1 + P.REDUCE) * 1000
    pkl += P.LIST + P.STOP
    _refused(_zip_checkpoint(pkl), "too large", seconds=30)


def test_shared_tensor_referenced_thousands_of_times_is_one_array():
    w = torch.arange(1 << 16, dtype=torch.float32)
    buf = io.BytesIO()
    torch.save({"state_dict": {f"k{i}": w for i in range(5000)}}, buf)
    out, elapsed, peak = _measure(lambda: load_torch_checkpoint_bytes(buf.getvalue(), "ck"))
    assert not isinstance(out, Exception), out
    arrays = list(out.obj["state_dict"].values())
    assert all(a is arrays[0] for a in arrays)
    np.testing.assert_array_equal(arrays[0], w.numpy())
    assert peak < 64 * 2**20  # one 256 KB array, not 5000 copies (1.3 GB)


def test_distinct_views_of_one_storage_are_bounded():
    # 3000 different views of one 1 MB storage (identical views are merged, so each has
    # its own length): 3 GB once copied.
    w = torch.zeros(1 << 18)
    views = {f"k{i}": w[: (1 << 18) - i] for i in range(3000)}
    buf = io.BytesIO()
    torch.save(views, buf)
    _refused(buf.getvalue(), "expand to more than", seconds=20, megabytes=300)


def test_stride_zero_view_of_small_storage_is_refused():
    # 4096 elements viewed as 1024 x 4096 with stride 0: 16 MB from 16 KB, within the
    # per-tensor expansion factor; 100 of them (distinct sizes) exceed the total budget.
    storage = np.zeros(4096, np.float32).tobytes()
    refs = b"".join(
        _unicode(f"t{i}") + _tensor_ref("0", 4096, (1024 - i, 4096), (0, 1)) for i in range(100)
    )
    pkl = P.PROTO + b"\x02" + P.EMPTY_DICT + P.MARK + refs + P.SETITEMS + P.STOP
    _refused(_zip_checkpoint(pkl, {"0": storage}), "expand to more than", megabytes=300)


def test_zip_storage_declared_tiny_is_not_decompressed():
    # A 4 MB-compressed entry of 4 GB of zeros would be inflated before any size check;
    # here the declared size (recorded by zipfile) is compared first, so nothing is inflated.
    # The same idea at a size the test can build: 64 MB of zeros (64 KB compressed) for a
    # storage of 1 element.
    pkl = P.PROTO + b"\x02" + _tensor_ref("0", 1, (1,), (1,)) + P.STOP
    data = _zip_checkpoint(pkl, {"0": bytes(64 << 20)}, compression=zipfile.ZIP_DEFLATED)
    assert len(data) < 1 << 20
    _refused(data, "has 67,108,864 bytes, expected 4", seconds=2, megabytes=20)


def test_zip_entry_lying_about_its_size_stops_at_the_declared_size():
    pkl = P.PROTO + b"\x02" + _tensor_ref("0", 4, (4,), (1,)) + P.STOP
    data = bytearray(_zip_checkpoint(pkl, {"0": bytes(16 << 20)}, compression=zipfile.ZIP_DEFLATED))
    # Rewrite the declared uncompressed size (local header and central directory) to 16.
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = 0
        while (pos := data.find(sig, pos)) >= 0:
            name_len = struct.unpack_from("<H", data, pos + (26 if sig == b"PK\x03\x04" else 28))[0]
            name_at = pos + (30 if sig == b"PK\x03\x04" else 46)
            if data[name_at : name_at + name_len] == b"archive/data/0":
                struct.pack_into("<I", data, pos + offset, 16)
            pos += 4
    out, elapsed, peak = _measure(lambda: load_torch_checkpoint_bytes(bytes(data), "ck"))
    assert isinstance(out, ConversionError) and elapsed < 2 and peak < 20 * 2**20, out


def test_data_pkl_declared_huge_is_refused_before_reading():
    data = _zip_checkpoint(bytes(MAX_PICKLE_BYTES + 1), compression=zipfile.ZIP_DEFLATED)
    _refused(data, "data.pkl declares", seconds=2, megabytes=20)


def test_legacy_huge_element_count_is_a_clean_error(tmp_path, capsys):
    pkl = P.PROTO + b"\x02" + _tensor_ref("0", 2**62, (1,), (1,), legacy=True) + P.STOP
    data = _legacy_checkpoint(pkl, ["0"], struct.pack("<q", 2**62))
    _refused(data, "larger than the file can hold")
    src = tmp_path / "huge.pth"
    src.write_bytes(data)
    assert cli.main(["convert", str(src), "-o", str(tmp_path / "w.safetensors")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.pth"]


def test_legacy_storage_count_past_the_end_is_truncation():
    pkl = P.PROTO + b"\x02" + _tensor_ref("0", 8, (8,), (1,), legacy=True) + P.STOP
    data = _legacy_checkpoint(pkl, ["0"], struct.pack("<q", 8) + bytes(16))
    _refused(data, "truncated")


def test_bytearray8_with_huge_length_is_refused():
    # Found by the fuzzer: BYTEARRAY8 allocated its declared length (6.7 GB) before reading.
    data = bytes.fromhex("80028a0a6cfc9c4694949494949494949694949494010000000000000080a8")
    _refused(data, "bytearrays", seconds=2, megabytes=20)


def test_multi_disk_zip_is_a_clean_error():
    # Found by the fuzzer: zipfile.is_zipfile raised BadZipFile ("span multiple disks").
    data = bytearray(_zip_checkpoint(P.PROTO + b"\x02" + P.NONE + P.STOP))
    # zip64 end-of-central-directory locator claiming 2 disks.
    eocd = data.rfind(b"PK\x05\x06")
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, 0, 2)
    data[eocd:eocd] = locator
    out = _measure(lambda: load_torch_checkpoint_bytes(bytes(data), "ck"))[0]
    assert isinstance(out, ConversionError), out


def test_many_zip_entries_are_refused_before_parsing(monkeypatch):
    from deblurcore.convert import torch_pickle

    monkeypatch.setattr(torch_pickle, "MAX_ZIP_ENTRIES", 10)
    data = _zip_checkpoint(P.PROTO + b"\x02" + P.NONE + P.STOP, {str(i): b"" for i in range(20)})
    _refused(data, "entries")


@pytest.mark.parametrize("container", ["dict", "set"])
def test_nested_shared_tuple_key_is_refused(container):
    # Tuples sharing their members, 20 levels of 10: hashing one visits 10**20 items.
    body = P.EMPTY_TUPLE + P.BINPUT + b"\x00"
    for level in range(1, 21):
        body += P.MARK + (P.BINGET + bytes([level - 1])) * 10 + P.TUPLE + P.BINPUT + bytes([level])
    if container == "dict":
        pkl = P.EMPTY_DICT + body + _int(1) + P.SETITEM
    else:
        pkl = _global("builtins", "set") + P.MARK + body + P.LIST + P.TUPLE1 + P.REDUCE
    _refused(_zip_checkpoint(P.PROTO + b"\x02" + pkl + P.STOP), "nested items", seconds=5)


def test_non_string_key_in_message_stays_short(tmp_path):
    key = P.MARK + _int(1) * 50 + P.TUPLE
    pkl = P.PROTO + b"\x02" + P.EMPTY_DICT + key + _int(1) + P.SETITEM + P.STOP
    src = tmp_path / "k.pth"
    src.write_bytes(_zip_checkpoint(pkl))
    with pytest.raises(ConversionError, match="is not a string") as info:
        read_checkpoint_tensors(src)
    assert len(str(info.value)) < 200


# ---- item 5: converter state ------------------------------------------------------------


@pytest.mark.parametrize(
    "module, name",
    [
        ("builtins", "set"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("collections", "OrderedDict"),
        ("numpy", "dtype"),
        ("torch", "FloatStorage"),
    ],
)
def test_build_on_allow_listed_globals_is_refused(module, name):
    state = P.EMPTY_DICT + P.MARK + _unicode("__defaults__") + P.MARK + _int(99) + P.TUPLE
    state += P.DICT  # BUILD state (None, {"__defaults__": (99,)}) via slot state
    pkl = P.PROTO + b"\x02" + _global(module, name) + P.MARK + P.NONE + state + P.TUPLE
    pkl += P.BUILD + P.STOP
    defaults = _rebuild_tensor_v2.__defaults__
    _refused(_zip_checkpoint(pkl), "")
    assert _rebuild_tensor_v2.__defaults__ == defaults
    assert set([1]) == {1}


def test_nothing_persists_between_files(tmp_path):
    # A hostile file first, then a good one: the good one converts exactly as on its own.
    from tests.helpers.checkpoints import write_random_checkpoint

    good = write_random_checkpoint(tmp_path / "good.pth", "ifan")
    first = read_checkpoint_tensors(good)
    for module, name in [("builtins", "set"), ("torch._utils", "_rebuild_tensor_v2")]:
        pkl = P.PROTO + b"\x02" + _global(module, name) + P.MARK + P.NONE + P.EMPTY_DICT
        pkl += P.MARK + _unicode("__defaults__") + P.MARK + _int(99) + P.TUPLE + P.DICT + P.TUPLE
        pkl += P.BUILD + P.STOP
        with pytest.raises(ConversionError):
            load_torch_checkpoint_bytes(_zip_checkpoint(pkl), "bad")
    again = read_checkpoint_tensors(good)
    assert list(again["tensors"]) == list(first["tensors"])
    for k, v in first["tensors"].items():
        np.testing.assert_array_equal(again["tensors"][k], v)


# ---- item 6: duplicate parameter after unwrapping ------------------------------------------


def test_ifan_duplicate_key_names_both(tmp_path):
    from deblurcore.convert import random_state_dict

    state = random_state_dict("ifan")
    first = next(iter(state))
    sd = OrderedDict((f"module.Network.{k}", torch.from_numpy(v)) for k, v in state.items())
    sd[f"module.{first}"] = torch.from_numpy(state[first] + 1)
    src = tmp_path / "dup.pth"
    torch.save(sd, src)
    dst = tmp_path / "w.safetensors"
    with pytest.raises(ConversionError) as info:
        convert_checkpoint(src, dst)
    message = str(info.value)
    assert f"'module.Network.{first}'" in message and f"'module.{first}'" in message
    assert not dst.exists()
