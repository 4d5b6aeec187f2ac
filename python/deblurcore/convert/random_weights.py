"""Random weights in the official layout of STFAN, IFAN or ASPDC, for demos, benchmarks and
tests on machines without the released checkpoints.

:func:`random_state_dict` gives float32 arrays under the official parameter names and
shapes, scaled so that activations stay of moderate size through the whole network;
:func:`write_random_weights` writes them as a weights file the runtime loads, with the
metadata a conversion would record. Nothing here needs PyTorch. The weights restore
nothing: a "deblurred" output made with them is meaningless.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

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
from .converter import build_metadata
from .errors import ConversionError

_LRELU_GAIN = float(np.sqrt(2.0 / (1.0 + 0.1**2)))  # He gain for LeakyReLU(0.1)


def random_state_dict(
    arch: str = "stfan", seed: int = 0, variant: str | None = None
) -> OrderedDict[str, np.ndarray]:
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
        rest = low[len("ifan_dual") :].lstrip("_")
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


def write_random_weights(
    path: str | os.PathLike,
    arch: str = "stfan",
    seed: int = 0,
    variant: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a weights file with RANDOM weights for ``arch`` (see :func:`random_state_dict`).

    The file is what converting a checkpoint of these weights gives, except the ``source_*``
    metadata: ``source_format`` is ``random``, ``source_name`` names the seed and
    ``source_sha256`` is the hash of the float32 tensor bytes in parameter order. Written to a
    temporary file and renamed; an existing ``path`` is replaced only with ``overwrite``.
    """
    from safetensors.numpy import save_file  # imported here like the converter does

    a = get_architecture(arch)
    var = a.detect_variant({}, None) if variant is None else _variant_for_writer(a, variant)
    path = Path(path)
    if path.exists() and not overwrite:
        raise ConversionError(f"output {path} already exists (use overwrite=True to replace it)")
    tensors = random_state_dict(a.name, seed=seed, variant=variant)
    digest = hashlib.sha256()
    for array in tensors.values():
        digest.update(array.tobytes())
    metadata = build_metadata(
        a,
        var,
        source_sha256=digest.hexdigest(),
        source_name=f"random weights, seed {seed}",
        source_format="random",
        num_params=int(sum(t.size for t in tensors.values())),
        num_tensors=len(tensors),
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(dict(tensors), tmp, metadata=metadata)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is private; use a new file's mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
