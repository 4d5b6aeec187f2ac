"""Bad input to the core and the model API: each case is a clear exception of the exact type,
never a crash, and nothing is lost (a model's state, its weights, the files around it).

Covers thread-count bounds, allocation failures and absurd sizes, weights files changed after
loading, non-finite frames and weights, STFAN's clip size, Ctrl-C inside a frame, and the
metadata keys the converter writes. Cases that would kill the interpreter if they regressed
(segfault, std::terminate, SIGBUS) run in a subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from safetensors.numpy import load_file, save_file  # noqa: E402

import deblurcore  # noqa: E402
from deblurcore import _core, ops  # noqa: E402
from deblurcore.convert import convert_checkpoint  # noqa: E402
from tests.helpers.checkpoints import write_random_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Converted random-weight files of STFAN, IFAN and ASPDC."""
    d = tmp_path_factory.mktemp("weights")
    out = {}
    for arch in ("stfan", "ifan", "aspdc"):
        ckpt = write_random_checkpoint(d / f"{arch}.pth", arch, seed=1)
        convert_checkpoint(ckpt, d / f"{arch}.safetensors")
        out[arch] = d / f"{arch}.safetensors"
    return out


def _python(code: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + sys.path)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env, **kw)


def _image(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


# ---- 2. crashes: thread counts, allocation failures, absurd sizes -----------------------


def test_num_threads_bounded():
    cap = _core.max_num_threads()
    assert cap == 4 * _core.default_num_threads()
    x = np.zeros((1, 1, 8, 8), np.float32)
    w = np.zeros((1, 1, 3, 3), np.float32)
    for n in (cap + 1, 20000, 40000, 100000, 2**31 - 1):
        with pytest.raises(ValueError, match="num_threads must be at most"):
            ops.conv2d(x, w, num_threads=n)
    ops.conv2d(x, w, num_threads=cap)


def test_num_threads_bounded_for_models(weights):
    with pytest.raises(ValueError, match="num_threads must be at most"):
        deblurcore.load_model(weights["ifan"], num_threads=100000)


def test_num_threads_bounded_in_cli(weights, tmp_path):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.fromarray((_image(16, 16) * 255).astype(np.uint8)).save(src)
    before = sorted(os.listdir(tmp_path))
    r = _python(f"""
        import sys
        from deblurcore.cli import main
        sys.exit(main(["deblur", {str(src)!r}, "-o", {str(tmp_path / 'out.png')!r},
                       "-w", {str(weights['ifan'])!r}, "--threads", "100000"]))
    """)
    assert r.returncode in (1, 2), r.stderr
    assert "num_threads must be at most" in r.stderr and "Traceback" not in r.stderr
    assert sorted(os.listdir(tmp_path)) == before


def test_huge_padding_and_dilation_refused_in_process():
    # Was std::terminate (std::bad_alloc inside an OpenMP region): run where an abort cannot
    # take the test run with it.
    r = _python("""
        import numpy as np
        from deblurcore import ops
        x = np.zeros((1, 1, 8, 8), np.float32); w = np.zeros((1, 1, 3, 3), np.float32)
        try:
            ops.conv2d(x, w, dilation=65536, padding=65536)
        except ValueError as e:
            assert "padded input plane" in str(e), e
        else:
            raise SystemExit("not refused")
        # Large along one axis only: a modest padded plane, computed (no crash, no refusal).
        assert ops.conv2d(x, w, dilation=(1, 65536), padding=(0, 65536)).shape == (1, 1, 6, 8)
        try:
            ops.conv_transpose2d(np.zeros((1, 1, 64, 64), np.float32), w, stride=65536)
        except (ValueError, MemoryError) as e:
            print(type(e).__name__, e)
        else:
            raise SystemExit("not refused")
        print("ok")
    """)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr + r.stdout
    assert "ValueError" in r.stdout  # the tensor size limit, before any allocation


# ---- 3. weights file changed after loading ---------------------------------------------


@pytest.mark.parametrize("arch", ["aspdc", "stfan", "ifan"])
def test_model_independent_of_its_file(weights, tmp_path, arch):
    path = tmp_path / "w.safetensors"
    path.write_bytes(weights[arch].read_bytes())
    other = write_random_checkpoint(tmp_path / "other.pth", arch, seed=7)
    convert_checkpoint(other, tmp_path / "other.safetensors")
    # Truncation of a file whose mapping is still read is a SIGBUS: in a subprocess.
    r = _python(f"""
        import os, shutil
        import numpy as np
        import deblurcore
        img = np.random.default_rng(0).random((24, 24, 3), dtype=np.float32)
        m = deblurcore.load_model({str(path)!r}, num_threads=1)
        ref = m(img)
        if m.is_video: m._core.reset()
        os.truncate({str(path)!r}, 0)
        a = m(img)
        if m.is_video: m._core.reset()
        shutil.copyfile({str(tmp_path / 'other.safetensors')!r}, {str(path)!r})
        b = m(img)
        assert np.array_equal(ref, a) and np.array_equal(ref, b)
        print("ok")
    """)
    assert r.returncode == 0 and "ok" in r.stdout, (r.returncode, r.stderr)


def test_nonfinite_weights_refused(weights, tmp_path):
    tensors = load_file(str(weights["ifan"]))
    meta = deblurcore._core.safetensors_info(str(weights["ifan"]))["metadata"]
    for bad in (np.nan, np.inf, -np.inf):
        ts = dict(tensors)
        k = "conv1_1.0.weight"
        ts[k] = ts[k].copy()
        ts[k].flat[5] = bad
        save_file(ts, str(tmp_path / "bad.safetensors"), metadata=meta)
        with pytest.raises(ValueError, match=r"conv1_1\.0\.weight.*1 NaN or infinite value \(first at flat index 5\)"):
            deblurcore.IFAN(tmp_path / "bad.safetensors")


# ---- 6. silent wrong output: non-finite frames, STFAN's clip size -----------------------


@pytest.mark.parametrize("arch", ["stfan", "ifan", "aspdc"])
def test_nonfinite_frame_refused_state_kept(weights, arch):
    m = deblurcore.load_model(weights[arch], num_threads=1)
    a, b = _image(20, 28, 1), _image(20, 28, 2)
    expected = [m(a), m(b)]
    if m.is_video:
        m._core.reset()
    assert np.array_equal(m(a), expected[0])
    for value in (np.nan, np.inf, -np.inf):
        bad = b.copy()
        bad[3, 5, 1] = value
        bad[7, 2, 0] = np.nan
        with pytest.raises(ValueError, match=r"2 NaN or infinite values \(first at row 3, column 5, channel 1\)"):
            m(bad)
    # The recurrence continues from frame a as if the bad frames had never been given.
    assert np.array_equal(m(b), expected[1])


def test_stfan_clip_size_compares_real_size(weights):
    m = deblurcore.STFAN(weights["stfan"], num_threads=1)
    m.step(_image(37, 45))
    with pytest.raises(ValueError, match="38x46 differs from the clip's 37x45"):
        m.step(_image(38, 46))  # both pad to 40x48
    m.step(_image(37, 45))
    m.reset()
    m.step(_image(38, 46))


def test_ifan_dual_views_checked(tmp_path):
    ckpt = write_random_checkpoint(tmp_path / "dual.pth", "ifan", seed=2, variant="IFAN_dual")
    convert_checkpoint(ckpt, tmp_path / "dual.safetensors")
    m = deblurcore.IFAN(tmp_path / "dual.safetensors", num_threads=1)
    img = _image(16, 16)
    bad = img.copy()
    bad[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match=r"right has 1 NaN.*row 0, column 1, channel 2"):
        m(img, right=bad, left=img)
    with pytest.raises(ValueError, match=r"left has 1 NaN"):
        m(img, right=img, left=bad)


# ---- 8. Ctrl-C inside a frame -----------------------------------------------------------


def _interrupt_after_start(cmd, env, ready_marker: str, delay: float):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline() if ready_marker else ""
    assert ready_marker in line, proc.communicate()[1]
    time.sleep(delay)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, time.monotonic() - t0, out, err


def test_ctrl_c_stops_a_frame_within_a_second(weights):
    code = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        import deblurcore
        m = deblurcore.ASPDC({str(weights['aspdc'])!r}, num_threads=1)
        img = np.random.default_rng(0).random((540, 960, 3), dtype=np.float32)
        print("ready", flush=True)
        t = time.monotonic()
        try:
            m(img)
        except KeyboardInterrupt:
            print("interrupted after", time.monotonic() - t, flush=True)
            small = np.random.default_rng(1).random((16, 16, 3), dtype=np.float32)
            m(small)  # the model still works
            print("usable", flush=True)
            sys.exit(0)
        print("finished without interruption")
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + sys.path)
    rc, stop, out, err = _interrupt_after_start([sys.executable, "-c", code], env, "ready", 1.0)
    assert rc == 0 and "interrupted after" in out and "usable" in out, (out, err)
    # About a second on an idle machine (the longest op between two polls); allow for a
    # loaded test machine.
    print(f"stopped {stop:.2f} s after SIGINT")
    assert stop < 5.0, f"took {stop:.2f} s to stop"


