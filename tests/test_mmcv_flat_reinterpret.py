"""The mmcv_flat_reinterpret op against its definition written with numpy (exact: it only
copies values), fast and reference kernels, and its argument errors."""

import numpy as np
import pytest

from deblurcore import ops


def flat_reinterpret_numpy(x, height, width):
    n, c = x.shape[:2]
    out = np.zeros((n, c * height * width), np.float32)
    flat = x.reshape(n, -1)
    k = min(flat.shape[1], out.shape[1])
    out[:, :k] = flat[:, :k]
    return out.reshape(n, c, height, width)


@pytest.mark.parametrize("shape,size", [((1, 9, 88, 158), (90, 160)), ((2, 18, 5, 6), (7, 8)),
                                        ((1, 3, 4, 4), (2, 3))])
@pytest.mark.parametrize("reference", [False, True])
def test_matches_the_definition(shape, size, reference):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    got = ops.mmcv_flat_reinterpret(x, *size, reference=reference)
    np.testing.assert_array_equal(got, flat_reinterpret_numpy(x, *size))


def test_the_d0_mask_is_sheared_as_mmcv_reads_it():
    # The unpadded 3x3 mask conv on an h x w map gives (h-2) x (w-2) values per tap; mmcv reads
    # row y of tap k at flat index k*h*w + y*w, so row 1 of tap 0 starts 2 values further on.
    h, w = 6, 7
    s = np.arange(9 * (h - 2) * (w - 2), dtype=np.float32).reshape(1, 9, h - 2, w - 2)
    got = ops.mmcv_flat_reinterpret(s, h, w)
    assert got[0, 0, 1, 0] == s.reshape(-1)[w]
    assert got[0, 8, h - 1, w - 1] == 0  # past the end of the buffer


def test_bad_arguments():
    x = np.zeros((1, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="height"):
        ops.mmcv_flat_reinterpret(x, 0, 3)
    with pytest.raises(ValueError, match="x"):
        ops.mmcv_flat_reinterpret(x[0], 3, 3)
    with pytest.raises(ValueError, match="device"):
        ops.mmcv_flat_reinterpret(x, 3, 3, device="tpu")
