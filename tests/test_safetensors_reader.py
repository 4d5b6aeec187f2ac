"""The C++ safetensors reader (deblurcore/safetensors.h), through its thin test bindings.

Valid files are written with the reference writer (safetensors.numpy.save_file) and must read
back bit-exactly; malformed files are written byte by byte and must give a ValueError naming
the file and the field, never a crash.
"""

import json
import re
import struct

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from deblurcore import _core


def info(path):
    return _core.safetensors_info(str(path))


def read(path, name):
    return _core.safetensors_tensor(str(path), name)


def raw_file(path, header, data=b""):
    """Writes a safetensors file from a header (dict or str/bytes) and a data section."""
    if isinstance(header, dict):
        header = json.dumps(header)
    if isinstance(header, str):
        header = header.encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


def assert_bits_equal(actual, expected_f32):
    assert actual.dtype == np.float32
    assert actual.shape == expected_f32.shape
    np.testing.assert_array_equal(actual.view(np.uint32), expected_f32.view(np.uint32))


# ---- valid files ---------------------------------------------------------------------------


def test_round_trip_float32_shapes_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, -3.4028235e38, np.nan], np.float32)
    tensors = {
        "conv1.weight": rng.standard_normal((32, 9, 3, 3)).astype(np.float32),
        "conv1.bias": rng.standard_normal(32).astype(np.float32),
        "scalar": np.array(2.5, np.float32),  # 0-d
        "empty": np.zeros((0, 3), np.float32),
        "empty_mid": np.zeros((4, 0, 2), np.float32),
        "special": special,
        "odd": rng.standard_normal((3, 5, 7)).astype(np.float32),  # 420 bytes: unaligned after
    }
    metadata = {"architecture": "stfan", "format": "pt", "note": 'ünïcødé "quoted" \\ \n'}
    path = tmp_path / "w.safetensors"
    save_file(tensors, str(path), metadata=metadata)

    got = info(path)
    assert got["metadata"] == metadata
    assert list(got["tensors"]) == sorted(tensors)
    for name, value in tensors.items():
        assert got["tensors"][name] == ("F32", value.shape)
        assert_bits_equal(read(path, name), value)


@pytest.mark.parametrize("dtype,tag", [(np.float16, "F16"), (np.float64, "F64")])
def test_converted_dtypes(tmp_path, dtype, tag):
    rng = np.random.default_rng(1)
    values = (rng.standard_normal((5, 7)) * 100).astype(dtype)
    if dtype == np.float16:
        # Every float16 is exactly a float32, including subnormals, infinities and NaN.
        values = np.arange(65536, dtype=np.uint16).view(np.float16).reshape(256, 256)
    path = tmp_path / "c.safetensors"
    save_file({"x": values, "pad": np.ones(3, np.float32)}, str(path))
    assert info(path)["tensors"]["x"] == (tag, values.shape)
    got = read(path, "x")
    # float16 -> float32 is exact and float64 -> float32 rounds to nearest even, as numpy's
    # astype does, so the result must match bit for bit (NaN payloads included).
    assert_bits_equal(got, values.astype(np.float32))


def test_bf16_written_by_hand(tmp_path):
    # bfloat16 is the top half of a float32: 1, -3, 0.15625, inf, -0, 2^127, a NaN, the
    # smallest bf16 subnormal. The expected float32 has the same top half and zero low half.
    bf16 = np.array([0x3F80, 0xC040, 0x3E20, 0x7F80, 0x8000, 0x7F00, 0x7FC1, 0x0001], np.uint16)
    f32 = (bf16.astype(np.uint32) << 16).view(np.float32)
    path = raw_file(
        tmp_path / "b.safetensors",
        {"b": {"dtype": "BF16", "shape": [2, 4], "data_offsets": [0, 16]}},
        bf16.tobytes(),
    )
    assert_bits_equal(read(path, "b"), f32.reshape(2, 4))


def test_many_tensors_and_unaligned_offsets(tmp_path):
    rng = np.random.default_rng(2)
    # Sizes 1..300 floats: almost every tensor starts at an offset that is not 64-aligned.
    tensors = {f"layer{i:03d}.w": rng.standard_normal(i + 1).astype(np.float32) for i in range(300)}
    path = tmp_path / "many.safetensors"
    save_file(tensors, str(path))
    reference = load_file(str(path))
    got = info(path)["tensors"]
    assert len(got) == 300
    for name, value in tensors.items():
        out = read(path, name)
        assert_bits_equal(out, value)
        assert_bits_equal(out, reference[name])
        assert out.ctypes.data % 64 == 0  # copies are 64-byte aligned too


