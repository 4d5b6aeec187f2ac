"""Official checkpoint → validated float32 safetensors file for the deblurcore runtime."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from .architectures import ARCHITECTURES, Architecture, Variant, check_shapes, get_architecture
from .errors import ConversionError, brief
from .torch_pickle import LoadedCheckpoint, load_torch_checkpoint_bytes

#: Version of the converted-file layout (tensor names and metadata keys). Loaders should
#: refuse a file whose ``format_version`` they do not know.
FORMAT_VERSION = "1"

#: The Keras-file architecture (not in ARCHITECTURES, whose entries describe torch state dicts).
KERAS_ARCHITECTURE = "analysis_synthesis"

# Generic containers some re-saved checkpoints use around the state dict.
_GENERIC_PAYLOAD_KEYS = ("state_dict", "model_state_dict", "model", "network", "net")
# Payload keys of training-only networks that must not be mistaken for a deblurring model.
_TRAINING_ONLY_PAYLOADS = {
    "blurring_state_dict": "the ASPDC re-blurring network (training only)",
}


def _is_array(v: Any) -> bool:
    return isinstance(v, np.ndarray)


def _extract_state_dict(
    obj: Any, arch_hint: str | None
) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """Find the state dict inside the unpickled object.

    Returns ``(state_dict, dropped_fields, notes)``; ``dropped_fields`` names the top-level
    training-only entries that were left out (epoch, PSNR, optimizer state, ...).
    """
    if not isinstance(obj, dict):
        raise ConversionError(
            f"checkpoint holds a {type(obj).__name__}, expected a dict (state dict or training checkpoint)"
        )
    notes: list[str] = []
    payload_keys: list[str] = []
    archs = [ARCHITECTURES[arch_hint]] if arch_hint else list(ARCHITECTURES.values())
    for a in archs:
        payload_keys += [k for k in a.payload_keys if k in obj]
    if not payload_keys:
        for a in ARCHITECTURES.values():
            payload_keys += [k for k in a.payload_keys if k in obj]
    if not payload_keys:
        payload_keys = [k for k in _GENERIC_PAYLOAD_KEYS if isinstance(obj.get(k), dict)]
    if payload_keys:
        key = payload_keys[0]
        payload = obj[key]
        if not isinstance(payload, dict):
            raise ConversionError(
                f"checkpoint entry {brief(key)} is a {type(payload).__name__}, expected a state dict"
            )
        dropped = [k if isinstance(k, str) else brief(k) for k in obj if k != key]
        notes.append(f"state dict taken from checkpoint entry {brief(key)}")
    else:
        for k, what in _TRAINING_ONLY_PAYLOADS.items():
            if k in obj:
                raise ConversionError(
                    f"checkpoint entry {brief(k)} holds {what}, not a deblurring network"
                )
        payload = obj
        dropped = []
    state: dict[str, np.ndarray] = OrderedDict()
    skipped: list[str] = []
    for k, v in payload.items():
        if not isinstance(k, str):
            raise ConversionError(f"state dict key {brief(k)} is not a string")
        if _is_array(v):
            state[k] = v
        else:
            skipped.append(k)
    if not state:
        names = ", ".join(k if isinstance(k, str) else brief(k) for k in list(obj)[:8])
        raise ConversionError(
            f"checkpoint contains no tensors in a state dict (top-level entries: {names})"
        )
    if skipped:
        dropped += skipped
        notes.append(f"ignored {len(skipped)} non-tensor state dict entries")
    return state, dropped, notes


def _strip_prefixes(state: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Strip DataParallel's ``module.`` and IFAN's ``Network.`` wrappers; drop training-only nets.

    Returns ``(state, dropped_keys)`` with the original names of the dropped keys.
    """
    out: dict[str, np.ndarray] = OrderedDict()
    origin: dict[str, str] = {}
    for k, v in state.items():
        nk = k
        while nk.startswith("module."):
            nk = nk[len("module.") :]
        if nk in out:
            raise ConversionError(f"key {nk!r} occurs twice once 'module.' prefixes are removed")
        out[nk] = v
        origin[nk] = k
    dropped: list[str] = []
    wrapped = [
        a
        for a in ARCHITECTURES.values()
        if a.wrapper_prefix and any(k.startswith(a.wrapper_prefix) for k in out)
    ]
    for a in wrapped:
        kept: dict[str, np.ndarray] = OrderedDict()
        kept_origin: dict[str, str] = {}
        for k, v in out.items():
            if any(k.startswith(p) for p in a.dropped_prefixes):
                dropped.append(origin[k])
                continue
            # Outside the wrapper: reported as unexpected by the shape check.
            nk = k[len(a.wrapper_prefix) :] if k.startswith(a.wrapper_prefix) else k
            if nk in kept:
                raise ConversionError(
                    f"keys {kept_origin[nk]!r} and {origin[k]!r} both name the parameter "
                    f"{nk!r} once the {a.wrapper_prefix!r} wrapper is removed; the checkpoint "
                    "holds two copies of it and would be ambiguous"
                )
            kept[nk] = v
            kept_origin[nk] = origin[k]
        out = kept
        origin = kept_origin
    return out, dropped


