"""deblurcore.torch: FAC, IAC and DCNv2 as autograd functions and layers.

Oracles: the pure-PyTorch formulations of the test suite (tests/torch_models/stfan.py's
fac_reference, tests/test_iac.py's iac_torch, tests/torch_models/aspdc.py's
modulated_deform_conv2d), differentiated by autograd in float64.

Tolerances (each assertion states which):
* GRAD_TOL: gradients of our float32 kernels against float64 autograd of the oracle, per
  tensor, |ours - oracle| <= GRAD_TOL * max|oracle|. The kernels' float32 sums have at most a
  few hundred terms (~sqrt(n) * 6e-8 relative, measured < 1e-5 of the largest gradient); 1e-4
  leaves a 10x margin and is far below one term.
* gradcheck: torch.autograd.gradcheck on float64 inputs (our rule converts them to float32,
  computes in float32 and returns float64): central differences with eps = 1e-3 of a float32
  forward carry ~|out| * 6e-8 / 1e-3 = 6e-5 |out| of rounding noise (|out| <= ~10 here) plus
  O(eps^2) truncation, so atol = rtol = 5e-3 is ~10x that noise and still orders of magnitude
  below a wrong gradient. DCNv2 offsets stay 0.05 or more away from integer positions, where
  the bilinear interpolation has kinks that finite differences of width 2e-3 cannot straddle.
* Training: a few SGD steps of a small model with our layer and with the oracle's formulation
  (same initial weights, same data, float32): losses agree within 1e-4 relative per step
  (float32 rounding of ~1e-6 per op, amplified a little by the updates) and decrease.
"""

from __future__ import annotations

import subprocess
import sys
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deblurcore  # noqa: E402
import deblurcore.torch as dt  # noqa: E402
from deblurcore import ops  # noqa: E402
from deblurcore.torch._bridge import as_core_input, check_cuda  # noqa: E402
from tests.test_iac import iac_torch  # noqa: E402
from tests.torch_models.aspdc import modulated_deform_conv2d  # noqa: E402
from tests.torch_models.stfan import fac_reference  # noqa: E402

GRAD_TOL = 1e-4


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def fac_inputs(seed=0, N=2, C=3, H=7, W=9, k=3, dtype=torch.float32):
    g = _gen(seed)
    x = torch.randn(N, C, H, W, generator=g, dtype=dtype)
    kernel = torch.randn(N, C * k * k, H, W, generator=g, dtype=dtype) / k
    return x, kernel


def iac_inputs(seed=0, N=2, C=3, H=7, W=8, n=2, k=3, dtype=torch.float32):
    g = _gen(seed)
    x = torch.randn(N, C, H, W, generator=g, dtype=dtype)
    filters = torch.randn(N, n * C * (2 * k + 1), H, W, generator=g, dtype=dtype) * 0.45
    return x, filters


def dcn_inputs(seed=0, N=2, Cin=4, Cout=5, H=8, W=9, k=3, groups=1, dtype=torch.float32):
    """Stride 1, padding 1: output H x W. Offsets are integer + a fraction in [0.05, 0.95]."""
    g = _gen(seed)
    x = torch.randn(N, Cin, H, W, generator=g, dtype=dtype)
    shape = (N, 2 * groups * k * k, H, W)
    off = torch.randint(-2, 2, shape, generator=g).to(dtype) + 0.05 + 0.9 * torch.rand(
        shape, generator=g, dtype=dtype)
    mask = torch.rand(N, groups * k * k, H, W, generator=g, dtype=dtype)
    w = torch.randn(Cout, Cin, k, k, generator=g, dtype=dtype) / (Cin * k * k) ** 0.5
    b = torch.randn(Cout, generator=g, dtype=dtype)
    return x, off, mask, w, b


def _dcn_oracle(x, off, mask, w, b):
    return modulated_deform_conv2d(x, off, w, b, 1, 1, 1, mask)


def _close(got, want, tol, what):
    scale = float(want.abs().max())
    err = float((got.double() - want.double()).abs().max())
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol} * {scale:.3g}"


def test_import_deblurcore_does_not_import_torch():
    code = "import sys, deblurcore, deblurcore.ops; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- forward: the same values as the numpy ops ------------------------------------------