def test_aligned_zero_copy_tensor_is_private(tmp_path):
    # The data section starts at a multiple of 64 bytes: the tensor is served from the mapping.
    header = json.dumps({"w": {"dtype": "F32", "shape": [16], "data_offsets": [0, 64]}})
    header = header + " " * ((-(8 + len(header))) % 64)
    values = np.arange(16, dtype=np.float32)
    path = raw_file(tmp_path / "a.safetensors", header, values.tobytes())
    before = path.read_bytes()
    out = read(path, "w")
    assert out.ctypes.data % 64 == 0
    out[0] = 42.0  # a private page: the file is never written
    assert path.read_bytes() == before
    assert_bits_equal(read(path, "w"), values)


def test_integer_dtypes_listed_but_not_readable(tmp_path):
    path = tmp_path / "i.safetensors"
    save_file({"steps": np.array([1, 2], np.int64), "w": np.ones(2, np.float32)}, str(path))
    assert info(path)["tensors"]["steps"] == ("I64", (2,))
    with pytest.raises(ValueError, match=r"tensor 'steps': dtype I64 cannot be read as float32"):
        read(path, "steps")
    with pytest.raises(ValueError, match=r"no tensor named 'nope'"):
        read(path, "nope")


def test_f64_beyond_float32_range(tmp_path):
    path = tmp_path / "d.safetensors"
    save_file({"d": np.array([1.0, -1e39], np.float64)}, str(path))
    with pytest.raises(
        ValueError, match=r"tensor 'd': F64 element 1 = -1e\+39 is outside the float32"
    ):
        read(path, "d")


# ---- malformed files -----------------------------------------------------------------------

F32_24 = bytes(24)


