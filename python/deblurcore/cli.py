"""The ``deblurcore`` command line.

::

    deblurcore deblur INPUT -o OUTPUT --weights W.safetensors [options]
    deblurcore convert CHECKPOINT -o OUT.safetensors [--arch ...] [--force]
    deblurcore info W.safetensors
    deblurcore batch INPUTS... -o OUT_DIR -w W.safetensors [--workers N] [--ray [ADDRESS]]
    deblurcore export W.safetensors -o MODEL.onnx [--opset N] [--height H --width W | --dynamic]
    deblurcore benchmark W.safetensors [--size 1280x720]
    deblurcore --version

Exit status: 0 success; 1 failure while running (e.g. the model raised); 2 bad usage or bad
input (missing/unreadable files, existing output without ``--force``, model mismatch);
130 interrupted (Ctrl-C); 128 + the signal number when stopped by SIGTERM (143), SIGHUP
(129) or SIGQUIT (131). Errors are one line on stderr;
``--debug`` shows the traceback instead. Progress goes to stderr: a bar on a terminal, plain
lines every ``--progress-interval`` seconds otherwise (see :mod:`deblurcore._cli_progress`). Outputs are written through a temporary file or
folder next to OUTPUT, so an interrupted or failed run leaves no partial output behind
(see :mod:`deblurcore.media`); ``--force`` replaces only the files the run writes (the other
files of an existing OUTPUT folder are kept), and INPUT is never among them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence
from fractions import Fraction

from ._cli_batch import add_batch_parser
from ._cli_benchmark import add_benchmark_parser
from ._cli_common import (  # noqa: F401  (re-exported: part of this module's interface)
    ARCHITECTURES,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    PROG,
    UsageError,
    read_weights_info,
)
from ._cli_deblur import cmd_deblur
from ._cli_export import add_export_parser
from ._cli_info import cmd_convert, cmd_info
from ._cli_options import add_deblur_options


class _Terminated(BaseException):
    """Raised from the SIGTERM/SIGHUP/SIGQUIT handler so that cleanup code runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# Signals that end a run like Ctrl-C does: temporary outputs are removed first. SIGHUP comes
# when the terminal closes, SIGQUIT from Ctrl-\ (whose default would dump core instead).
_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


# --------------------------------------------------------------------------------------
# Argument parsing


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _crf(text: str) -> int:
    # 0..63 covers every CRF encoder (x264/x265 0..51, VP9/AV1 0..63); the encoder's own
    # range is checked against --codec before the model loads (see _cli_options).
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer quality, got {text!r}") from None
    if not 0 <= value <= 63:
        raise argparse.ArgumentTypeError(f"expected a quality from 0 to 63, got {value}")
    return value


def _version() -> str:
    from ._version import __version__

    return __version__


