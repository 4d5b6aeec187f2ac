"""deblurcore.ops on non-contiguous input, on bad input (a clear exception that names
the argument) and on CUDA without CUDA, at the API level.

The tolerances and how they are derived: tests/helpers/op_checks.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import (
    assert_bitwise,
    case_rng,
    randn,
)

# ---------------------------------------------------------------------------------------------
# Non-contiguous input


def test_non_contiguous_input_is_copied():
    rng = case_rng("noncontig")
    base = randn(rng, (2, 3, 7, 6))
    base_before = base.copy()
    x = base.transpose(0, 1, 3, 2)          # (2, 3, 6, 7), a transposed view
    assert not x.flags.c_contiguous
    xc = np.ascontiguousarray(x)
    wbase = randn(rng, (3, 4, 3, 3))
    w = wbase.transpose(1, 0, 3, 2)         # (4, 3, 3, 3)
    wc = np.ascontiguousarray(w)
    assert_bitwise(ops.conv2d(x, w, padding=1), ops.conv2d(xc, wc, padding=1), "conv2d")
    assert_bitwise(ops.conv_transpose2d(x, wbase, stride=2),
                    ops.conv_transpose2d(xc, np.ascontiguousarray(wbase), stride=2),
                    "conv_transpose2d")
    kernel = randn(rng, (2, 27, 7, 6)).transpose(0, 1, 3, 2)
    assert_bitwise(ops.fac(x, kernel, 3), ops.fac(xc, np.ascontiguousarray(kernel), 3), "fac")
    gx, gk = ops.fac_backward(x[:, :, ::-1], x, kernel, 3)  # negative strides too
    gx2, gk2 = ops.fac_backward(np.ascontiguousarray(x[:, :, ::-1]), xc,
                                np.ascontiguousarray(kernel), 3)
    assert_bitwise(gx, gx2, "fac_backward grad_x")
    assert_bitwise(gk, gk2, "fac_backward grad_kernel")
    assert_bitwise(ops.relu(x), ops.relu(xc), "relu")
    assert_bitwise(ops.softmax(x), ops.softmax(xc), "softmax")
    assert_bitwise(ops.add(x, x[:, :, ::-1]), ops.add(xc, np.ascontiguousarray(x[:, :, ::-1])),
                    "add")
    assert_bitwise(ops.concat([x, x[:, 1:]]), ops.concat([xc, np.ascontiguousarray(xc[:, 1:])]),
                    "concat")
    assert_bitwise(ops.pad(x, (1, 2, 2, 1), "reflect"), ops.pad(xc, (1, 2, 2, 1), "reflect"),
                    "pad")
    # The caller's arrays are never modified.
    assert_bitwise(base, base_before, "input after the calls")


# ---------------------------------------------------------------------------------------------
# Bad input: a clear exception that names the argument

X = np.zeros((1, 2, 5, 5), np.float32)
W3 = np.zeros((3, 2, 3, 3), np.float32)
K5 = np.zeros((1, 2 * 25, 5, 5), np.float32)


def _conv(**kw):
    args = dict(x=X, weight=W3)
    args.update(kw)
    return lambda: ops.conv2d(**args)


def _convt(**kw):
    args = dict(x=X, weight=np.zeros((2, 3, 4, 4), np.float32), stride=2, padding=1)
    args.update(kw)
    return lambda: ops.conv_transpose2d(**args)


def _fac(**kw):
    args = dict(x=X, kernel=K5, kernel_size=5)
    args.update(kw)
    return lambda: ops.fac(**args)


def _fac_backward(**kw):
    args = dict(grad_out=X, x=X, kernel=K5, kernel_size=5)
    args.update(kw)
    return lambda: ops.fac_backward(**args)


BAD_INPUTS = [
    # (call, exception, a regular expression the message must match)
    # wrong dtype / not an array
    (_conv(x=X.astype(np.float64)), TypeError, r"x must have dtype float32, got float64"),
    (_conv(x=X.astype(np.int32)), TypeError, r"x must have dtype float32"),
    (_conv(weight=W3.astype(np.float16)), TypeError, r"weight must have dtype float32"),
    (_conv(x=X.tolist()), TypeError, r"x must be a numpy.ndarray"),
    (_conv(x=None), TypeError, r"x must be a numpy.ndarray"),
    (_conv(bias=[0.0, 0.0, 0.0]), TypeError, r"bias must be a numpy.ndarray"),
    (_fac(kernel=K5.astype(np.float64)), TypeError, r"kernel must have dtype float32"),
    (_fac(x=None), TypeError, r"x must be a numpy.ndarray"),
    (_fac_backward(grad_out=X.astype(np.float64)), TypeError, r"grad_out must have dtype"),
    (lambda: ops.relu(X.astype(np.float64)), TypeError, r"x must have dtype float32"),
    (lambda: ops.sigmoid([1.0]), TypeError, r"x must be a numpy.ndarray"),
    (lambda: ops.add(X, X.astype(np.int64)), TypeError, r"b must have dtype float32"),
    (lambda: ops.concat([X, X.astype(np.float64)]), TypeError, r"tensors\[1\] must have dtype"),
    (lambda: ops.concat(X), TypeError, r"tensors must be a list or tuple"),
    (lambda: ops.pad(X.astype(np.float64), (1, 1)), TypeError, r"x must have dtype float32"),
    (lambda: ops.pad(X, 1), TypeError, r"pad must be a sequence"),
    (_fac(kernel_size=5.0), TypeError, r"kernel_size must be an int"),
    (_conv(stride=1.5), TypeError, r"stride must be an int or a pair"),
    (_conv(padding=(1, 1, 1)), TypeError, r"padding must be an int or a pair"),
    # wrong ndim
    (_conv(x=X[0]), ValueError, r"x must be 4-D"),
    (_conv(weight=W3[0]), ValueError, r"weight must be 4-D"),
    (_conv(bias=np.zeros((3, 1), np.float32)), ValueError, r"bias must be 1-D"),
    (_fac(kernel=K5[0]), ValueError, r"kernel must be 4-D"),
    (_fac_backward(grad_out=X[0]), ValueError, r"grad_out must be 4-D"),
    (lambda: ops.softmax(X[0]), ValueError, r"x must be 4-D"),
    (lambda: ops.pad(X[0], (1, 1)), ValueError, r"x must be 4-D"),
    (lambda: ops.concat([X, X[0]]), ValueError, r"tensors\[1\] must be 4-D"),
    # empty dimensions
    (_conv(x=np.zeros((0, 2, 5, 5), np.float32)), ValueError, r"x must have no empty dim"),
    (_fac(x=np.zeros((1, 2, 0, 5), np.float32)), ValueError, r"x must have no empty dim"),
    # mismatched channels and shapes
    (_conv(weight=np.zeros((3, 4, 3, 3), np.float32)), ValueError,
     r"conv2d: weight has 4 input channels .* x has 2 channels"),
    (_conv(bias=np.zeros(4, np.float32)), ValueError, r"conv2d: bias must have shape \(3,\)"),
    (_convt(weight=np.zeros((3, 2, 4, 4), np.float32)), ValueError,
     r"conv_transpose2d: weight has 3 input channels"),
    (_convt(bias=np.zeros(2, np.float32)), ValueError, r"conv_transpose2d: bias must have shape"),
    (_fac(kernel=np.zeros((1, 2 * 9, 5, 5), np.float32)), ValueError,
     r"fac: kernel must have C\*k\*k = 2\*25 = 50 channels"),
    (_fac(kernel=np.zeros((1, 50, 5, 4), np.float32)), ValueError,
     r"fac: kernel must have the spatial size of x"),
    (_fac(kernel=np.zeros((2, 50, 5, 5), np.float32)), ValueError,
     r"fac: kernel has batch 2 but x has batch 1"),
    (_fac_backward(grad_out=np.zeros((1, 2, 5, 4), np.float32)), ValueError,
     r"fac_backward: grad_out must have the shape of x"),
    (_fac_backward(kernel=np.zeros((1, 49, 5, 5), np.float32)), ValueError,
     r"fac_backward: kernel must have C\*k\*k"),
    (lambda: ops.add(X, X[:, :1]), ValueError, r"add: b must have the shape of a"),
    (lambda: ops.concat([X, X[:, :, :4]]), ValueError, r"concat: tensors\[1\] has shape"),
    (lambda: ops.concat([]), ValueError, r"concat: tensors must not be empty"),
    # sizes that give an empty output
    (_conv(weight=np.zeros((3, 2, 7, 7), np.float32)), ValueError,
     r"conv2d: the padded input \(5x5\) is smaller than the dilated kernel \(7x7\)"),
    (_conv(dilation=3), ValueError, r"smaller than the dilated kernel \(7x7\)"),
    (_convt(x=np.zeros((1, 2, 1, 1), np.float32), weight=np.zeros((2, 3, 1, 1), np.float32),
            stride=1, padding=1), ValueError, r"conv_transpose2d: .*empty output"),
    # bad stride / dilation / padding / output_padding
    (_conv(stride=0), ValueError, r"conv2d: stride must be positive, got 0"),
    (_conv(stride=(1, -2)), ValueError, r"conv2d: stride must be positive, got -2"),
    (_conv(dilation=0), ValueError, r"conv2d: dilation must be positive"),
    (_conv(padding=-1), ValueError, r"conv2d: padding must be non-negative, got -1"),
    (_convt(stride=0), ValueError, r"conv_transpose2d: stride must be positive"),
    (_convt(dilation=(-1, 1)), ValueError, r"conv_transpose2d: dilation must be positive"),
    (_convt(padding=-2), ValueError, r"conv_transpose2d: padding must be non-negative"),
    (_convt(output_padding=2), ValueError, r"conv_transpose2d: output_padding must be smaller"),
    (_convt(stride=1, padding=0, output_padding=(0, 1)), ValueError, r"output_padding"),
    (_convt(output_padding=-1), ValueError, r"output_padding must be non-negative"),
    # fac kernel size
    (_fac(kernel_size=4), ValueError, r"fac: kernel_size must be a positive odd number, got 4"),
    (_fac(kernel_size=0), ValueError, r"kernel_size must be a positive odd number, got 0"),
    (_fac(kernel_size=-5), ValueError, r"kernel_size must be a positive odd number, got -5"),
    (_fac_backward(kernel_size=2), ValueError, r"fac_backward: kernel_size must be"),
    # pad
    (lambda: ops.pad(X, (5, 0), "reflect"), ValueError, r"pad: reflect padding must be smaller"),
    (lambda: ops.pad(X, (0, 0, 0, 5), "reflect"), ValueError, r"reflect padding"),
    (lambda: ops.pad(X, (1, -1)), ValueError, r"pad: pads must be non-negative, got right=-1"),
    (lambda: ops.pad(X, (1, 1, 1)), ValueError, r"pad must have 2 or 4 entries"),
    (lambda: ops.pad(X, (1, 1), "circular"), ValueError, r"mode must be 'constant'"),
    # softmax / concat dims
    (lambda: ops.softmax(X, 2), ValueError, r"softmax: only dim=1"),
    (lambda: ops.concat([X, X], 0), ValueError, r"concat: only dim=1"),
    # epilogue
    (_conv(residual=np.zeros((1, 3, 5, 5), np.float32)), ValueError,
     r"conv2d: epilogue.residual must have the shape of the output \(1, 3, 3, 3\)"),
    (_conv(residual=np.zeros((1, 3, 3, 3), np.float64)), TypeError,
     r"residual must have dtype float32"),
    (_convt(residual=np.zeros((1, 3, 5, 5), np.float32)), ValueError,
     r"conv_transpose2d: epilogue.residual must have the shape of the output \(1, 3, 10, 10\)"),
    (_conv(activation="gelu"), ValueError, r"activation must be None, 'relu' or 'leaky_relu'"),
    # run options
    (_conv(device="gpu"), ValueError, r"device must be 'cpu' or 'cuda', got 'gpu'"),
    (_fac(device="CPU"), ValueError, r"device must be 'cpu' or 'cuda'"),
    (lambda: ops.relu(X, num_threads=0), ValueError, r"num_threads must be None or >= 1"),
    (_fac(isa="sse"), ValueError, r"isa must be None"),
]


@pytest.mark.parametrize("call,exc,match", BAD_INPUTS, ids=[m for _, _, m in BAD_INPUTS])
def test_bad_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


CUDA_CALLS = [
    _conv(device="cuda"), _convt(device="cuda"), _fac(device="cuda"),
    _fac_backward(device="cuda"), lambda: ops.relu(X, device="cuda"),
    lambda: ops.softmax(X, device="cuda"), lambda: ops.pad(X, (1, 1), device="cuda"),
    lambda: ops.concat([X, X], device="cuda"), lambda: ops.add(X, X, device="cuda"),
]


@pytest.mark.skipif(deblurcore.cuda_available(), reason="this build has a CUDA device")
@pytest.mark.parametrize("call", CUDA_CALLS)
def test_cuda_without_cuda_raises(call):
    with pytest.raises(RuntimeError, match="CUDA"):
        call()