def test_forward_equals_numpy_ops():
    x, kernel = fac_inputs()
    np.testing.assert_array_equal(dt.fac(x, kernel, 3).numpy(),
                                  ops.fac(x.numpy(), kernel.numpy(), 3))
    x, filters = iac_inputs()
    for reuse in (True, False):
        np.testing.assert_array_equal(
            dt.iac(x, filters, 2, 3, reuse).numpy(),
            ops.iac(x.numpy(), filters.numpy(), 2, 3, reuse))
    x, off, mask, w, b = dcn_inputs()
    np.testing.assert_array_equal(
        dt.deform_conv2d(x, off, mask, w, b, 1, 1, 1).numpy(),
        ops.deform_conv2d(x.numpy(), off.numpy(), w.numpy(), b.numpy(), 1, 1, 1, mask.numpy()))


# ---- gradients against float64 autograd of the oracles ----------------------------------


def _grads(fn, inputs):
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    out = fn(*leaves)
    # Drawn in float64 for both (a float32 draw gives other numbers), then cast.
    g = torch.randn(out.shape, generator=_gen(99), dtype=torch.float64).to(out.dtype)
    out.backward(g)
    return [t.grad for t in leaves]


@pytest.mark.parametrize("k", [3, 5])
def test_fac_gradients_match_oracle(k):
    x, kernel = fac_inputs(k=k)
    ours = _grads(lambda a, b: dt.fac(a, b, k), (x, kernel))
    want = _grads(lambda a, b: fac_reference(a, b, k), (x.double(), kernel.double()))
    for name, a, e in zip(("x", "kernel"), ours, want):
        _close(a, e, GRAD_TOL, f"fac grad {name}")  # GRAD_TOL: see the module docstring


@pytest.mark.parametrize("reuse", [True, False])
@pytest.mark.parametrize("final", [True, False])
def test_iac_gradients_match_oracle(reuse, final):
    x, filters = iac_inputs()
    ours = _grads(lambda a, b: dt.iac(a, b, 2, 3, reuse, final), (x, filters))
    want = _grads(lambda a, b: iac_torch(a, b, 2, 3, reuse, final), (x.double(), filters.double()))
    for name, a, e in zip(("x", "filters"), ours, want):
        _close(a, e, GRAD_TOL, f"iac grad {name}")


@pytest.mark.parametrize("groups", [1, 2])
def test_deform_conv2d_gradients_match_oracle(groups):
    inputs = dcn_inputs(groups=groups)
    ours = _grads(lambda *a: dt.deform_conv2d(*a, 1, 1, 1), inputs)
    want = _grads(_dcn_oracle, [t.double() for t in inputs])
    for name, a, e in zip(("x", "offset", "mask", "weight", "bias"), ours, want):
        _close(a, e, GRAD_TOL, f"deform_conv2d grad {name}")


def test_deform_conv2d_without_mask_and_bias():
    x, off, _, w, _ = dcn_inputs(seed=3)
    ours = _grads(lambda a, o, ww: dt.deform_conv2d(a, o, None, ww, None, 1, 1, 1), (x, off, w))
    want = _grads(lambda a, o, ww: modulated_deform_conv2d(a, o, ww, None, 1, 1, 1, None),
                  (x.double(), off.double(), w.double()))
    for name, a, e in zip(("x", "offset", "weight"), ours, want):
        _close(a, e, GRAD_TOL, f"deform_conv2d (no mask, no bias) grad {name}")


# ---- gradcheck (float64 inputs, float32 kernels; tolerances in the module docstring) -----

_GRADCHECK = dict(eps=1e-3, atol=5e-3, rtol=5e-3)


def test_gradcheck_fac():
    x, kernel = fac_inputs(N=1, C=2, H=5, W=6, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, b: dt.fac(a, b, 3), (x.requires_grad_(), kernel.requires_grad_()), **_GRADCHECK)