def test_cli_ctrl_c_inside_a_frame(weights, tmp_path):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.fromarray((_image(540, 960) * 255).astype(np.uint8)).save(src)
    before = sorted(os.listdir(tmp_path))
    code = textwrap.dedent(f"""
        import sys
        import deblurcore
        _load = deblurcore.load_model
        def loaded(*a, **k):  # tell the test the model is loaded and the frame starts
            m = _load(*a, **k)
            print("ready", flush=True)
            return m
        deblurcore.load_model = loaded
        from deblurcore.cli import main
        sys.exit(main(["deblur", {str(src)!r}, "-o", {str(tmp_path / 'out.png')!r},
                       "-w", {str(weights['aspdc'])!r}, "--threads", "1"]))
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + sys.path)
    rc, stop, out, err = _interrupt_after_start([sys.executable, "-c", code], env, "ready", 1.0)
    assert rc == 130, err
    print(f"stopped {stop:.2f} s after SIGINT")
    assert stop < 5.0, f"took {stop:.2f} s to stop"
    assert sorted(os.listdir(tmp_path)) == before  # no output, no temporary


# ---- 9. metadata the runtime ignored ----------------------------------------------------

BOGUS = {
    "stfan": ["variant", "channel_order", "input_range", "input_scale", "output_range",
              "output_clamped", "size_multiple", "size_policy", "recurrent", "fac_kernel_size",
              "num_tensors", "num_params", "format_version"],
    "ifan": ["variant", "channel_order", "input_range", "input_scale", "output_range",
             "output_clamped", "size_multiple", "size_policy", "recurrent", "iac_filter_size",
             "iterations", "dual_pixel", "bit_depth", "inputs", "num_tensors", "num_params"],
    "aspdc": ["variant", "channel_order", "input_range", "input_scale", "output_range",
              "output_clamped", "size_multiple", "size_policy", "recurrent", "d0_mode",
              "num_tensors", "num_params"],
}


@pytest.mark.parametrize("arch", sorted(BOGUS))
def test_every_metadata_key_checked(weights, tmp_path, arch):
    tensors = load_file(str(weights[arch]))
    meta = deblurcore._core.safetensors_info(str(weights[arch]))["metadata"]
    for key in BOGUS[arch]:
        assert key in meta or key == "d0_mode", key
        for value in ("bogus", ""):
            save_file(tensors, str(tmp_path / "m.safetensors"), metadata=dict(meta, **{key: value}))
            with pytest.raises(ValueError, match=key if key != "format_version" else "format"):
                deblurcore.load_model(tmp_path / "m.safetensors")
    deblurcore.load_model(weights[arch])  # the converter's own values load


def test_size_policy_written_and_read_as_pad(weights, tmp_path):
    for arch, legacy in (("stfan", "error"), ("ifan", "crop"), ("aspdc", "error")):
        meta = deblurcore._core.safetensors_info(str(weights[arch]))["metadata"]
        assert meta["size_policy"] == "pad"
        # Files of earlier converters recorded the official behaviour; they keep loading.
        save_file(load_file(str(weights[arch])), str(tmp_path / "old.safetensors"),
                  metadata=dict(meta, size_policy=legacy))
        deblurcore.load_model(tmp_path / "old.safetensors")
        r = _python(f"""
            import sys
            from deblurcore.cli import main
            sys.exit(main(["info", {str(tmp_path / 'old.safetensors')!r}]))
        """)
        assert f"pad (recorded as '{legacy}'; the runtime pads)" in r.stdout, r.stderr
