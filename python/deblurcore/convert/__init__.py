"""Torch-free conversion of official STFAN / IFAN / ASPDC checkpoints to safetensors.

The Analysis-Synthesis pair (Keras .h5 files, read with h5py) is converted by
:mod:`.keras_h5` with the layer tables of :mod:`.analysis_synthesis` (key scheme there).

The converter reads ``torch.save`` files (zip format, and the legacy format of PyTorch
0.4–1.5) with a restricted unpickler that never imports torch and never runs code from
the file, unwraps the state dict, detects the architecture and variant, checks every key
and shape against the tables of the reference specs, and writes a float32 safetensors file
with string metadata:

============== ======================================================================
key             value
============== ======================================================================
architecture    ``stfan`` | ``ifan`` | ``aspdc``
format_version  ``1``
variant         ``STFAN``; ``IFAN``, ``IFAN_8``, ``IFAN_16bit``, ``IFAN_dual`` ...;
                ``DeblurringNet`` / ``DeblurringNet_FT`` / ``DeblurringNet_NF``
channel_order   ``BGR`` (STFAN) or ``RGB``
input_scale     pixel value mapped to 1.0: ``255`` (``65535`` for IFAN_16bit)
input_range     ``0,1`` (network input = pixel / input_scale) or ``-1,1`` (ASPDC:
                2 · pixel / input_scale − 1)
output_range    range of the network output, same convention
output_clamped  ``true`` when the network clips its output itself (IFAN)
size_multiple   ``4`` (STFAN, ASPDC) or ``8`` (IFAN)
size_policy     ``pad``: other sizes are padded (replicating the last row/column) to the
                size multiple and the output is cropped back (files of earlier
                versions say ``error`` or ``crop``, the official code's behaviour; the
                runtime reads them as ``pad``)
recurrent       ``true`` for STFAN (carries a frame and a feature between calls)
source_*        ``source_name``, ``source_sha256``, ``source_format`` (``torch-zip`` /
                ``torch-legacy``), ``source_epoch`` when the file records it
num_tensors, num_params, deblurcore_version
============== ======================================================================

IFAN files also carry ``iterations`` (N), ``dual_pixel``, ``bit_depth``, ``inputs`` and
``iac_filter_size``; STFAN carries ``fac_kernel_size``.
"""

from .architectures import ARCHITECTURES, Architecture, Variant, check_shapes, get_architecture
from .command import add_convert_arguments, build_parser, main_convert, run_convert
from .converter import (
    FORMAT_VERSION,
    KERAS_ARCHITECTURE,
    convert_checkpoint,
    convert_keras_pair,
    detect_architecture,
    read_checkpoint_tensors,
)
from .errors import ConversionError
from .random_weights import random_state_dict, write_random_weights
from .torch_pickle import LoadedCheckpoint, load_torch_checkpoint_bytes

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "ConversionError",
    "FORMAT_VERSION",
    "KERAS_ARCHITECTURE",
    "convert_keras_pair",
    "LoadedCheckpoint",
    "Variant",
    "add_convert_arguments",
    "build_parser",
    "check_shapes",
    "convert_checkpoint",
    "detect_architecture",
    "get_architecture",
    "load_torch_checkpoint_bytes",
    "main_convert",
    "random_state_dict",
    "read_checkpoint_tensors",
    "run_convert",
    "write_random_weights",
]