def test_gradcheck_iac():
    # LeakyReLU has a kink at 0: pick inputs whose first-iteration pre-activation stays 0.02
    # or more away from it, beyond what a 1e-3 step of one input can move it (< 0.01 here).
    for seed in range(100):
        x, filters = iac_inputs(seed=seed, N=1, C=2, H=5, W=5, dtype=torch.float64)
        # Iteration 0 alone: F1_0, F2_0 (channels 0..11) and b_0 (channels 24, 25).
        pre = iac_torch(x, torch.cat((filters[:, :12], filters[:, 24:26]), 1), 1, 3, False, False)
        if float(pre.abs().min()) > 0.02:
            break
    else:
        pytest.fail("no seed keeps the pre-activation away from 0")
    assert torch.autograd.gradcheck(
        lambda a, b: dt.iac(a, b, 2, 3, False, True),
        (x.requires_grad_(), filters.requires_grad_()), **_GRADCHECK)


def test_gradcheck_deform_conv2d():
    inputs = dcn_inputs(N=1, Cin=2, Cout=3, H=5, W=5, dtype=torch.float64)
    inputs = [t.requires_grad_() for t in inputs]
    assert torch.autograd.gradcheck(lambda *a: dt.deform_conv2d(*a, 1, 1, 1), inputs, **_GRADCHECK)


# ---- the input rule: no copy for contiguous float32, conversion otherwise ----------------


def test_contiguous_float32_input_is_not_copied():
    x, _ = fac_inputs()
    assert as_core_input(x, "x").data_ptr() == x.data_ptr()
    assert as_core_input(x.requires_grad_(), "x").data_ptr() == x.data_ptr()
    assert as_core_input(x.double(), "x").dtype == torch.float32
    t = x.detach().transpose(2, 3)
    c = as_core_input(t, "x")
    assert c.is_contiguous() and c.data_ptr() != t.data_ptr()


def test_other_dtypes_and_views_follow_the_rule():
    x, kernel = fac_inputs(W=7, H=7)
    want = dt.fac(x, kernel, 3)
    # A transposed view: made contiguous first, same values.
    xt = x.transpose(2, 3).contiguous().transpose(2, 3)
    assert not xt.is_contiguous()
    torch.testing.assert_close(dt.fac(xt, kernel, 3), want, rtol=0, atol=0)
    # float64 in: computed in float32, returned as float64 (x's dtype), gradients per input.
    x64, k64 = x.double().requires_grad_(), kernel.double().requires_grad_()
    out = dt.fac(x64, k64, 3)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), want, rtol=0, atol=0)
    out.sum().backward()
    assert x64.grad.dtype == torch.float64 and k64.grad.dtype == torch.float64
    # bfloat16 in: bfloat16 out.
    assert dt.fac(x.bfloat16(), kernel.bfloat16(), 3).dtype == torch.bfloat16


def test_bad_inputs_are_clear():
    x, kernel = fac_inputs()
    with pytest.raises(TypeError, match="kernel"):
        dt.fac(x, kernel.long(), 3)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        dt.fac(x.numpy(), kernel, 3)
    with pytest.raises(ValueError, match="kernel"):
        dt.fac(x, kernel[:, :-1], 3)
    with pytest.raises(ValueError, match="kernel_size"):
        dt.fac(x, kernel, 4)
    with pytest.raises(ValueError, match="CPU or a CUDA"):
        dt.fac(x, kernel.to("meta"), 3)
    with pytest.raises(ValueError, match="empty"):
        dt.fac(x[:, :, :0], kernel[:, :, :0], 3)
    xd, off, mask, w, b = dcn_inputs()
    with pytest.raises(ValueError, match="mask"):
        dt.deform_conv2d(xd, off, mask[:, :-1], w, b, 1, 1, 1)
    with pytest.raises(TypeError, match="stride"):
        dt.deform_conv2d(xd, off, mask, w, b, 1.5, 1, 1)


def test_cuda_tensor_without_cuda_build_is_clear():
    if deblurcore.cuda_available():
        pytest.skip("this build has CUDA")
    fake = types.SimpleNamespace(device=torch.device("cuda:0"), shape=(1, 2, 3, 4))
    with pytest.raises(RuntimeError, match="built without CUDA"):
        check_cuda(fake)
    if torch.cuda.is_available():
        x, kernel = fac_inputs()
        with pytest.raises(RuntimeError, match="built without CUDA"):
            dt.fac(x.cuda(), kernel.cuda(), 3)


# ---- gradients through eager code ---------------------------------------------------------


