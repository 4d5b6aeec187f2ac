"""deblurcore export on the command line: the written graph passes onnx.checker and holds
standard ops only, --dynamic makes the size symbolic, bad arguments are one-line usage errors
(exit status 2) naming the argument, the exporter never imports PyTorch, and OpenVINO (where
installed) reads the graphs that use no DeformConv. The numerics are in tests/test_export.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from deblurcore import cli  # noqa: E402
from deblurcore.convert.random_weights import write_random_weights  # noqa: E402
from tests.helpers.export_checks import ort_session, set_metadata, weights_file  # noqa: E402


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


#: What the graphs may contain: the default ONNX domain, these ops only.
STANDARD_OPS = {
    "Add", "Clip", "Concat", "ConstantOfShape", "Conv", "ConvTranspose", "DeformConv", "Div",
    "Gather", "GridSample", "Identity", "LeakyRelu", "Mul", "Pad", "Range", "Cast", "ReduceProd",
    "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Squeeze", "Sub", "Unsqueeze", "Where",
    # the Analysis-Synthesis pair: guidance MLPs, DFTs by matrix products, the crop choice
    "Abs", "ArgMin", "Cos", "Equal", "Gemm", "Less", "LessOrEqual", "MatMul", "Mod", "Neg", "Or",
    "ReduceMean", "ReduceMin", "ReduceSum", "Relu", "Sin", "Sqrt",
}  # fmt: skip


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("export_cli")
    as_weights = weights_file(d, "analysis_synthesis") if _has_torch() else None
    return {"as": as_weights} | {
        name: write_random_weights(d / f"{name}.safetensors", arch, seed=2, variant=variant)
        for name, arch, variant in (
            ("stfan", "stfan", None),
            ("ifan", "ifan", None),
            ("ifan_dual", "ifan", "IFAN_dual"),
            ("aspdc", "aspdc", None),
        )
    }


def run(argv) -> int:
    return cli.main([str(a) for a in argv])


def _dims(value_info):
    return [d.dim_value if d.HasField("dim_value") else d.dim_param
            for d in value_info.type.tensor_type.shape.dim]  # fmt: skip


@pytest.mark.parametrize(
    "name, extra",
    [
        ("stfan", []),
        ("ifan", []),
        ("ifan_dual", []),
        ("aspdc", []),
        ("aspdc", ["--deform-conv", "gridsample", "--opset", "17"]),
        ("as", []),
    ],
)
def test_graph_is_checked_and_standard(weights, tmp_path, capsys, name, extra):
    if weights[name] is None:
        pytest.skip("the Analysis-Synthesis weights are written with torch (tests/torch_models)")
    out = tmp_path / "m.onnx"
    h, w = (208, 224) if name == "as" else (16, 24)
    assert run(["export", weights[name], "-o", out, "--height", h, "--width", w, *extra]) == 0
    assert "wrote" in capsys.readouterr().out
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain for o in model.opset_import} == {""}
    assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
    ops = {n.op_type for n in model.graph.node}
    assert ops <= STANDARD_OPS, ops - STANDARD_OPS
    inputs = {i.name: _dims(i) for i in model.graph.input}
    outputs = {o.name: _dims(o) for o in model.graph.output}
    assert inputs["image"] == [1, 3, h, w] and outputs["output"] == [1, 3, h, w]
    if name == "stfan":
        assert list(inputs) == ["image", "last_image", "last_output", "last_feature", "first_frame"]
        assert inputs["last_feature"] == [1, 256, 4, 6] and outputs["feature"] == [1, 256, 4, 6]
        first = next(i for i in model.graph.input if i.name == "first_frame")
        assert first.type.tensor_type.elem_type == onnx.TensorProto.BOOL
    elif name == "ifan_dual":
        assert list(inputs) == ["image", "right", "left"]
    elif name == "as":
        assert list(inputs) == ["image"] and outputs["kernel"] == [1, 85, 85]
    else:
        assert list(inputs) == ["image"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["architecture"] == ("analysis_synthesis" if name == "as" else name.split("_")[0])


def test_dynamic_size_is_symbolic_and_runs(weights, tmp_path):
    out = tmp_path / "m.onnx"
    assert run(["export", weights["ifan"], "-o", out, "--dynamic", "-q"]) == 0
    model = onnx.load(str(out))
    assert _dims(model.graph.input[0]) == [1, 3, "height", "width"]
    sess = ort_session(out)
    for h, w in ((8, 16), (24, 8)):
        x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
        y = sess.run(None, {"image": x})[0]
        assert y.shape == (1, 3, h, w) and 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize(
    "name, args, message",
    [
        ("stfan", [], "--height H --width W, or --dynamic"),
        ("stfan", ["--height", 16], "--width is missing"),
        ("stfan", ["--height", 16, "--width", 16, "--dynamic"], "not both"),
        ("stfan", ["--height", 18, "--width", 16], "height must be a multiple of 4"),
        ("stfan", ["--height", 16, "--width", 0], "width must be a multiple of 4 and at least 4"),
        ("ifan", ["--height", 16, "--width", 20], "width must be a multiple of 8"),
        ("aspdc", ["--height", 8, "--width", 16], "at least 12"),
        ("stfan", ["--height", 16, "--width", 16, "--opset", 12], "opset must be between 13"),
        ("aspdc", ["--height", 16, "--width", 16, "--opset", 18], "DeformConv needs 19"),
        ("aspdc", ["--dynamic", "--deform-conv", "gridsample", "--opset", 15], "between 16"),
        ("stfan", ["--dynamic", "--deform-conv", "gridsample"], "ASPDC only"),
        ("stfan", ["--dynamic", "--deform-conv", "bilinear"], "invalid choice"),
        ("stfan", ["--dynamic", "--opset", "x"], "invalid int value"),
        ("as", ["--height", 200, "--width", 208], "multiple of 16 and at least 208"),
        ("as", ["--height", 208, "--width", 192], "multiple of 16 and at least 208"),
    ],
)
def test_bad_arguments_are_usage_errors(weights, tmp_path, capsys, name, args, message):
    if weights[name] is None:
        pytest.skip("the Analysis-Synthesis weights are written with torch (tests/torch_models)")
    out = tmp_path / "m.onnx"
    assert run(["export", weights[name], "-o", out, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_bad_files_are_usage_errors(weights, tmp_path, capsys):
    size = ["--height", 16, "--width", 16]
    assert run(["export", tmp_path / "none.safetensors", "-o", tmp_path / "m.onnx", *size]) == 2
    assert "not found" in capsys.readouterr().err
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    assert run(["export", junk, "-o", tmp_path / "m.onnx", *size]) == 2
    assert "not a readable safetensors file" in capsys.readouterr().err
    existing = tmp_path / "exists.onnx"
    existing.write_bytes(b"keep")
    assert run(["export", weights["stfan"], "-o", existing, *size]) == 2
    assert "already exists" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep"
    assert run(["export", weights["stfan"], "-o", existing, *size, "-f", "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert run(["export", weights["stfan"], "-o", tmp_path / "no" / "m.onnx", *size]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_wrong_metadata_is_an_error(weights, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(Path(weights["aspdc"]).read_bytes())
    set_metadata(bad, architecture="aspdc2")
    assert run(["export", bad, "-o", tmp_path / "m.onnx", "--dynamic"]) == 2
    assert "architecture 'aspdc2'" in capsys.readouterr().err
    set_metadata(bad, architecture="aspdc", channel_order="GRB")
    assert run(["export", bad, "-o", tmp_path / "m.onnx", "--dynamic"]) == 2
    assert "channel_order" in capsys.readouterr().err


def test_export_never_imports_torch(weights, tmp_path):
    code = (
        "import sys\n"
        "from deblurcore.export import export_model\n"
        f"export_model({str(weights['aspdc'])!r}, {str(tmp_path / 'm.onnx')!r}, dynamic=True)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_openvino_reads_the_graphs_without_deformconv(weights, tmp_path):
    """OpenVINO has no DeformConv; STFAN, IFAN and ASPDC with --deform-conv gridsample import
    and agree with ONNX Runtime (f32 inference: OpenVINO's CPU default may be bf16)."""
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    rng = np.random.default_rng(0)
    for name, extra in (
        ("stfan", []),
        ("ifan_dual", []),
        ("aspdc", ["--deform-conv", "gridsample"]),
    ):
        out = tmp_path / f"{name}.onnx"
        assert (
            run(["export", weights[name], "-o", out, "--height", 16, "--width", 16, "-q", *extra])
            == 0
        )
        compiled = core.compile_model(
            core.read_model(str(out)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
        )
        sess = ort_session(out)
        feeds = {
            i.name: np.array([True])
            if i.type == "tensor(bool)"
            else rng.random(i.shape, dtype=np.float32)
            for i in sess.get_inputs()
        }
        expected = sess.run(None, feeds)
        got = compiled(feeds)
        for port, e in zip(compiled.outputs, expected):
            assert float(np.abs(got[port] - e).max()) <= 1e-4, name
