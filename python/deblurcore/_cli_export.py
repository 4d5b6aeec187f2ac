"""``deblurcore export`` (see :mod:`deblurcore.cli` and :mod:`deblurcore.export`)."""

from __future__ import annotations

import argparse

from ._cli_common import EXIT_OK, UsageError


def add_export_parser(sub) -> None:
    """Register the ``export`` command on the CLI's subparsers."""
    e = sub.add_parser(
        "export",
        help="export a weights file as an ONNX graph (for ONNX Runtime, TensorRT, OpenVINO)",
        description=(
            "Write the network of W.safetensors as an ONNX graph of standard ops (no PyTorch "
            "needed). The graph takes 'image', (1, 3, H, W) float32 RGB in [0, 1], and returns "
            "'output' in the same form; channel order and value scaling are inside. STFAN's "
            "graph is one step of its recurrence with the state as extra inputs and outputs "
            "(last_image, last_output, last_feature, first_frame -> output, feature); "
            "IFAN_dual also takes 'right' and 'left'; the Analysis-Synthesis graph also returns "
            "the estimated blur 'kernel' (1, 85, 85)."
        ),
        epilog=(
            "Give a fixed size with --height and --width (multiples of 4 for STFAN and ASPDC, "
            "8 for IFAN, 16 for Analysis-Synthesis), or --dynamic for any such size; the graph "
            "does not pad. Needs the onnx package "
            "(pip install 'deblurcore[export]')."
        ),
    )
    e.add_argument("weights", metavar="W.safetensors", help="converted weights")
    e.add_argument("-o", "--output", metavar="MODEL.onnx", required=True, help="output file")
    e.add_argument(
        "--opset",
        type=int,
        default=19,
        metavar="N",
        help="ONNX opset (default 19, the first with DeformConv; STFAN, IFAN and "
        "Analysis-Synthesis from 13, ASPDC with --deform-conv gridsample from 16)",
    )
    e.add_argument("--height", type=int, metavar="H", help="fixed input height")
    e.add_argument("--width", type=int, metavar="W", help="fixed input width")
    e.add_argument(
        "--dynamic", action="store_true", help="symbolic height and width (any valid size)"
    )
    e.add_argument(
        "--deform-conv",
        choices=("deformconv", "gridsample"),
        default="deformconv",
        help="ASPDC: the DeformConv op (default), or GridSample + Conv for runtimes without "
        "DeformConv (e.g. OpenVINO)",
    )
    e.add_argument("-f", "--force", action="store_true", help="replace an existing output file")
    e.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    e.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    e.set_defaults(handler=cmd_export)


def cmd_export(args) -> int:
    if args.dynamic and (args.height is not None or args.width is not None):
        raise UsageError("give either --height and --width or --dynamic, not both")
    if not args.dynamic and (args.height is None or args.width is None):
        missing = "--width" if args.height is not None else "--height"
        if args.height is None and args.width is None:
            raise UsageError("give the input size with --height H --width W, or --dynamic")
        raise UsageError(f"{missing} is missing (give both --height and --width, or --dynamic)")
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UsageError(
            "export needs the onnx package: pip install 'deblurcore[export]' (or pip install onnx)"
        ) from None
    from .export import export_model

    result = export_model(
        args.weights,
        args.output,
        opset=args.opset,
        height=args.height,
        width=args.width,
        dynamic=args.dynamic,
        deform_conv=args.deform_conv,
        overwrite=args.force,
    )
    if not args.quiet:
        size = "H x W dynamic" if args.dynamic else f"{args.height} x {args.width}"
        print(
            f"wrote {result.path}: {result.architecture} ({result.variant}), opset "
            f"{result.opset}, {size}, {result.num_nodes} nodes; inputs "
            f"{', '.join(result.inputs)}; outputs {', '.join(result.outputs)}"
        )
    return EXIT_OK