def test_gradients_flow_through_eager_code():
    g = _gen(5)
    a = torch.randn(2, 3, 6, 6, generator=g, requires_grad=True)
    head = torch.nn.Conv2d(3, 27, 3, padding=1)
    x = torch.tanh(a) * 2  # non-leaf input
    kernel = torch.softmax(head(a), dim=1)  # non-leaf filters from a layer
    y = dt.fac(x, kernel, 3)[:, :, 1:-1]  # a view of the output, then more eager ops
    loss = (y**2).mean() + dt.iac(y.contiguous(), torch.full((2, 3 * 7, 4, 6), 0.2), 1, 3).mean()
    loss.backward()
    # The same graph with the oracles.
    a2 = a.detach().clone().requires_grad_()
    head2 = torch.nn.Conv2d(3, 27, 3, padding=1)
    head2.load_state_dict(head.state_dict())
    y2 = fac_reference(torch.tanh(a2) * 2, torch.softmax(head2(a2), dim=1), 3)[:, :, 1:-1]
    loss2 = (y2**2).mean() + iac_torch(y2, torch.full((2, 3 * 7, 4, 6), 0.2), 1, 3).mean()
    loss2.backward()
    torch.testing.assert_close(loss, loss2, rtol=1e-5, atol=1e-6)  # float32 both: ~1e-7
    _close(a.grad, a2.grad, GRAD_TOL, "leaf gradient")
    _close(head.weight.grad, head2.weight.grad, GRAD_TOL, "layer weight gradient")


# ---- training a small model ---------------------------------------------------------------


class _FacNet(torch.nn.Module):
    """A filter head predicts FAC kernels that filter the input (STFAN's pattern)."""

    def __init__(self, fac_layer):
        super().__init__()
        self.head = torch.nn.Conv2d(3, 3 * 9, 3, padding=1)
        self.fac = fac_layer

    def forward(self, x):
        return self.fac(x, self.head(x))


class _IacNet(torch.nn.Module):
    def __init__(self, iac_fn):
        super().__init__()
        self.head = torch.nn.Conv2d(3, 2 * 3 * 7, 3, padding=1)
        self.iac_fn = iac_fn

    def forward(self, x):
        return self.iac_fn(x, 0.3 * self.head(x))


class _DcnNet(torch.nn.Module):
    def __init__(self, dcn_fn):
        super().__init__()
        self.offset_head = torch.nn.Conv2d(3, 27, 3, padding=1)
        self.weight = torch.nn.Parameter(torch.randn(4, 3, 3, 3, generator=_gen(1)) * 0.2)
        self.bias = torch.nn.Parameter(torch.zeros(4))
        self.dcn_fn = dcn_fn

    def forward(self, x):
        o1, o2, m = torch.chunk(self.offset_head(x), 3, dim=1)
        return self.dcn_fn(x, torch.cat((o1, o2), 1), torch.sigmoid(m), self.weight, self.bias)


class _Ref(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *a):
        return self.fn(*a)


MODELS = {
    "fac": (lambda: _FacNet(dt.KernelConv2D(3)),
            lambda: _FacNet(_Ref(lambda x, k: fac_reference(x, k, 3))), 3),
    "iac": (lambda: _IacNet(dt.IAC(2, 3)), lambda: _IacNet(lambda x, f: iac_torch(x, f, 2, 3)), 3),
    "dcn": (lambda: _DcnNet(lambda *a: dt.deform_conv2d(*a, 1, 1, 1)),
            lambda: _DcnNet(
                lambda x, o, m, w, b: modulated_deform_conv2d(x, o, w, b, 1, 1, 1, m)), 4),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_matches_pure_torch(name):
    make_ours, make_ref, cout = MODELS[name]
    torch.manual_seed(0)
    ours = make_ours()
    ref = make_ref()
    ref.load_state_dict(ours.state_dict())
    g = _gen(11)
    data = torch.rand(2, 3, 10, 12, generator=g)
    target = torch.rand(2, cout, 10, 12, generator=g)
    losses = {}
    for key, model in (("ours", ours), ("ref", ref)):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        losses[key] = []
        for _ in range(5):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(data), target)
            loss.backward()
            opt.step()
            losses[key].append(loss.item())
    np.testing.assert_allclose(losses["ours"], losses["ref"], rtol=1e-4)  # see the docstring
    assert losses["ours"][-1] < losses["ours"][0]


