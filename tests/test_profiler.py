"""The op profiler of a Context (deblurcore/profiler.h) and the model allocator's bound.

A model loaded with a profiler records every op of a frame (name, argument shapes, time,
allocator bytes) and computes bit-for-bit the same output as one without. A model's
allocator (an arena whose pages are reused across block sizes) holds no more from frame to
frame and at most 1.5 times the most bytes ever live at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from deblurcore import _core
from deblurcore.convert import write_random_weights


@pytest.mark.parametrize("arch", ["stfan", "ifan", "aspdc"])
def test_profiled_model_records_ops_and_matches(tmp_path, arch):
    weights = str(write_random_weights(tmp_path / "m.safetensors", arch=arch, seed=0))
    prof = _core.OpProfiler()
    profiled = _core.load_model_profiled(weights, "cpu", 2, prof)
    plain = _core.load_model(weights, "cpu", 2)
    frames = [np.random.default_rng(s).random((48, 64, 3), dtype=np.float32) for s in range(3)]
    for f in frames:  # several frames: STFAN's recurrence and the allocator's reuse
        prof.clear()
        np.testing.assert_array_equal(profiled.process(f), plain.process(f))
    records = prof.records()
    assert records, "no op recorded"
    ops = {r[0] for r in records}
    assert "conv2d" in ops
    for op, shapes, seconds, live, held, peak_held, peak_live in records:
        assert op and "out(" in shapes, (op, shapes)
        assert seconds >= 0
        assert live <= held <= peak_held
        assert held <= 1.5 * peak_live, (op, held, peak_live)
        assert peak_held <= 1.5 * peak_live, (op, peak_held, peak_live)



@pytest.mark.parametrize("arch", ["stfan", "ifan"])
def test_model_arena_is_flat_and_bounded(tmp_path, arch):
    # 320x256: the 32-channel full-size activations are 10 MB, so they come from the arena.
    weights = str(write_random_weights(tmp_path / "m.safetensors", arch=arch, seed=0))
    prof = _core.OpProfiler()
    model = _core.load_model_profiled(weights, "cpu", 2, prof)
    frames = [np.random.default_rng(s).random((256, 320, 3), dtype=np.float32) for s in range(2)]
    held_per_frame = []
    for i in range(6):
        prof.clear()
        model.process(frames[i % 2])
        records = prof.records()
        held_per_frame.append(max(r[4] for r in records))
        peak_live = max(r[6] for r in records)
        assert held_per_frame[-1] <= 1.5 * peak_live, (i, held_per_frame[-1], peak_live)
    # Once the arena has settled (STFAN's recurrent state changes the first frames' pattern)
    # every frame reuses the same pages: it holds no more.
    assert held_per_frame[5] == held_per_frame[4] == held_per_frame[3], held_per_frame
