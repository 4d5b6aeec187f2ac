"""STFAN end to end: an official-layout checkpoint -> converter -> C++ model, against a
PyTorch STFAN written from the spec (tests/torch_models/stfan.py) over a moving clip.

Tolerance: max |diff| <= 1e-4 on outputs in [0, 1]. Both sides compute in float32; the
differences come from summation order in the convolutions (K up to 3200 products). Measured
here around 1e-6 per frame; the recurrence carries the feature, so the error may grow over the
clip, but with these weights (filters summing to about 1) it stays far below the bound. A
wrong layer order, concat order or recurrence rule gives differences of 1e-2 or more.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.numpy import load_file  # noqa: E402

import deblurcore  # noqa: E402
from deblurcore.convert import convert_checkpoint  # noqa: E402
from tests.torch_models.stfan import DeblurNet, random_state_dict, run_clip  # noqa: E402

TOL = 1e-4


def moving_clip(n, h, w, seed=0):
    """RGB float32 frames in [0, 1]: a gradient background with a bright square and a dark
    disc moving across it, plus mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for t in range(n):
        img = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin((xx + yy) / 7.0)], -1) * 0.6
        x0, y0 = 2 + 3 * t, 1 + 2 * t
        img[((yy - y0) % h < h // 4) & ((xx - x0) % w < w // 4)] = 0.95
        cy, cx = h / 2 + 4 * np.sin(t / 2), w / 2 - 2 * t
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < (min(h, w) / 6) ** 2] = 0.05
        img += rng.normal(0, 0.02, img.shape).astype(np.float32)
        frames.append(np.clip(img, 0, 1).astype(np.float32))
    return frames


def to_torch_bgr(frame):
    return torch.from_numpy(np.ascontiguousarray(frame[:, :, ::-1])).permute(2, 0, 1)[None]


def from_torch_bgr(t):
    return t[0].permute(1, 2, 0).numpy()[:, :, ::-1]


def save_official(path, state_dict, zip_format):
    """The official checkpoint layout: DataParallel keys under deblurnet_state_dict, plus the
    training fields test.py reads and an optimizer state it does not."""
    ckpt = {
        "epoch_idx": 400,
        "Best_Img_PSNR": 31.24,
        "Best_Epoch": 398,
        "deblurnet_state_dict": OrderedDict(("module." + k, v) for k, v in state_dict.items()),
        "deblurnet_solver_state_dict": {
            "state": {},
            "param_groups": [{"lr": 1e-4, "params": [0, 1]}],
        },
    }
    torch.save(ckpt, path, _use_new_zipfile_serialization=zip_format)


@pytest.fixture(scope="module")
def stfan_setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("stfan")
    sd = random_state_dict(seed=1)
    net = DeblurNet()
    net.load_state_dict(sd)
    net.eval()
    save_official(d / "legacy.pth.tar", sd, zip_format=False)
    save_official(d / "zip.pth.tar", sd, zip_format=True)
    convert_checkpoint(d / "legacy.pth.tar", d / "legacy.safetensors")
    convert_checkpoint(d / "zip.pth.tar", d / "zip.safetensors")
    return net, sd, d


def test_both_checkpoint_formats_convert_to_identical_weights(stfan_setup):
    net, sd, d = stfan_setup
    a = load_file(str(d / "legacy.safetensors"))
    b = load_file(str(d / "zip.safetensors"))
    assert sorted(a) == sorted(b) == sorted(sd)
    for k in sd:
        assert np.array_equal(a[k], b[k]) and np.array_equal(a[k], sd[k].numpy()), k


@pytest.mark.parametrize("h,w", [(32, 48), (44, 28)])
def test_step_matches_torch_recurrence(stfan_setup, h, w):
    net, _, d = stfan_setup
    frames = moving_clip(9, h, w)
    ref = run_clip(net, [to_torch_bgr(f) for f in frames])
    model = deblurcore.STFAN(d / "legacy.safetensors", num_threads=2)
    worst = 0.0
    for frame, r in zip(frames, ref):
        out = model.step(frame)
        assert out.shape == frame.shape and out.dtype == np.float32
        expect = np.clip(from_torch_bgr(r), 0, 1)
        worst = max(worst, float(np.abs(out - expect).max()))
        # The network must actually change the frame, or the comparison would be vacuous.
        assert np.abs(expect - frame).mean() > 1e-2
    assert worst <= TOL, worst


def test_winograd_everywhere_matches_torch_over_10_frames(stfan_setup, monkeypatch):
    """Every 3x3 stride-1 layer by Winograd F(4x4, 3x3) (DEBLURCORE_CONV_ALGO, read when the
    model's context is made), over 10 recurrent frames: the same 1e-4 bound as the default
    per-layer choice (which runs Winograd only where it is faster)."""
    net, _, d = stfan_setup
    frames = moving_clip(10, 32, 48, seed=11)
    ref = run_clip(net, [to_torch_bgr(f) for f in frames])
    monkeypatch.setenv("DEBLURCORE_CONV_ALGO", "winograd")
    model = deblurcore.STFAN(d / "legacy.safetensors", num_threads=2)
    worst = 0.0
    for frame, r in zip(frames, ref):
        worst = max(worst, float(np.abs(model.step(frame) - np.clip(from_torch_bgr(r), 0, 1)).max()))
    assert worst <= TOL, worst


def test_raw_forward_matches_torch_unclamped(stfan_setup):
    """The bound C++ forward gives the raw (unclamped) BGR output of each step."""
    net, _, d = stfan_setup
    frames = [to_torch_bgr(f) for f in moving_clip(4, 24, 36, seed=3)]
    ref = run_clip(net, frames)
    model = deblurcore.STFAN(d / "zip.safetensors")
    for frame, r in zip(frames, ref):
        out = model._core.forward(frame.numpy())
        assert np.abs(out - r.numpy()).max() <= TOL


def test_reset_restarts_the_clip(stfan_setup):
    _, _, d = stfan_setup
    frames = moving_clip(3, 16, 20)
    model = deblurcore.STFAN(d / "legacy.safetensors")
    first = [model.step(f) for f in frames]
    model.reset()
    again = list(model.run(frames))
    for a, b in zip(first, again):
        assert np.array_equal(a, b)
    # Without a reset the state is carried, so the first frame's output changes.
    assert not np.array_equal(model.step(frames[0]), first[0])


def test_odd_size_is_padded_by_replication_and_cropped(stfan_setup):
    net, _, d = stfan_setup
    h, w = 21, 30  # padded to 24 x 32 inside
    frames = moving_clip(3, h, w, seed=5)
    padded = [np.pad(f, ((0, 3), (0, 2), (0, 0)), mode="edge") for f in frames]
    ref = run_clip(net, [to_torch_bgr(f) for f in padded])
    model = deblurcore.STFAN(d / "legacy.safetensors")
    for frame, r in zip(frames, ref):
        out = model.step(frame)
        assert out.shape == (h, w, 3)
        assert np.abs(out - np.clip(from_torch_bgr(r), 0, 1)[:h, :w]).max() <= TOL


def test_uint8_frames_round_trip(stfan_setup):
    net, _, d = stfan_setup
    frames8 = [(f * 255).round().astype(np.uint8) for f in moving_clip(3, 16, 24, seed=7)]
    # uint8 input is scaled by a true division by 255, as the official preprocessing does.
    ref = run_clip(net, [to_torch_bgr(f.astype(np.float32) / np.float32(255)) for f in frames8])
    model = deblurcore.STFAN(d / "legacy.safetensors")
    for frame, r in zip(frames8, ref):
        out = model.step(frame)
        assert out.dtype == np.uint8 and out.shape == frame.shape
        expect = np.clip(from_torch_bgr(r), 0, 1) * 255
        # Rounded to nearest: within half a level plus the float tolerance.
        assert np.abs(out.astype(np.float64) - expect).max() <= 0.5 + 255 * TOL


def test_bad_frames_are_refused(stfan_setup):
    _, _, d = stfan_setup
    model = deblurcore.STFAN(d / "legacy.safetensors")
    with pytest.raises(TypeError, match="numpy"):
        model.step([[0, 0, 0]])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        model.step(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        model.step(np.zeros((8, 8, 4), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        model.step(np.zeros((8, 8, 3), np.float64))
    with pytest.raises(TypeError, match="dtype"):
        model.step(np.zeros((8, 8, 3), np.uint16))
    with pytest.raises(ValueError, match="at least 4x4"):
        model.step(np.zeros((3, 8, 3), np.float32))
    model.step(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="reset"):
        model.step(np.zeros((12, 8, 3), np.float32))
    model.reset()
    model.step(np.zeros((12, 8, 3), np.float32))


def test_bad_weights_are_refused(stfan_setup, tmp_path):
    _, _, d = stfan_setup
    with pytest.raises(FileNotFoundError):
        deblurcore.STFAN(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="device"):
        deblurcore.STFAN(d / "legacy.safetensors", device="tpu")
    with pytest.raises(ValueError, match="num_threads"):
        deblurcore.STFAN(d / "legacy.safetensors", num_threads=0)
    # A weights file with a missing and an extra key: a load error naming both.
    from safetensors.numpy import save_file

    tensors = load_file(str(d / "legacy.safetensors"))
    tensors["extra.weight"] = tensors.pop("fea.0.weight")
    save_file(tensors, str(tmp_path / "broken.safetensors"), metadata={"architecture": "stfan"})
    with pytest.raises(ValueError, match="fea.0.weight"):
        deblurcore.STFAN(tmp_path / "broken.safetensors")
    save_file(
        {"x": np.zeros(3, np.float32)},
        str(tmp_path / "other.safetensors"),
        metadata={"architecture": "nonsense"},
    )
    with pytest.raises(ValueError, match="architecture"):
        deblurcore.load_model(tmp_path / "other.safetensors")
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 5)
    with pytest.raises(ValueError):
        deblurcore.STFAN(tmp_path / "garbage.safetensors")


def test_load_model_picks_the_class(stfan_setup):
    _, _, d = stfan_setup
    model = deblurcore.load_model(d / "legacy.safetensors")
    assert isinstance(model, deblurcore.STFAN)
    assert model.architecture == "stfan" and model.is_video


def test_cli_deblurs_a_folder_of_frames_like_the_api(stfan_setup, tmp_path):
    """`deblurcore deblur` on PNG frames (lossless) gives exactly the Python API's frames."""
    from deblurcore import cli
    from deblurcore.media import read_image, write_image

    _, _, d = stfan_setup
    frames = [(f * 255).round().astype(np.uint8) for f in moving_clip(5, 20, 28, seed=11)]
    src = tmp_path / "frames"
    src.mkdir()
    for i, f in enumerate(frames):
        write_image(src / f"frame{i + 1}.png", f)  # natural order: frame2 before frame10
    out = tmp_path / "out"
    assert (
        cli.main(
            [
                "deblur",
                str(src),
                "-o",
                str(out),
                "--weights",
                str(d / "legacy.safetensors"),
                "--quiet",
            ]
        )
        == 0
    )
    model = deblurcore.STFAN(d / "legacy.safetensors")
    for i, f in enumerate(frames):
        assert np.array_equal(read_image(out / f"frame{i + 1}.png"), model.step(f))