def _positive_fraction(text: str) -> Fraction:
    try:
        value = Fraction(text)  # accepts 25, 29.97 and 30000/1001
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"expected a frame rate such as 25 or 30000/1001, got {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive frame rate, got {text}")
    return value.limit_denominator(1_000_000)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Deblur videos and images with STFAN, IFAN or ASPDC (no deep-learning framework needed).",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser(
        "deblur",
        help="deblur a video, a folder of images or an image",
        description=(
            "Deblur INPUT (a video file, a folder of images sorted naturally, or one image) into "
            "OUTPUT (a video file, a folder, or an image file for a single image). STFAN runs "
            "through the frames in order (its recurrence is reset at the start); IFAN and ASPDC "
            "restore each image independently."
        ),
        epilog=(
            "Videos keep their frame rate and timestamps; the audio is copied (or re-encoded "
            "when the container needs it). Video is encoded with H.264 (libx264, CRF 18, 4:2:0; "
            "4:4:4 for odd sizes so the size is kept exactly) unless --codec is given; use e.g. "
            "'--codec ffv1' with .mkv for lossless output. Frames from a video written to a "
            "folder are numbered 00000.png, 00001.png, ...; images from a folder keep their names. "
            "16-bit PNG/TIFF stay 16-bit in PNG/TIFF outputs. The output appears only when "
            "everything succeeded."
        ),
    )
    d.add_argument("input", metavar="INPUT", help="video file, folder of images, or image file")
    d.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        required=True,
        help="video file (.mp4 .mkv .mov .avi .webm .m4v), folder, or image file",
    )
    d.add_argument(
        "-w",
        "--weights",
        metavar="W.safetensors",
        required=True,
        help="converted weights (see 'deblurcore convert')",
    )
    d.add_argument(
        "-m",
        "--model",
        choices=ARCHITECTURES,
        help="architecture to run; default: the one recorded in the weights (a mismatch is an error)",
    )
    d.add_argument(
        "--device", default="cpu", choices=("cpu", "cuda"), help="compute device (default: cpu)"
    )
    d.add_argument(
        "--threads", type=_positive_int, metavar="N", help="CPU threads (default: all cores)"
    )
    d.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16"),
        help="arithmetic of the convolutions: fp32 (default), or bf16 (faster, within 2/255; "
        "CPUs with AVX512_BF16 only)",
    )
    d.add_argument(
        "--side-by-side", action="store_true", help="write INPUT | OUTPUT next to each other"
    )
    d.add_argument(
        "--reset-every",
        type=_positive_int,
        metavar="N",
        help="STFAN: restart the recurrence every N frames (20 matches the official test, "
        "which resets at frames 0, 20, 40, ...; it also skips the last len %% 20 frames, "
        "which are processed here); default: never",
    )
    d.add_argument(
        "--kernel-out",
        metavar="DIR",
        help="Analysis-Synthesis: write each estimated blur kernel as a PNG (scaled to its "
        "maximum for viewing) into DIR, named after the frame",
    )
    d.add_argument(
        "--max-input-size",
        type=_positive_int,
        nargs="+",
        metavar="N",
        help="Analysis-Synthesis: the official -amis limit on the kernel-estimation crop, "
        "S or H W (default: none)",
    )
    d.add_argument(
        "--fps",
        type=_positive_fraction,
        metavar="RATE",
        help="frame rate of a video made from images (default: 30); videos keep their own",
    )
    d.add_argument(
        "--codec", metavar="NAME", help="video encoder, e.g. libx264, ffv1, libvpx-vp9, mpeg4"
    )
    d.add_argument(
        "--crf",
        type=_crf,
        metavar="Q",
        help="quality for libx264/libx265/VP9 (lower is better; default 18 for x264)",
    )
    d.add_argument("--no-audio", action="store_true", help="do not copy the audio of a video INPUT")
    d.add_argument("-f", "--force", action="store_true", help="replace an existing OUTPUT")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    add_deblur_options(d, _positive_int)
    d.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    d.set_defaults(handler=cmd_deblur)

    c = sub.add_parser(
        "convert",
        help="convert an official PyTorch checkpoint to a .safetensors weights file",
        description=(
            "Convert an official STFAN / IFAN / ASPDC checkpoint to a validated float32 "
            "safetensors file. The checkpoint is parsed without PyTorch and nothing in it is executed."
        ),
    )
    # The same arguments (and attribute names) as deblurcore.convert.add_convert_arguments,
    # declared here so that the converter is only imported when this command runs.
    c.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="official checkpoint (.pth, .pth.tar, .pytorch), or the first file of the "
        "Analysis-Synthesis pair (analysis_weights.h5 synthesis_weights.h5, either order)",
    )
    c.add_argument(
        "more_checkpoints", metavar="SECOND", nargs="*", help="the second .h5 file of the pair"
    )
    c.add_argument(
        "-o", "--output", metavar="OUT.safetensors", required=True, help="output weights file"
    )
    c.add_argument(
        "--arch",
        choices=ARCHITECTURES,
        help="architecture (default: detected from the parameter names)",
    )
    c.add_argument("--variant", help="what the keys cannot tell: IFAN '16bit', ASPDC 'FT' or 'NF'")
    c.add_argument("-f", "--force", action="store_true", help="replace an existing output file")
    c.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    c.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    c.set_defaults(handler=cmd_convert)

    i = sub.add_parser(
        "info",
        help="show the architecture, variant and metadata of a weights file",
        description="Print what a converted .safetensors weights file holds.",
    )
    i.add_argument("weights", metavar="W.safetensors")
    i.add_argument("--json", action="store_true", help="print the metadata as JSON")
    i.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    i.set_defaults(handler=cmd_info)

    add_batch_parser(sub, _positive_int, _positive_fraction)
    add_export_parser(sub)
    add_benchmark_parser(sub, _positive_int)
    return parser


# --------------------------------------------------------------------------------------
# main


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    text = " ".join(text.split())
    if not text:
        text = type(exc).__name__
    if not isinstance(exc, (UsageError, ValueError, OSError)):
        text = f"{type(exc).__name__}: {text}"
    return text


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _exit_status(exc: BaseException) -> int:
    from .media import MediaError

    if isinstance(
        exc,
        (
            UsageError,
            MediaError,
            FileNotFoundError,
            IsADirectoryError,
            NotADirectoryError,
            PermissionError,
        ),
    ):
        return EXIT_USAGE
    if isinstance(exc, (ValueError, TypeError)):  # the model refused the input
        return EXIT_USAGE
    return EXIT_FAILURE


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. captured in tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))

    previous_handlers = {}
    if threading.current_thread() is threading.main_thread():

        def _on_stop(signum, frame):
            raise _Terminated(signum)

        for signum in _STOP_SIGNALS:
            try:
                previous_handlers[signum] = signal.signal(signum, _on_stop)
            except (ValueError, OSError):
                pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", UserWarning)
            warnings.showwarning = _show_warning
            status = args.handler(args)
            sys.stdout.flush()  # a closed pipe fails here, not at exit
            return status
    except BrokenPipeError:
        # Whoever read stdout has gone (`deblurcore info W | head`): not an error. Later
        # writes, including the flush at exit, go to /dev/null instead of failing again.
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated as stop:
        name = signal.Signals(stop.signum).name
        print(f"{PROG}: terminated ({name}); no output was written", file=sys.stderr)
        return 128 + stop.signum
    except Exception as exc:  # one line, or the traceback with --debug
        if debug:
            traceback.print_exc()
        else:
            print(f"{PROG} {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return _exit_status(exc)
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
