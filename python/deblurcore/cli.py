"""The ``deblurcore`` command line.

::

    deblurcore deblur INPUT -o OUTPUT --weights W.safetensors [options]
    deblurcore convert CHECKPOINT -o OUT.safetensors [--arch ...] [--force]
    deblurcore info W.safetensors

Exit status: 0 success; 1 failure while running (e.g. the model raised); 2 bad usage or bad
input (missing/unreadable files, existing output without ``--force``, model mismatch);
130 interrupted (Ctrl-C); 128 + the signal number when stopped by SIGTERM (143), SIGHUP
(129) or SIGQUIT (131). Errors are one line on stderr;
``--debug`` shows the traceback instead. Outputs are written through a temporary file or
folder next to OUTPUT, so an interrupted or failed run leaves no partial output behind
(see :mod:`deblurcore.media`); ``--force`` replaces only the files the run writes (the other
files of an existing OUTPUT folder are kept), and INPUT is never among them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

PROG = "deblurcore"
ARCHITECTURES = ("stfan", "ifan", "aspdc", "analysis_synthesis")
_CLASS_NAMES = {"stfan": "STFAN", "ifan": "IFAN", "aspdc": "ASPDC", "analysis_synthesis": "AnalysisSynthesis"}

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class UsageError(Exception):
    """Bad arguments or input: reported in one line, exit status 2."""


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
        type=int,
        metavar="Q",
        help="quality for libx264/libx265/VP9 (lower is better; default 18 for x264)",
    )
    d.add_argument("--no-audio", action="store_true", help="do not copy the audio of a video INPUT")
    d.add_argument("-f", "--force", action="store_true", help="replace an existing OUTPUT")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
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
    return parser


# --------------------------------------------------------------------------------------
# Weights file


def read_weights_info(path: Path) -> dict:
    """What a weights file holds: ``{"metadata": {key: value}, "tensors": {name: (dtype,
    shape)}}``, from the core's safetensors reader, which validates the whole header (the
    same check the models make when they load the file) without reading the tensors."""
    if not path.exists():
        raise UsageError(f"weights file {path}: no such file")
    if not path.is_file():
        raise UsageError(f"weights file {path} is not a regular file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot read weights file {path}: {exc.strerror or exc}") from None
    from . import _core

    try:
        return _core.safetensors_info(str(path))
    except ValueError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        raise UsageError(f"weights file {path} is not a safetensors file: {reason}") from None


# --------------------------------------------------------------------------------------
# deblur


def _load_model(args, weights: Path, meta: dict):
    import deblurcore  # resolved at call time: tests replace deblurcore.load_model

    recorded = meta.get("architecture")
    if args.model and recorded and args.model != recorded:
        raise UsageError(
            f"--model {args.model} does not match the weights: {weights} holds "
            f"{recorded!r} weights (omit --model to use them)"
        )
    if args.device == "cuda":
        available = getattr(deblurcore, "cuda_available", None)
        if available is not None and not available():
            raise UsageError(
                "--device cuda: this build has no CUDA support or no CUDA device was found"
            )
    if args.precision == "bf16":
        if args.device != "cpu":
            raise UsageError("--precision bf16 runs on the CPU only (--device cpu)")
        supported = getattr(deblurcore, "cpu_supports_bf16", None)
        if supported is not None and not supported():
            raise UsageError(
                "--precision bf16: this CPU has no AVX512_BF16 instructions (use fp32)"
            )
    kwargs = {"device": args.device, "num_threads": args.threads}
    if args.precision != "fp32":
        kwargs["precision"] = args.precision
    if args.model and not recorded:
        cls = getattr(deblurcore, _CLASS_NAMES[args.model], None)
        if cls is None:
            raise UsageError(
                f"--model {args.model}: this installation has no {_CLASS_NAMES[args.model]} model"
            )
        model = cls(str(weights), **kwargs)
    else:
        loader = getattr(deblurcore, "load_model", None)
        if loader is None:
            raise UsageError("this installation has no models (deblurcore.load_model is missing)")
        model = loader(str(weights), **kwargs)
    arch = getattr(model, "architecture", None)
    if args.model and arch and arch != args.model:
        raise UsageError(
            f"--model {args.model} does not match the weights: {weights} holds {arch!r} weights"
        )
    return model


class _KernelOptions:
    """--kernel-out / --max-input-size of the Analysis-Synthesis pair: a callable in place of
    the model that estimates the kernel, writes it as a PNG and restores the image with it."""

    def __init__(self, args, model) -> None:
        self.out = Path(args.kernel_out) if getattr(args, "kernel_out", None) else None
        mis = getattr(args, "max_input_size", None)
        if mis is not None and len(mis) > 2:
            raise UsageError("--max-input-size takes S or H W")
        self.max_input_size = None if mis is None else (mis[0], mis[-1])
        self.name = "frame"
        if (self.out or mis) and not hasattr(model, "estimate_kernel"):
            raise UsageError(f"--kernel-out / --max-input-size need an Analysis-Synthesis model, not "
                             f"{getattr(model, 'architecture', 'this model')}")
        if self.out is not None:
            if self.out.exists() and not self.out.is_dir():
                raise UsageError(f"--kernel-out {self.out} is not a folder")
            self.out.mkdir(parents=True, exist_ok=True)

    def wrap(self, model):
        if self.out is None and self.max_input_size is None:
            return model

        def run(image: np.ndarray) -> np.ndarray:
            kernel = model.estimate_kernel(image, max_input_size=self.max_input_size)
            if self.out is not None:
                from . import media

                peak = float(kernel.max())
                view = np.rint(kernel / peak * 255.0) if peak > 0 else np.zeros_like(kernel)
                gray = view.astype(np.uint8)
                media.write_image(self.out / (Path(self.name).stem + ".png"), np.stack([gray] * 3, -1))
            return model(image, kernel=kernel)

        return run


class _Runner:
    """Calls the model on one frame, in the frame's own dtype when the model takes it.

    Models take uint8 or float32 (IFAN 16-bit also uint16). When a model refuses the
    frame's dtype (a 16-bit PNG into an 8-bit model, or the reverse), frames are given to
    it as float32 in [0, 1] (``v / 255`` or ``v / 65535``, a true division like the
    official pre-processing) and the result is rounded back to the frame's dtype.
    """

    def __init__(self, model):
        self.model = model
        self.step = getattr(model, "step", None) or model
        self.float_io = False

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if not self.float_io:
            try:
                out = self.step(image)
            except TypeError:
                if image.dtype == np.float32:
                    raise
                self.float_io = True
            else:
                return self._checked(out, image)
        scale = float(np.iinfo(image.dtype).max)
        out = self._checked(
            self.step(image.astype(np.float32) / np.float32(scale)), image, np.float32
        )
        return np.rint(np.clip(out, 0.0, 1.0) * scale).astype(image.dtype)

    @staticmethod
    def _checked(out, image, dtype=None):
        dtype = dtype or image.dtype
        if not isinstance(out, np.ndarray) or out.shape != image.shape or out.dtype != dtype:
            got = f"{getattr(out, 'shape', type(out).__name__)} {getattr(out, 'dtype', '')}".strip()
            raise RuntimeError(
                f"the model returned {got}; expected {image.shape} {np.dtype(dtype)}"
            )
        return out


def _progress(total: int | None, quiet: bool):
    from tqdm import tqdm

    enabled = not quiet and sys.stderr is not None and sys.stderr.isatty()
    return tqdm(
        total=total,
        unit="frame",
        disable=not enabled,
        dynamic_ncols=True,
        file=sys.stderr,
        desc="deblur",
        leave=True,
    )


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def cmd_deblur(args) -> int:
    from . import media

    inp, out, weights = Path(args.input), Path(args.output), Path(args.weights)
    if not inp.exists():
        raise UsageError(f"INPUT {inp}: no such file or folder")
    weights_info = read_weights_info(weights)  # bad weights fail before the input is decoded
    if _same_path(inp, out) or inp.resolve() == out.resolve():
        raise UsageError(f"OUTPUT {out} is the same as INPUT")
    kind = media.output_kind(out)
    if (out.exists() or out.is_symlink()) and not args.force:
        raise UsageError(f"OUTPUT {out} exists (use --force to overwrite)")
    if kind == "folder" and inp.is_dir() and inp.resolve() in out.resolve().parents:
        raise UsageError(f"OUTPUT folder {out} is inside INPUT folder {inp}")
    # A folder OUTPUT receives files named after the frames: only a single image can be
    # written under its own name, which in its own folder would replace INPUT.
    if kind == "folder" and media.is_image_path(inp) and inp.resolve().parent == out.resolve():
        raise UsageError(
            f"OUTPUT folder {out} holds INPUT {inp}, which the result would replace; "
            "choose another folder or an image file name"
        )

    with media.open_source(inp) as source:
        if args.fps is not None and source.kind == "video":
            media.warn("--fps is ignored for a video INPUT: its own timing is kept")
        if kind == "image" and source.kind != "image":
            raise UsageError(
                f"OUTPUT {out} is an image file but INPUT is a {source.kind}; "
                "give a folder or a video as OUTPUT"
            )
        model = _load_model(args, weights, weights_info["metadata"])
        recurrent = bool(getattr(model, "is_video", False))
        if args.reset_every and not recurrent:
            media.warn(
                f"--reset-every has no effect: {getattr(model, 'architecture', 'this model')} "
                "restores every frame independently"
            )
        kernels = _KernelOptions(args, model)
        runner = _Runner(kernels.wrap(model))
        sink = media.open_sink(
            out,
            source,
            overwrite=args.force,
            fps=args.fps,
            codec=args.codec,
            crf=args.crf,
            audio=not args.no_audio,
        )
        start = time.perf_counter()
        count = 0
        size = None
        with sink, _progress(source.frame_count, args.quiet) as bar:
            on_audio = sink.on_audio if (not args.no_audio and kind == "video") else None
            for frame in source.frames(on_audio=on_audio):
                shape = frame.image.shape
                if recurrent:
                    if count == 0 or (args.reset_every and count % args.reset_every == 0):
                        model.reset()
                    elif size is not None and shape != size:
                        raise UsageError(
                            f"{frame.name} is {shape[1]}×{shape[0]} but the previous frames are "
                            f"{size[1]}×{size[0]}; {model.architecture} needs frames of one size"
                        )
                size = shape
                kernels.name = frame.name
                restored = runner(frame.image)
                if args.side_by_side:
                    restored = np.concatenate([frame.image, restored], axis=1)
                sink.write(restored, frame)
                count += 1
                bar.update(1)
            if count == 0:
                raise UsageError(f"INPUT {inp} has no frames")
            sink.commit()
        elapsed = time.perf_counter() - start
    if not args.quiet:
        rate = count / elapsed if elapsed > 0 else float("inf")
        print(
            f"{PROG}: wrote {out}: {count} frame{'s' if count != 1 else ''} in {elapsed:.2f} s "
            f"({rate:.2f} frames/s)",
            file=sys.stderr,
        )
    return EXIT_OK


# --------------------------------------------------------------------------------------
# convert, info


def cmd_convert(args) -> int:
    try:
        import deblurcore.convert as convert
    except ImportError as exc:
        raise UsageError(f"the converter is not available in this installation ({exc})") from None
    run = getattr(convert, "run_convert", None)
    if run is not None:
        status = run(args)
        return EXIT_OK if status is None else int(status)
    convert.convert_checkpoint(args.checkpoint, args.output, arch=args.arch, overwrite=args.force)
    return EXIT_OK


def cmd_info(args) -> int:
    path = Path(args.weights)
    info = read_weights_info(path)
    meta = info["metadata"]
    tensors = info["tensors"]
    params = sum(math.prod(shape) for _, shape in tensors.values())
    dtypes = {dtype for dtype, _ in tensors.values()}
    if args.json:
        print(
            json.dumps(
                {
                    "file": str(path),
                    "size_bytes": path.stat().st_size,
                    "num_tensors": len(tensors),
                    "num_params": params,
                    "dtypes": sorted(dtypes),
                    "metadata": meta,
                },
                indent=2,
            )
        )
        return EXIT_OK
    rows = [
        ("file", f"{path} ({path.stat().st_size / 1e6:.1f} MB)"),
        ("architecture", meta.get("architecture", "(not recorded)")),
        ("variant", meta.get("variant", "(not recorded)")),
        (
            "tensors",
            f"{len(tensors)} ({params:,} parameters, {', '.join(sorted(dtypes)) or 'none'})",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':':<{width + 2}}{value}")
    others = {k: v for k, v in meta.items() if k not in ("architecture", "variant")}
    if others.get("size_policy") in ("error", "crop"):
        # Written by earlier converters (the official code's behaviour); the runtime pads.
        others["size_policy"] = f"pad (recorded as {others['size_policy']!r}; the runtime pads)"
    if others:
        print("metadata:")
        kw = max(len(k) for k in others)
        for key in sorted(others):
            print(f"  {key + ':':<{kw + 2}}{others[key]}")
    return EXIT_OK


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
