"""``deblurcore deblur``: runs a model over the frames of a video, a folder or an image
(see :mod:`deblurcore.cli`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from ._cli_common import _CLASS_NAMES, EXIT_OK, PROG, UsageError, read_weights_info
from ._cli_options import ModelCall, check_deblur_options
from ._cli_progress import progress


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


class _Views:
    """IFAN_dual's --right/--left inputs, read in step with INPUT (frame by frame)."""

    def __init__(self, sources) -> None:
        self.sources = sources
        self._iters = [s.frames() for s in sources]

    def check(self, source) -> None:
        for name, view in zip(("--right", "--left"), self.sources):
            if view.frame_count and source.frame_count and view.frame_count != source.frame_count:
                raise UsageError(f"{name} {view.path} has {view.frame_count} frames but INPUT has "
                                 f"{source.frame_count}")

    def next_pair(self, frame) -> tuple:
        pair = []
        for name, it in zip(("--right", "--left"), self._iters):
            view = next(it, None)
            if view is None:
                raise UsageError(f"{name} has fewer frames than INPUT (none for {frame.name})")
            if view.image.shape != frame.image.shape:
                raise UsageError(f"{name} frame {view.name} is {view.image.shape[1]}x"
                                 f"{view.image.shape[0]} but INPUT {frame.name} is "
                                 f"{frame.image.shape[1]}x{frame.image.shape[0]}")
            pair.append(view.image)
        return tuple(pair)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        for s in self.sources:
            s.close()


def _open_views(args, media) -> _Views:
    if getattr(args, "right", None) is None:
        return _Views([])
    opened = []
    try:
        for name in ("right", "left"):
            path = Path(getattr(args, name))
            if not path.exists():
                raise UsageError(f"--{name} {path}: no such file or folder")
            opened.append(media.open_source(path))
    except BaseException:
        for s in opened:
            s.close()
        raise
    return _Views(opened)


def _progress(total: int | None, quiet: bool):
    """The progress display of a run (see :func:`deblurcore._cli_progress.progress`)."""
    return progress(total, quiet, "deblur")


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def cmd_deblur(args, model=None) -> int:
    """Run ``deblur`` with parsed ``args``; ``model`` is one already loaded from
    ``args.weights`` with ``args``' options (``deblurcore batch`` reuses one per worker)."""
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

    check_deblur_options(args, weights_info["metadata"], kind)
    views = _open_views(args, media)

    with media.open_source(inp) as source, views:
        if args.fps is not None and source.kind == "video":
            media.warn("--fps is ignored for a video INPUT: its own timing is kept")
        if kind == "image" and source.kind != "image":
            raise UsageError(
                f"OUTPUT {out} is an image file but INPUT is a {source.kind}; "
                "give a folder or a video as OUTPUT"
            )
        if model is None:
            model = _load_model(args, weights, weights_info["metadata"])
        recurrent = bool(getattr(model, "is_video", False))
        if args.reset_every and not recurrent:
            media.warn(
                f"--reset-every has no effect: {getattr(model, 'architecture', 'this model')} "
                "restores every frame independently"
            )
        kernels = _KernelOptions(args, model)
        call = model if recurrent else ModelCall(model, args.tile, args.tile_overlap)
        runner = _Runner(kernels.wrap(call))
        views.check(source)
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
        bar_ = progress(source.frame_count, args.quiet, "deblur", args.progress_interval)
        with sink, bar_ as bar:
            on_audio = sink.on_audio if (not args.no_audio and kind == "video") else None
            for frame in source.frames(on_audio=on_audio):
                if views.sources:
                    call.views = views.next_pair(frame)
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