def detect_architecture(keys: Any) -> tuple[str | None, dict[str, float]]:
    """Score every architecture by the fraction of its keys present in ``keys``.

    Returns ``(best_name_or_None, scores)``; a name is returned only when at least half of
    its keys are present and it beats every other architecture.
    """
    present = set(keys)
    scores: dict[str, float] = {}
    for name, arch in ARCHITECTURES.items():
        sig = arch.signature_keys()
        scores[name] = len(sig & present) / len(sig)
    best = max(scores, key=lambda n: scores[n])
    if scores[best] < 0.5 or sum(1 for s in scores.values() if s == scores[best]) > 1:
        return None, scores
    return best, scores


def _to_float32(
    state: Mapping[str, np.ndarray], expected: Mapping[str, tuple]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Cast float16/float64 (and widened bfloat16) weights to float32; refuse non-float or non-finite ones."""
    out: dict[str, np.ndarray] = OrderedDict()
    converted: dict[str, int] = {}
    for k in expected:
        a = state[k]
        if a.dtype.kind != "f":
            raise ConversionError(
                f"tensor {k} has dtype {a.dtype}, expected a floating-point weight"
            )
        if a.dtype != np.float32:
            converted[str(a.dtype)] = converted.get(str(a.dtype), 0) + 1
            a = a.astype(np.float32)
        a = np.require(a, dtype=np.float32, requirements=["C"])
        bad = int(np.count_nonzero(~np.isfinite(a)))
        if bad:
            raise ConversionError(f"tensor {k} contains {bad} NaN/Inf values (corrupt checkpoint)")
        out[k] = a
    notes = [f"converted {n} {dt} tensors to float32" for dt, n in converted.items()]
    return out, notes


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_epoch(obj: Any) -> str | None:
    if isinstance(obj, dict):
        for key in ("epoch_idx", "epoch"):
            v = obj.get(key)
            if isinstance(v, int) and not isinstance(v, bool):
                return str(v)
    return None


def build_metadata(
    arch: Architecture,
    variant: Variant,
    *,
    source_sha256: str,
    source_name: str,
    source_format: str,
    num_params: int,
    num_tensors: int,
    source_epoch: str | None = None,
) -> dict[str, str]:
    """The string metadata written into the safetensors header (see the module docs)."""
    meta: dict[str, str] = {
        "architecture": arch.name,
        "format_version": FORMAT_VERSION,
        "variant": variant.name,
    }
    meta.update(arch.base_metadata)
    meta.update(variant.metadata)
    meta.update(
        {
            "num_tensors": str(num_tensors),
            "num_params": str(num_params),
            "source_name": source_name,
            "source_sha256": source_sha256,
            "source_format": source_format,
            "deblurcore_version": __version__,
        }
    )
    if source_epoch is not None:
        meta["source_epoch"] = source_epoch
    return meta


def read_checkpoint_tensors(
    src: str | os.PathLike, arch: str | None = None, variant: str | None = None
) -> dict[str, Any]:
    """Read and validate an official checkpoint without writing anything.

    Returns a dict with ``architecture``, ``variant`` (a :class:`Variant`), ``tensors``
    (official key names → C-contiguous float32 arrays, in ``state_dict`` order), ``metadata``
    and the lists ``dropped_keys``, ``dropped_fields`` and ``notes``.
    """
    src_path = Path(src)
    if not src_path.exists():
        raise ConversionError(f"checkpoint {src_path} does not exist")
    if not src_path.is_file():
        raise ConversionError(f"checkpoint {src_path} is not a regular file")
    arch_obj = get_architecture(arch) if arch is not None else None
    data = src_path.read_bytes()
    loaded: LoadedCheckpoint = load_torch_checkpoint_bytes(data, src_path.name)
    notes = list(loaded.notes)
    state, dropped_fields, more = _extract_state_dict(
        loaded.obj, arch_obj.name if arch_obj else None
    )
    notes += more
    state, dropped_keys = _strip_prefixes(state)
    if dropped_keys:
        groups = sorted({k.removeprefix("module.").split(".")[0] for k in dropped_keys})
        notes.append(
            f"dropped {len(dropped_keys)} training-only tensors ({', '.join(g + '.*' for g in groups)})"
        )
    detected, scores = detect_architecture(state.keys())
    if arch_obj is None:
        if detected is None:
            best = max(scores, key=lambda n: scores[n])
            sample = ", ".join(list(state)[:5])
            raise ConversionError(
                "unknown architecture: the keys match none of "
                f"{', '.join(ARCHITECTURES)} (best {best} with {scores[best]:.0%} of its keys; "
                f"first keys: {sample}); pass --arch to see the full comparison"
            )
        arch_obj = ARCHITECTURES[detected]
    elif detected is not None and detected != arch_obj.name:
        raise ConversionError(
            f"checkpoint looks like {detected} ({scores[detected]:.0%} of its keys present), "
            f"not {arch_obj.name} as requested with --arch {arch_obj.name}"
        )
    var = arch_obj.detect_variant(state, variant)
    check_shapes(arch_obj, var, state)
    expected = arch_obj.expected_shapes(var)
    tensors, cast_notes = _to_float32(state, expected)
    notes += cast_notes
    num_params = int(sum(a.size for a in tensors.values()))
    meta = build_metadata(
        arch_obj,
        var,
        source_sha256=_sha256(data),
        source_name=src_path.name,
        source_format=f"torch-{loaded.container}",
        num_params=num_params,
        num_tensors=len(tensors),
        source_epoch=_source_epoch(loaded.obj),
    )
    return {
        "architecture": arch_obj.name,
        "variant": var,
        "tensors": tensors,
        "metadata": meta,
        "dropped_keys": dropped_keys,
        "dropped_fields": dropped_fields,
        "notes": notes,
        "num_params": num_params,
    }


def _check_destination(sources: list[Path], dst_path: Path, overwrite: bool) -> None:
    if dst_path.is_dir():
        raise ConversionError(f"output {dst_path} is a directory; give a file name")
    if not dst_path.parent.is_dir():
        raise ConversionError(f"output folder {dst_path.parent} does not exist")
    if dst_path.exists() and not overwrite:
        raise ConversionError(
            f"output {dst_path} already exists (use --force / overwrite=True to replace it)"
        )
    for src_path in sources:
        if src_path.exists() and dst_path.exists() and os.path.samefile(src_path, dst_path):
            raise ConversionError("output must not be the input checkpoint")


def _write_atomically(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str], dst_path: Path,
                      overwrite: bool) -> None:
    """Write the safetensors file under a temporary name, then rename it into place."""
    from safetensors.numpy import save_file  # imported here so reading works without it

    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst_path.name}.", suffix=".tmp", dir=dst_path.parent)
    os.close(fd)
    try:
        save_file(dict(tensors), tmp_name, metadata=dict(metadata))
        # mkstemp creates the file private (0600); give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        if dst_path.exists() and not overwrite:
            raise ConversionError(f"output {dst_path} already exists (created while converting)")
        os.replace(tmp_name, dst_path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def _is_keras_source(src: Any) -> bool:
    from .keras_h5 import is_hdf5

    if isinstance(src, (list, tuple)):
        return len(src) != 1 or is_hdf5(src[0])
    return is_hdf5(src)


def convert_keras_pair(
    sources: list[str | os.PathLike], dst: str | os.PathLike, overwrite: bool = False
) -> dict[str, Any]:
    """Convert the official Analysis-Synthesis Keras files (``analysis_weights.h5`` and
    ``synthesis_weights.h5``, either order) into one safetensors file. See
    :mod:`deblurcore.convert.keras_h5`. Raises ConversionError as convert_checkpoint."""
    from .keras_h5 import read_analysis_synthesis

    src_paths = [Path(p) for p in sources]
    dst_path = Path(dst)
    _check_destination(src_paths, dst_path, overwrite)
    result = read_analysis_synthesis(src_paths)
    _write_atomically(result["tensors"], result["metadata"], dst_path, overwrite)
    return {
        "output": str(dst_path),
        "architecture": result["architecture"],
        "variant": result["variant"],
        "num_tensors": len(result["tensors"]),
        "num_params": result["num_params"],
        "metadata": result["metadata"],
        "dropped_keys": [],
        "dropped_fields": [],
        "notes": result["notes"],
    }


def convert_checkpoint(
    src: str | os.PathLike | list[str | os.PathLike],
    dst: str | os.PathLike,
    arch: str | None = None,
    overwrite: bool = False,
    variant: str | None = None,
) -> dict[str, Any]:
    """Convert an official STFAN / IFAN / ASPDC checkpoint (or the Analysis-Synthesis pair of
    Keras ``.h5`` files) to a deblurcore safetensors file.

    Args:
        src: the ``torch.save`` file (zip or legacy format); it is parsed without torch and
            without executing anything from it. For the Analysis-Synthesis pair: a list of the
            two Keras HDF5 files (either order).
        dst: output ``.safetensors`` path. Its folder must exist.
        arch: ``'stfan'``, ``'ifan'``, ``'aspdc'`` or ``'analysis_synthesis'``; ``None``
            detects it (HDF5 input is the Analysis-Synthesis pair).
        overwrite: replace an existing ``dst`` (otherwise that is an error).
        variant: what the keys cannot tell (IFAN ``'16bit'``, ASPDC ``'FT'``/``'NF'``), or a
            variant name to confirm (it must then match the detected one).

    Returns:
        A summary dict: ``output``, ``architecture``, ``variant``, ``num_tensors``,
        ``num_params``, ``metadata``, ``dropped_keys``, ``dropped_fields``, ``notes``.

    Raises:
        ConversionError: unreadable/corrupt/malicious file, unknown or mismatched
            architecture, missing/unexpected/mis-shaped keys, existing output. No output
            file is created or modified in that case.
    """
    keras = arch == KERAS_ARCHITECTURE or (arch is None and _is_keras_source(src))
    if keras:
        if variant is not None:
            raise ConversionError("--variant does not apply to the Analysis-Synthesis pair")
        sources = list(src) if isinstance(src, (list, tuple)) else [src]
        return convert_keras_pair(sources, dst, overwrite)
    if isinstance(src, (list, tuple)):
        if len(src) != 1:
            raise ConversionError(f"a PyTorch checkpoint is one file, got {len(src)} files")
        src = src[0]
    src_path = Path(src)
    dst_path = Path(dst)
    _check_destination([src_path], dst_path, overwrite)
    result = read_checkpoint_tensors(src_path, arch=arch, variant=variant)
    _write_atomically(result["tensors"], result["metadata"], dst_path, overwrite)
    return {
        "output": str(dst_path),
        "architecture": result["architecture"],
        "variant": result["variant"].name,
        "num_tensors": len(result["tensors"]),
        "num_params": result["num_params"],
        "metadata": result["metadata"],
        "dropped_keys": result["dropped_keys"],
        "dropped_fields": result["dropped_fields"],
        "notes": result["notes"],
    }
