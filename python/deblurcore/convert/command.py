"""Command-line front end of the converter (``deblurcore convert`` and ``tools/convert_weights.py``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .architectures import ARCHITECTURES
from .converter import KERAS_ARCHITECTURE
from .errors import ConversionError

EXIT_OK = 0
EXIT_ERROR = 2


def add_convert_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the converter's arguments to ``parser`` (a parser or a sub-command parser)."""
    parser.add_argument(
        "checkpoint",
        help="official PyTorch checkpoint (.pth, .pth.tar, .pytorch; zip or legacy format), or the first "
        "Keras file of the Analysis-Synthesis pair (analysis_weights.h5 synthesis_weights.h5, either order)",
    )
    parser.add_argument("more_checkpoints", metavar="SECOND", nargs="*", help="the second .h5 file of the pair")
    parser.add_argument("-o", "--output", required=True, help="output .safetensors file")
    parser.add_argument(
        "--arch",
        choices=[*ARCHITECTURES, KERAS_ARCHITECTURE],
        default=None,
        help="network architecture (default: detected from the parameter names)",
    )
    parser.add_argument(
        "--variant",
        default=None,
        help="variant the keys cannot tell: IFAN '16bit', ASPDC 'FT' or 'NF'; or a variant name to confirm",
    )
    parser.add_argument(
        "-f", "--force", action="store_true", help="replace an existing output file"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return parser


def run_convert(args: argparse.Namespace) -> int:
    """Run a conversion from parsed arguments. Prints a summary (or a one-line error on
    stderr) and returns the exit status: 0 on success, 2 on any conversion or file error."""
    from .converter import convert_checkpoint

    try:
        more = list(getattr(args, "more_checkpoints", None) or [])
        summary = convert_checkpoint(
            [args.checkpoint, *more] if more else args.checkpoint, args.output, arch=args.arch, overwrite=args.force, variant=args.variant
        )
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ImportError as exc:
        print(f"error: {exc} (the converter needs the 'safetensors' package, and 'h5py' for Keras .h5 files)", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_ERROR
    if not args.quiet:
        print(
            f"wrote {summary['output']}: {summary['architecture']} variant {summary['variant']}, "
            f"{summary['num_tensors']} tensors, {summary['num_params']:,} parameters"
        )
        for note in summary["notes"]:
            print(f"  note: {note}")
        if summary["dropped_fields"]:
            print(f"  dropped training-only fields: {', '.join(summary['dropped_fields'])}")
    return EXIT_OK


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """A stand-alone parser for the converter."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Convert an official STFAN / IFAN / ASPDC PyTorch checkpoint, or the Analysis-Synthesis "
            "pair of Keras .h5 files, to a validated float32 safetensors file for deblurcore. The "
            "files are parsed without PyTorch / TensorFlow and nothing in them is executed."
        ),
    )
    return add_convert_arguments(parser)


def main_convert(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the conversion; returns the exit status."""
    parser = build_parser(prog)
    args = parser.parse_args(list(argv) if argv is not None else None)
    return run_convert(args)
