"""Weights files and ONNX Runtime runs for the export tests (tests/test_export*.py).

The weights are the test oracles' random weights (tests/torch_models), which exercise the
adaptive layers more than the package's near-uniform ones: STFAN's FAC filters vary per
pixel, IFAN's IAC filters are calibrated over the N iterations, ASPDC's DCN offsets are
fractional and a few pixels large. They go through an official-layout checkpoint and the
converter, so the exporter reads exactly what a user's converted file holds.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from deblurcore.convert import convert_checkpoint
from tests.helpers.checkpoints import official_checkpoint_object, save

#: IFAN variant name -> (iterations, dual pixel, --variant for the converter)
IFAN_VARIANTS = {
    "IFAN": (17, False, None),
    "IFAN_8": (8, False, None),
    "IFAN_26": (26, False, None),
    "IFAN_35": (35, False, None),
    "IFAN_44": (44, False, None),
    "IFAN_16bit": (17, False, "16bit"),
    "IFAN_dual": (17, True, None),
}


def weights_file(folder: Path, arch: str, variant: str | None = None, seed: int = 1) -> Path:
    """A converted weights file of ``arch`` (IFAN: one of IFAN_VARIANTS; ASPDC: None, or
    'intended' for the d0_mode metadata of that name; analysis_synthesis: the Keras pair)
    made from random weights."""
    folder = Path(folder)
    src = folder / f"{arch}_{variant}_{seed}.pth"
    dst = folder / f"{arch}_{variant}_{seed}.safetensors"
    if dst.exists():
        return dst
    if arch == "stfan":
        from tests.torch_models.stfan import random_state_dict

        sd = random_state_dict(seed=seed)
        save(official_checkpoint_object("stfan", sd), src, legacy=True)
        convert_checkpoint(src, dst)
    elif arch == "ifan":
        from tests.torch_models.ifan import official_checkpoint, random_state_dict

        n_iter, dual, conv_variant = IFAN_VARIANTS[variant or "IFAN"]
        sd = random_state_dict(n_iter, dual, seed=seed)
        torch.save(official_checkpoint(sd, n_iter), src)
        convert_checkpoint(src, dst, arch="ifan", variant=conv_variant)
    elif arch == "aspdc":
        from tests.torch_models.aspdc import random_state_dict

        sd = random_state_dict(seed=seed)
        torch.save({"epoch": 1, "deblurring_state_dict": OrderedDict(sd)}, src)
        convert_checkpoint(src, dst, variant="FT")
        if variant == "intended":
            set_metadata(dst, d0_mode="intended")
    elif arch == "analysis_synthesis":
        from tests.torch_models.analysis_synthesis import write_pair

        pair = folder / f"pair_{seed}"
        pair.mkdir()
        _, analysis_h5, synthesis_h5 = write_pair(pair, seed=seed)
        convert_checkpoint([analysis_h5, synthesis_h5], dst)
    else:
        raise ValueError(arch)
    return dst


def set_metadata(path: Path, **changes: str) -> None:
    """Rewrite a weights file with some metadata values changed (None removes a key)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata())
    tensors = load_file(str(path))
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    save_file(tensors, str(path), metadata=meta)


def make_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """An H x W x 3 float32 RGB image in [0, 1]: gradients, a sinusoid, an edge, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin((xx + 2 * yy) / 4.0 + seed)], -1) * 0.8
    img[h // 4 : h // 2, w // 3 :] += 0.15
    img = img + rng.normal(0, 0.04, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def nchw(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None])


def hwc(t: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(t[0].transpose(1, 2, 0))


def ort_session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def stfan_clip(sess, frames):
    """The exported STFAN step chained over ``frames`` (H x W x 3) as a user would: the
    first frame with first_frame=True and zero state, then each step's image, output and
    feature fed back. Returns the outputs as H x W x 3."""
    h, w = frames[0].shape[:2]
    state = {
        "last_image": np.zeros((1, 3, h, w), np.float32),
        "last_output": np.zeros((1, 3, h, w), np.float32),
        "last_feature": np.zeros((1, 256, h // 4, w // 4), np.float32),
        "first_frame": np.array([True]),
    }
    outputs = []
    for frame in frames:
        x = nchw(frame)
        out, feature = sess.run(["output", "feature"], {"image": x, **state})
        outputs.append(hwc(out))
        state = {
            "last_image": x,
            "last_output": out,
            "last_feature": feature,
            "first_frame": np.array([False]),
        }
    return outputs