def test_modules_have_the_official_names():
    layer = dt.ModulatedDeformConv2d(4, 6, 3, padding=1)
    assert set(layer.state_dict()) == {"weight", "bias"}
    pack = dt.ModulatedDeformConv2dPack(4, 6, 3, padding=1, deform_groups=2)
    assert set(pack.state_dict()) == {"weight", "bias", "conv_offset.weight", "conv_offset.bias"}
    x = torch.randn(1, 4, 7, 7)
    # Zero-initialised offsets and mask sigmoid(0) = 0.5: half a plain convolution.
    want = 0.5 * torch.nn.functional.conv2d(x, pack.weight, None, 1, 1) + pack.bias[:, None, None]
    torch.testing.assert_close(pack(x), want, rtol=1e-5, atol=1e-5)
    pack(x).sum().backward()
    assert pack.conv_offset.weight.grad is not None and pack.weight.grad is not None
    with pytest.raises(ValueError, match="kernel_size"):
        dt.KernelConv2D(4)


# ---- thread safety --------------------------------------------------------------------------


def _fwd_bwd(seed):
    """Forward and backward of all three ops; returns every output and gradient."""
    x, kernel = fac_inputs(seed=seed, H=16, W=16)
    xi, filters = iac_inputs(seed=seed, H=16, W=16)
    dcn = dcn_inputs(seed=seed, H=12, W=12)
    results = []
    for fn, inputs in ((lambda a, b: dt.fac(a, b, 3), (x, kernel)),
                       (lambda a, b: dt.iac(a, b, 2, 3), (xi, filters)),
                       (lambda *a: dt.deform_conv2d(*a, 1, 1, 1), dcn)):
        leaves = [t.clone().requires_grad_() for t in inputs]
        out = fn(*leaves)
        out.backward(torch.ones_like(out))
        results += [out.detach()] + [t.grad for t in leaves]
    return results


@pytest.mark.parametrize("torch_threads", [1, 2])
def test_concurrent_calls_under_torch_intra_op_threads(torch_threads):
    """Several Python threads run forward + backward at once while PyTorch's own intra-op
    pool (set_num_threads) also works; every result equals the one of a lone run."""
    before = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        seeds = [0, 1, 2, 3] * 2
        alone = {s: _fwd_bwd(s) for s in set(seeds)}
        with ThreadPoolExecutor(max_workers=4) as pool:
            together = list(pool.map(_fwd_bwd, seeds))
        for s, got in zip(seeds, together):
            for a, b in zip(got, alone[s]):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
    finally:
        torch.set_num_threads(before)


# ---- the official STFAN network with our KernelConv2D swapped in ---------------------------


def test_stfan_with_our_fac_layer_matches_pure_torch(monkeypatch):
    """The suite's STFAN (tests/torch_models/stfan.py, the official network) computes FAC with
    the pure-PyTorch formulation; swapping in ours changes neither the output nor the
    gradients of the weights beyond float32 rounding (measured < 6e-7 relative; tolerance
    1e-4 of the largest value, as GRAD_TOL)."""
    from tests.torch_models import stfan

    net = stfan.DeblurNet()
    net.load_state_dict(stfan.random_state_dict(0))
    g = _gen(21)
    blur, last_blur = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    target = torch.rand(1, 3, 32, 32, generator=g)

    def run():
        net.zero_grad()
        out, _ = net(blur, last_blur, last_blur, None)
        loss = torch.nn.functional.l1_loss(out, target)
        loss.backward()
        return out.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}

    want_out, want_grads = run()
    layer = dt.KernelConv2D(5)
    monkeypatch.setattr(stfan, "fac_reference", lambda x, kernel, k: layer(x, kernel))
    got_out, got_grads = run()
    _close(got_out, want_out, GRAD_TOL, "STFAN output")
    names = ("fac_warp.3.0.weight", "fac_deblur.3.0.weight", "kconv1_1.0.weight", "fea.0.weight")
    for name in names:
        _close(got_grads[name], want_grads[name], GRAD_TOL, f"STFAN grad {name}")
