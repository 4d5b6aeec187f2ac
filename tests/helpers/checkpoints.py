"""Checkpoints in the layouts of the official releases, written with ``torch.save``.

The converter's input is whatever the official training code saved; these helpers rebuild
those files from a plain state dict, in the zip format (PyTorch >= 1.6) or the legacy
format (``_use_new_zipfile_serialization=False``, as STFAN's release), optionally with the
storages tagged as saved from a GPU.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch

from deblurcore.convert import get_architecture, random_state_dict

#: Format of each official release: STFAN's best-ckpt.pth.tar predates the zip format.
OFFICIAL_FORMAT = {"stfan": "legacy", "ifan": "zip", "aspdc": "zip"}


def official_checkpoint_object(arch: str, state: Mapping[str, Any], epoch: int = 0) -> Any:
    """Wrap a plain state dict the way the official training code saves it.

    STFAN: ``{'epoch_idx', 'Best_Img_PSNR', 'Best_Epoch', 'deblurnet_state_dict'}`` with
    ``module.``-prefixed keys. IFAN: a flat OrderedDict of ``module.Network.``-prefixed keys.
    ASPDC: ``{'epoch', 'deblurring_state_dict'}`` without prefixes.
    """
    name = get_architecture(arch).name
    if name == "stfan":
        sd = OrderedDict((f"module.{k}", v) for k, v in state.items())
        return {
            "epoch_idx": epoch,
            "Best_Img_PSNR": 0.0,
            "Best_Epoch": epoch,
            "deblurnet_state_dict": sd,
        }
    if name == "ifan":
        return OrderedDict((f"module.Network.{k}", v) for k, v in state.items())
    return {"epoch": epoch, "deblurring_state_dict": OrderedDict(state)}


@contextmanager
def _storages_tagged(location: str):
    """torch.save records each storage's device with torch.serialization.location_tag; a
    file saved from a GPU says 'cuda:0'. Tagging CPU storages that way gives such a file
    on a machine without a GPU."""
    with mock.patch("torch.serialization.location_tag", lambda storage: location):
        yield


def save(obj: Any, path: Path, legacy: bool, location: str | None = None) -> Path:
    """``torch.save`` in the zip or the legacy format; ``location`` overrides the device tag."""
    if location is None:
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    else:
        with _storages_tagged(location):
            torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return Path(path)


def to_torch(state: Mapping[str, np.ndarray]) -> OrderedDict[str, torch.Tensor]:
    return OrderedDict((k, torch.from_numpy(np.ascontiguousarray(v))) for k, v in state.items())


def write_random_checkpoint(
    path: Path,
    arch: str = "stfan",
    fmt: str | None = None,
    seed: int = 0,
    variant: str | None = None,
) -> Path:
    """A checkpoint with the RANDOM weights of :func:`deblurcore.convert.random_state_dict`
    in the official layout and format of ``arch``, its storages tagged ``cuda:0`` as in the
    released files (saved from GPUs)."""
    name = get_architecture(arch).name
    fmt = fmt or OFFICIAL_FORMAT[name]
    state = to_torch(random_state_dict(name, seed=seed, variant=variant))
    return save(
        official_checkpoint_object(name, state), path, legacy=fmt == "legacy", location="cuda:0"
    )