def entry(**fields):
    base = {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def without(field):
    e = entry()
    del e[field]
    return e


MALFORMED = [
    ("empty", b"", r"the file is empty"),
    ("short", b"\x01\x02\x03", r"3 bytes long, too short"),
    ("header_larger_than_file", struct.pack("<Q", 1000) + b"{}", r"does not fit in the file"),
    ("oversized_header", struct.pack("<Q", 100_000_001) + b"{}", r"over the limit of 100000000"),
    ("huge_header_size", b"\xff" * 8 + b"{}", r"over the limit"),
    ("not_json", ("not json", b""), r"not valid JSON"),
    ("truncated_json", ('{"w": {"dtype": "F3', b""), r"not valid JSON.*unterminated string"),
    ("nesting_bomb", ("[" * 100_000, b""), r"nested deeper than 64"),
    ("not_an_object", ("[1, 2, 3]", b""), r"must be a JSON object, got array"),
    ("trailing_garbage", ("{} x", b""), r"unexpected data after"),
    ("invalid_utf8", (b'{"\xff": 1}', b""), r"invalid UTF-8"),
    (
        "duplicate_tensor",
        ('{"w": ' + json.dumps(entry()) + ', "w": ' + json.dumps(entry()) + "}", F32_24),
        r'duplicate key "w"',
    ),
    ("metadata_not_object", ({"__metadata__": ["a"]}, b""), r"__metadata__ must be an object"),
    (
        "metadata_not_strings",
        ({"__metadata__": {"version": 2}}, b""),
        r"__metadata__ value of 'version' must be a string, got integer",
    ),
    ("entry_not_object", ({"w": [1, 2]}, F32_24), r"tensor 'w': entry must be an object"),
    ("missing_dtype", ({"w": without("dtype")}, F32_24), r"tensor 'w': missing field 'dtype'"),
    ("missing_shape", ({"w": without("shape")}, F32_24), r"tensor 'w': missing field 'shape'"),
    (
        "missing_offsets",
        ({"w": without("data_offsets")}, F32_24),
        r"tensor 'w': missing field 'data_offsets'",
    ),
    ("extra_field", ({"w": entry(offsets=[0, 24])}, F32_24), r"unexpected field 'offsets'"),
    (
        "negative_shape",
        ({"w": entry(shape=[2, -3])}, F32_24),
        r"shape\[1\] must be an integer >= 0, got -3",
    ),
    (
        "float_shape",
        ({"w": entry(shape=[2.0, 3])}, F32_24),
        r"shape\[0\] must be an integer >= 0, got 2.0",
    ),
    (
        "string_shape",
        ({"w": entry(shape=["2", 3])}, F32_24),
        r"shape\[0\] must be an integer >= 0, got string",
    ),
    ("shape_not_array", ({"w": entry(shape=6)}, F32_24), r"shape must be an array"),
    (
        "offsets_wrong_length",
        ({"w": entry(data_offsets=[0, 12, 24])}, F32_24),
        r"data_offsets must be an array \[begin, end\], got an array of 3",
    ),
    (
        "negative_offset",
        ({"w": entry(data_offsets=[-1, 23])}, F32_24),
        r"data_offsets\[0\] must be an integer >= 0, got -1",
    ),
    (
        "end_before_begin",
        ({"w": entry(data_offsets=[24, 0])}, F32_24),
        r"data_offsets \[24, 0\] end before they begin",
    ),
    (
        "offsets_out_of_range",
        ({"w": entry(data_offsets=[24, 48])}, F32_24),
        r"data_offsets \[24, 48\] go past the end of the data section \(24 bytes",
    ),
    (
        "size_mismatch",
        ({"w": entry(data_offsets=[0, 12])}, F32_24),
        r"tensor 'w': data_offsets \[0, 12\] do not match shape \(2, 3\) x F32 = 24 bytes",
    ),
    (
        "overlap",
        (
            {
                "a": entry(shape=[4], data_offsets=[0, 16]),
                "b": entry(shape=[3], data_offsets=[8, 20]),
            },
            F32_24,
        ),
        r"tensors 'a' \[0, 16\] and 'b' \[8, 20\] overlap",
    ),
    ("numel_overflow", ({"w": entry(shape=[2**62, 4])}, F32_24), r"more than 2\^63 elements"),
    (
        "bytes_overflow",
        ({"w": entry(dtype="F64", shape=[2**62 - 1])}, F32_24),
        r"larger than 2\^64 bytes",
    ),
    (
        "dim_beyond_int64",
        ({"w": entry(shape=[2**64])}, F32_24),
        r"shape\[0\] must be an integer >= 0, got 18446744073709551616",
    ),
    ("unknown_dtype", ({"w": entry(dtype="F24")}, F32_24), r"tensor 'w': unknown dtype 'F24'"),
    ("dtype_not_string", ({"w": entry(dtype=4)}, F32_24), r"dtype must be a string"),
    ("truncated_data", ({"w": entry()}, bytes(20)), r"is the file truncated\?"),
]


@pytest.mark.parametrize("name,content,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file(tmp_path, name, content, message):
    path = tmp_path / "weights.safetensors"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        raw_file(path, *content)
    with pytest.raises(ValueError, match=message) as err:
        info(path)
    assert str(err.value).startswith(str(path) + ":")  # the message names the file
    with pytest.raises(ValueError, match=re.escape(str(path))):
        read(path, "w")


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"is a directory"):
        info(tmp_path)
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(
        ValueError,
        match=r"nope\.safetensors: cannot open the weights file: "
        r"No such file or directory",
    ):
        info(missing)
    with pytest.raises(ValueError, match=r"nope\.safetensors"):
        read(missing, "w")


def test_random_corruptions_raise_value_error_only(tmp_path):
    """Byte flips and truncations of a valid file: read back or ValueError, never a crash."""
    good = tmp_path / "good.safetensors"
    save_file(
        {"a": np.ones((2, 3), np.float32), "b": np.ones(5, np.float16)},
        str(good),
        metadata={"k": "v"},
    )
    data = good.read_bytes()
    rng = np.random.default_rng(3)
    path = tmp_path / "bad.safetensors"
    for i in range(300):
        b = bytearray(data)
        if i % 2:
            del b[int(rng.integers(len(b))) :]
        else:
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(len(b)))] = int(rng.integers(256))
        path.write_bytes(bytes(b))
        try:
            names = info(path)["tensors"]
        except ValueError:
            continue
        for n in names:
            try:
                read(path, n)
            except ValueError:
                pass
