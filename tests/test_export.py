"""deblurcore export: the exported ONNX graphs run in ONNX Runtime against the runtime on the
same inputs, for every model and variant, at fixed sizes and with --dynamic at two sizes.

Tolerance: max |diff| <= 1e-4 on the [0, 1] outputs (the requirement). Both sides compute in
float32 from the same weights; they differ only in summation order (convolutions, the FAC /
IAC tap sums, DCN's bilinear sampling through GridSample's normalised coordinates). Measured
around 1e-6. A wrong tap layout, padding, channel order or scaling gives 1e-2 or more.

The Analysis-Synthesis pair has the same bound on its [0, 1] output, where the synthesis
output of these random weights reaches +-1000 on the 0..255 scale (so 1e-4 is 4e-5 relative
to it; measured ~1.6e-5 on [0, 1]; a third of the pixels are not clipped), and its kernel
(values ~3e-4) is compared within 1e-7 (measured ~1e-8): the float32 DFTs by matrix products
against the runtime's FFT.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import deblurcore  # noqa: E402
from deblurcore.export import export_model  # noqa: E402
from tests.helpers.export_checks import (  # noqa: E402
    IFAN_VARIANTS,
    hwc,
    make_image,
    nchw,
    ort_session,
    stfan_clip,
    weights_file,
)

TOL = 1e-4


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    torch.set_num_threads(2)
    return tmp_path_factory.mktemp("export")


def _max_diff(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


def _check_single_image(folder, weights, onnx_path, h, w, seed=0):
    """One image through ORT and through the runtime's Python API (IFAN_dual: with views)."""
    model = deblurcore.load_model(weights, num_threads=2)
    img = make_image(h, w, seed)
    feeds = {"image": nchw(img)}
    if model.architecture == "ifan" and model.dual_pixel:
        right, left = make_image(h, w, seed + 1), make_image(h, w, seed + 2)
        feeds.update(right=nchw(right), left=nchw(left))
        expected = model(img, right=right, left=left)
    else:
        expected = model(img)
    got = hwc(ort_session(onnx_path).run(["output"], feeds)[0])
    diff = _max_diff(got, expected)
    assert diff <= TOL, f"{weights.name} at {h}x{w}: max |ORT - runtime| = {diff:.2e}"
    # Not a trivially passing comparison: the network changed the image.
    assert float(np.abs(expected - img).max()) > 1e-3
    return diff


def _stfan_check(weights, onnx_path, h, w, frames=3):
    clip = [make_image(h, w, seed) for seed in range(frames)]
    model = deblurcore.STFAN(weights, num_threads=2)
    expected = list(model.run(clip))
    got = stfan_clip(ort_session(onnx_path), clip)
    for i, (g, e) in enumerate(zip(got, expected)):
        diff = _max_diff(g, e)
        assert diff <= TOL, f"STFAN frame {i} at {h}x{w}: max |ORT - runtime| = {diff:.2e}"


def test_stfan_step_chain_matches_runtime(folder):
    weights = weights_file(folder, "stfan")
    path = folder / "stfan.onnx"
    export_model(weights, path, height=24, width=32)
    _stfan_check(weights, path, 24, 32)


def test_stfan_dynamic_two_sizes_and_opset_13(folder):
    weights = weights_file(folder, "stfan")
    path = folder / "stfan_dynamic.onnx"
    export_model(weights, path, dynamic=True, opset=13)
    for h, w in ((16, 20), (28, 24)):
        _stfan_check(weights, path, h, w, frames=2)


@pytest.mark.parametrize("variant", list(IFAN_VARIANTS))
def test_ifan_variant_matches_runtime(folder, variant):
    weights = weights_file(folder, "ifan", variant)
    path = folder / f"{variant}.onnx"
    result = export_model(weights, path, height=32, width=40)
    assert result.variant == variant
    expected_inputs = ["image", "right", "left"] if variant == "IFAN_dual" else ["image"]
    assert result.inputs == expected_inputs
    _check_single_image(folder, weights, path, 32, 40)


@pytest.mark.parametrize("variant", ["IFAN", "IFAN_dual"])
def test_ifan_dynamic_two_sizes(folder, variant):
    weights = weights_file(folder, "ifan", variant)
    path = folder / f"{variant}_dynamic.onnx"
    export_model(weights, path, dynamic=True, opset=13)
    for h, w in ((16, 24), (40, 32)):
        _check_single_image(folder, weights, path, h, w, seed=3)


@pytest.mark.parametrize(
    "d0_mode, method, opset",
    [
        (None, "deformconv", 19),
        (None, "gridsample", 16),
        (None, "gridsample", 21),  # GridSample's mode is spelled "linear" from opset 20
        ("intended", "deformconv", 19),
        ("intended", "gridsample", 19),
    ],
)
def test_aspdc_matches_runtime(folder, d0_mode, method, opset):
    weights = weights_file(folder, "aspdc", d0_mode)
    path = folder / f"aspdc_{d0_mode}_{method}_{opset}.onnx"
    export_model(weights, path, height=24, width=32, opset=opset, deform_conv=method)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ("DeformConv" in ops) == (method == "deformconv")
    _check_single_image(folder, weights, path, 24, 32)


@pytest.mark.parametrize("method", ["deformconv", "gridsample"])
def test_aspdc_dynamic_two_sizes(folder, method):
    # The d0 branch's mask is read with the strides of the feature map: the padding of the
    # flat buffer depends on the size, computed inside the graph.
    weights = weights_file(folder, "aspdc")
    path = folder / f"aspdc_dynamic_{method}.onnx"
    export_model(weights, path, dynamic=True, deform_conv=method)
    for h, w in ((20, 28), (36, 24)):
        _check_single_image(folder, weights, path, h, w, seed=5)


def _check_analysis_synthesis(weights, onnx_path, h, w, seed=0):
    model = deblurcore.AnalysisSynthesis(weights, num_threads=2)
    img = make_image(h, w, seed)
    out, kernel = ort_session(onnx_path).run(["output", "kernel"], {"image": nchw(img)})
    expected = model(img)
    diff = _max_diff(hwc(out), expected)
    assert diff <= TOL, f"Analysis-Synthesis at {h}x{w}: max |ORT - runtime| = {diff:.2e}"
    assert float(((expected > 0) & (expected < 1)).mean()) > 0.2  # not all clipped
    kernel_diff = _max_diff(kernel[0], model.estimate_kernel(img))
    assert kernel_diff <= 1e-7, f"kernel at {h}x{w}: max |ORT - runtime| = {kernel_diff:.2e}"


def test_analysis_synthesis_matches_runtime(folder):
    weights = weights_file(folder, "analysis_synthesis")
    path = folder / "as.onnx"
    result = export_model(weights, path, height=208, width=224)
    assert result.outputs == ["output", "kernel"]
    _check_analysis_synthesis(weights, path, 208, 224)  # no known shape fits: the whole image


def test_analysis_synthesis_dynamic_picks_the_runtimes_crop(folder):
    weights = weights_file(folder, "analysis_synthesis")
    path = folder / "as_dynamic.onnx"
    export_model(weights, path, dynamic=True, opset=13)  # Shape slices made by Slice before 15
    assert deblurcore.AnalysisSynthesis.analysis_crop(256, 272)[:4] == (0, 8, 256, 256)
    for h, w in ((256, 272), (208, 208)):
        _check_analysis_synthesis(weights, path, h, w, seed=1)
