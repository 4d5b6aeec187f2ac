"""The op profiler of a Context (deblurcore/profiler.h) and the model allocator's bound.

A model loaded with a profiler records every op of a frame (name, argument shapes, time,
allocator bytes) and computes bit-for-bit the same output as one without. The caching
allocator of a model never holds more than the most bytes ever live at once (it gives idle
blocks back before growing past that).
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
        # The cache never grows past the live high-water mark.
        assert held <= peak_live, (op, held, peak_live)
        assert peak_held <= peak_live, (op, peak_held, peak_live)

