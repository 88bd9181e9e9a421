"""The native (fused PyTorch) kernels give the generic path's values, gradients and errors."""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit as lk
import losskit._torch
from losskit._torch import native_kernels
from native_paths import assert_same_error, gradients_and_hvps, taken

torch = pytest.importorskip("torch")

KERNELS = [fn for fn in (getattr(lk, name) for name in lk.losses.__all__)
           if getattr(fn, "spec", None) is not None and fn.spec.native is not None]


def test_the_common_losses_have_kernels():
    names = {fn.__name__ for fn in KERNELS}
    assert {"sparse_categorical_cross_entropy", "binary_cross_entropy",
            "mean_squared_error", "gaussian_nll"} <= names


def _both(fn, y, z, **kw):
    """``(native value, generic value)`` and their autograd gradients w.r.t. ``z``."""
    out = []
    for enabled in (True, False):
        zz = z.detach().clone().requires_grad_(True)
        with native_kernels(enabled):
            value = fn(y, zz, **kw)
        grad, = torch.autograd.grad(value.sum(), zz)
        out.append((value.detach(), grad))
    return out


def _assert_same(pair, rtol):
    (v1, g1), (v2, g2) = pair
    assert v1.dtype == v2.dtype and v1.shape == v2.shape
    torch.testing.assert_close(v1, v2, rtol=rtol, atol=rtol * 1e-3, equal_nan=True)
    torch.testing.assert_close(g1, g2, rtol=rtol, atol=rtol * 1e-3, equal_nan=True)


_taken = taken


DTYPES = [(torch.float32, 1e-5), (torch.float64, 1e-12)]
OPTIONS = [{}, {"reduction": "sum"}, {"reduction": "none"}, {"unit": "bits"},
           {"check_values": False}, {"check_values": False, "reduction": "none"},
           {"convention": "torch"}, {"convention": "keras", "reduction": "sum"}]


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", OPTIONS)
def test_sparse_cross_entropy_matches_generic(dtype, rtol, kw, rng):
    z = torch.as_tensor(rng.normal(scale=5.0, size=(37, 4)), dtype=dtype)
    y = torch.as_tensor(rng.integers(0, 4, size=37))
    fn = lk.sparse_categorical_cross_entropy
    assert _taken(fn, y, z, from_logits=True, **kw)
    _assert_same(_both(fn, y, z, from_logits=True, **kw), rtol)
    # and against PyTorch itself
    value = fn(y, z, from_logits=True, **kw)
    reference = torch.nn.functional.cross_entropy(z, y, reduction=kw.get("reduction", "mean"))
    scale = 1 / math.log(2) if kw.get("unit") == "bits" else 1.0
    torch.testing.assert_close(value, reference * scale, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", OPTIONS)
@pytest.mark.parametrize("shape", [(23,), (23, 1), (23, 3)])
def test_binary_cross_entropy_matches_generic(dtype, rtol, kw, shape, rng):
    z = torch.as_tensor(rng.normal(scale=8.0, size=shape), dtype=dtype)
    z.view(-1)[:3] = torch.tensor([0.0, 40.0, -40.0], dtype=dtype)  # saturated, and sigmoid'(0)
    y = torch.as_tensor(rng.uniform(size=shape), dtype=dtype)  # soft labels
    y.view(-1)[:6] = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 0.0], dtype=dtype)
    fn = lk.binary_cross_entropy
    assert _taken(fn, y, z, from_logits=True, **kw)
    _assert_same(_both(fn, y, z, from_logits=True, **kw), rtol)


def test_binary_cross_entropy_keeps_tiny_losses():
    """PyTorch's fused BCE-with-logits rounds these to 0 (float32); ours keeps them."""
    z = torch.tensor([30.0, -30.0])
    y = torch.tensor([1.0, 0.0])
    value = lk.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    torch.testing.assert_close(value, torch.full((2,), math.exp(-30.0)), rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"check_values": False}, {"convention": "keras"}])
@pytest.mark.parametrize("shape", [(29,), (29, 1), (29, 4), (5, 3, 2)])
def test_mean_squared_error_matches_generic(dtype, rtol, kw, shape, rng):
    y = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    z = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    fn = lk.mean_squared_error
    assert _taken(fn, y, z, **kw)
    _assert_same(_both(fn, y, z, **kw), rtol)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"var": 0.25}, {"var": 3, "full": True},
                                {"var": 2.0, "reduction": "sum", "unit": "bits"},
                                {"reduction": "none", "full": True},
                                {"var": 1e-3, "check_values": False, "convention": "torch"}])
@pytest.mark.parametrize("shape", [(29,), (29, 1), (29, 4)])
def test_gaussian_nll_with_a_number_variance_matches_generic(dtype, rtol, kw, shape, rng):
    y = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    z = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    fn = lk.gaussian_nll
    assert _taken(fn, y, z, **kw)
    _assert_same(_both(fn, y, z, **kw), rtol)
    # and the Gaussian family, which calls it
    family = lk.family("gaussian", scale=0.5)
    (v1, g1), (v2, g2) = [(v, g) for v, g in _both(
        lambda a, b, **o: family.loss(a, b, **o), y, z)]
    torch.testing.assert_close(v1, v2, rtol=rtol, atol=0)
    torch.testing.assert_close(g1, g2, rtol=rtol, atol=rtol * 1e-3)


# ------------------------------------------------------------------- limits and errors

def test_infinite_logits_take_the_generic_limit():
    fn = lk.sparse_categorical_cross_entropy
    z = torch.tensor([[math.inf, 0.0, 1.0], [1.0, -math.inf, 2.0], [math.inf, math.inf, 0.0]])
    y = torch.tensor([0, 1, 1])
    for kw in ({}, {"check_values": False}, {"reduction": "none"}):
        (v1, _), (v2, _) = _both(fn, y, z, from_logits=True, **kw)
        torch.testing.assert_close(v1, v2)
    assert float(fn(y, z, from_logits=True, reduction="none")[0]) == 0.0
    b = lk.binary_cross_entropy
    zb, yb = torch.tensor([math.inf, -math.inf, math.inf]), torch.tensor([1.0, 0.0, 0.0])
    np.testing.assert_array_equal(b(yb, zb, from_logits=True, reduction="none").numpy(),
                                  [0.0, 0.0, math.inf])


@pytest.mark.parametrize("call", [
    lambda: lk.sparse_categorical_cross_entropy(torch.tensor([0, 3]), torch.zeros(2, 3),
                                                from_logits=True),
    lambda: lk.sparse_categorical_cross_entropy(torch.tensor([0, -1]), torch.zeros(2, 3),
                                                from_logits=True),
    lambda: lk.sparse_categorical_cross_entropy(
        torch.tensor([0, 1]), torch.tensor([[0.0, math.nan, 1.0], [0.0, 0.0, 0.0]]),
        from_logits=True),
    lambda: lk.binary_cross_entropy(torch.tensor([0.0, 1.5]), torch.zeros(2), from_logits=True),
    lambda: lk.binary_cross_entropy(torch.tensor([0.0, math.nan]), torch.zeros(2),
                                    from_logits=True),
    lambda: lk.binary_cross_entropy(torch.tensor([0.0, 1.0]), torch.tensor([0.0, math.nan]),
                                    from_logits=True),
    lambda: lk.mean_squared_error(torch.tensor([0.0, math.inf]), torch.zeros(2)),
    lambda: lk.mean_squared_error(torch.zeros(2), torch.tensor([0.0, math.nan])),
    lambda: lk.sparse_categorical_cross_entropy(torch.tensor([0, 1]), torch.zeros(2, 3),
                                                from_logits=True, reduction="avg"),
    lambda: lk.mean_squared_error(torch.zeros(2), torch.zeros(2), unit="bits"),
    lambda: lk.gaussian_nll(torch.zeros(2), torch.tensor([0.0, math.inf]), var=2.0),
    lambda: lk.gaussian_nll(torch.zeros(2), torch.zeros(2), var=0.0),
    lambda: lk.gaussian_nll(torch.zeros(2), torch.zeros(2), var=-1),
    lambda: lk.gaussian_nll(torch.zeros(2), torch.zeros(2), var=True),
    # scalars and empty arrays are errors of the generic path, also without checks
    lambda: lk.mean_squared_error(torch.tensor(1.0), torch.tensor(2.0)),
    lambda: lk.binary_cross_entropy(torch.tensor(1.0), torch.tensor(2.0), from_logits=True),
    lambda: lk.gaussian_nll(torch.tensor(1.0), torch.tensor(2.0), var=2.0),
    lambda: lk.sparse_categorical_cross_entropy(torch.zeros(3, dtype=torch.int64),
                                                torch.zeros(3, 0), from_logits=True,
                                                check_values=False),
])
def test_errors_are_the_generic_errors(call):
    assert_same_error(call)


def test_nan_without_checks_stays_nan():
    z = torch.tensor([[0.0, math.nan, 1.0], [0.0, 0.0, 0.0]])
    value = lk.sparse_categorical_cross_entropy(torch.tensor([0, 1]), z, from_logits=True,
                                                check_values=False)
    assert math.isnan(float(value))


def test_overflowing_square_is_inf_as_generic():
    big = torch.tensor([1e200, 0.0], dtype=torch.float64)
    value = lk.mean_squared_error(torch.zeros(2, dtype=torch.float64), big)
    assert float(value) == math.inf


@pytest.mark.parametrize("fn,y,z,kw", [
    (lk.sparse_categorical_cross_entropy, torch.tensor([0, 1]), torch.zeros(2, 3),
     {"from_logits": True, "class_weight": [1.0, 2.0, 1.0]}),
    (lk.sparse_categorical_cross_entropy, torch.tensor([0, 1]), torch.zeros(2, 3),
     {"from_logits": True, "label_smoothing": 0.1}),
    (lk.sparse_categorical_cross_entropy, torch.tensor([0, 1]), torch.zeros(2, 3), {}),
    (lk.sparse_categorical_cross_entropy, np.array([0, 1]), torch.zeros(2, 3),
     {"from_logits": True}),
    (lk.sparse_categorical_cross_entropy, torch.tensor([0, 1]),
     torch.zeros(2, 3, dtype=torch.float16), {"from_logits": True}),
    (lk.sparse_categorical_cross_entropy, torch.tensor([0.0, 1.0]), torch.zeros(2, 3),
     {"from_logits": True}),
    (lk.sparse_categorical_cross_entropy, torch.zeros(2, 4, dtype=torch.int64),
     torch.zeros(2, 3, 4), {"from_logits": True, "axis": 1}),
    (lk.binary_cross_entropy, torch.zeros(2), torch.zeros(2), {}),
    (lk.binary_cross_entropy, torch.zeros(2), torch.zeros(2),
     {"from_logits": True, "sample_weight": torch.ones(2)}),
    (lk.binary_cross_entropy, torch.zeros(2), torch.zeros(2),
     {"from_logits": True, "check_values": 1}),
    (lk.mean_squared_error, torch.zeros(2, dtype=torch.int64), torch.zeros(2), {}),
    (lk.mean_squared_error, torch.zeros(2), torch.zeros(2), {"sample_weight": [1.0, 2.0]}),
    (lk.gaussian_nll, torch.zeros(2), torch.zeros(2), {"var": torch.ones(2)}),
    (lk.gaussian_nll, torch.zeros(2), torch.zeros(2), {"log_var": 0.0}),
    (lk.gaussian_nll, torch.zeros(2), torch.zeros(2), {"var": 1e-7, "convention": "torch"}),
])
def test_kernels_leave_other_calls_to_the_generic_path(fn, y, z, kw):
    assert not _taken(fn, y, z, **kw)


def test_kernels_accept_only_options_of_their_loss():
    for fn in KERNELS:
        params = set(inspect.signature(fn).parameters)
        _, restricted = losskit._torch.KERNELS[fn.__name__]
        assert set(restricted) <= params, fn.__name__


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.floats(0.01, 200.0), st.integers(0, 2 ** 31))
def test_property_native_equals_generic(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    z = torch.as_tensor(rng.normal(scale=scale, size=(n, c)))
    y = torch.as_tensor(rng.integers(0, c, size=n))
    _assert_same(_both(lk.sparse_categorical_cross_entropy, y, z, from_logits=True,
                       reduction="none"), 1e-10)
    zb = torch.as_tensor(rng.normal(scale=scale, size=(n, c)))
    yb = torch.as_tensor(rng.integers(0, 2, size=(n, c)), dtype=torch.float64)
    _assert_same(_both(lk.binary_cross_entropy, yb, zb, from_logits=True, reduction="none"),
                 1e-10)


# ------------------------------------------------- short-row softmax (_torch.torch_softmax)

@pytest.mark.parametrize("shape", [(5000, 3), (2000, 15), (2000, 16), (100, 3), (3000, 1)])
@pytest.mark.parametrize("log", [False, True])
def test_torch_softmax_matches_the_direct_kernel(shape, log, rng):
    from losskit._torch import torch_softmax

    x = torch.as_tensor(rng.normal(scale=10.0, size=shape))
    x[0, 0] = -math.inf
    got = torch_softmax(x, log=log)
    expected = x.log_softmax(-1) if log else x.softmax(-1)
    assert got.is_contiguous() and got.shape == x.shape
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    # under autograd the direct kernel is used, and the gradient is its gradient
    xg = x.clone().requires_grad_(True)
    g, = torch.autograd.grad(torch_softmax(xg, log=log)[:, 0].sum(), xg)
    xe = x.clone().requires_grad_(True)
    e, = torch.autograd.grad((xe.log_softmax(-1) if log else xe.softmax(-1))[:, 0].sum(), xe)
    torch.testing.assert_close(g, e, equal_nan=True)


def test_no_host_read_on_an_accelerator_without_checks(monkeypatch, rng):
    """With check_values=False on a device tensor the kernels never read values back (the
    trainer's per-batch promise); simulated on the CPU by declaring host reads costly and
    making every read raise."""

    z = torch.as_tensor(rng.normal(size=(16, 3)))
    y = torch.as_tensor(rng.integers(0, 3, size=16))
    zb = torch.as_tensor(rng.normal(size=(16, 1)))
    yb = torch.as_tensor(rng.integers(0, 2, size=(16, 1)), dtype=torch.float64)
    expected = [lk.sparse_categorical_cross_entropy(y, z, from_logits=True),
                lk.binary_cross_entropy(yb, zb, from_logits=True),
                lk.mean_squared_error(yb, zb)]

    def no_read(*args, **kwargs):
        raise AssertionError("host read")

    monkeypatch.setattr(losskit._torch, "host_reads_are_free", lambda x: False)
    for name in ("item", "__bool__", "__int__", "__float__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, no_read)
    monkeypatch.setattr(torch, "equal", no_read)
    got = [lk.sparse_categorical_cross_entropy(y, z, from_logits=True, check_values=False),
           lk.binary_cross_entropy(yb, zb, from_logits=True, check_values=False),
           lk.mean_squared_error(yb, zb, check_values=False)]
    monkeypatch.undo()
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=0)


def test_binary_gradient_is_exact_for_confident_correct_predictions():
    """sigmoid(z) - y cancels there (PyTorch's fused kernel returns 0 from z = 17 in float32);
    softplus((1 - 2y) z) differentiates to the exact, tiny gradient."""
    z = torch.tensor([-12.4, 10.7, 17.0, 30.0])
    y = torch.tensor([0.0, 1.0, 1.0, 1.0])
    (_, native), (_, generic) = _both(lk.binary_cross_entropy, y, z, from_logits=True,
                                      reduction="sum")
    torch.testing.assert_close(native, generic, rtol=1e-5, atol=0)
    flip = 1.0 - 2.0 * y.double()
    exact = flip * torch.sigmoid(flip * z.double())  # sigma(z) - y, without the cancellation
    torch.testing.assert_close(native.double(), exact, rtol=1e-5, atol=0)


@pytest.mark.parametrize("dtype,big", [(torch.float32, [89.0, 100.0, 1e30]),
                                       (torch.float64, [710.0, 800.0, 1e300])])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_hard_labels_past_the_exponential_overflow(dtype, big, reduction):
    """The hard-label form's exp(-tz) overflows for a confidently wrong logit beyond 88.7
    (float32) or 709 (float64): the result is read back and the call redone generically, so
    the value stays the finite softplus (= |z|) and the gradient ±1/n, not inf and NaN."""
    z = torch.tensor(big + [-b for b in big] + [0.5, -2.0], dtype=dtype)
    y = torch.tensor([0.0] * len(big) + [1.0] * len(big) + [1.0, 0.0], dtype=dtype)
    pair = _both(lk.binary_cross_entropy, y, z, from_logits=True, reduction=reduction)
    _assert_same(pair, 1e-6)
    (value, grad), _ = pair
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    losses = lk.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    torch.testing.assert_close(losses[:2 * len(big)], z.abs()[:2 * len(big)])


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", OPTIONS)
@pytest.mark.parametrize("fused_from", [1, None])
def test_binary_hard_labels_both_forms_match_generic(dtype, rtol, kw, fused_from, rng,
                                                      monkeypatch):
    """Hard labels: the custom node (large arrays; here from 1 element) and
    ``soft_margin_loss`` (small ones) give the generic values, gradients and second
    derivatives; at the default threshold a 70,000-element call takes the custom node."""
    if fused_from is not None:
        monkeypatch.setattr(losskit._torch, "_BINARY_FUSED_MIN", fused_from)
        shape = (23, 3)
    else:
        shape = (70_000,)
    z = torch.as_tensor(rng.normal(scale=12.0, size=shape), dtype=dtype)
    z.view(-1)[:4] = torch.tensor([0.0, 60.0, -60.0, 17.0], dtype=dtype)
    y = torch.as_tensor(rng.integers(0, 2, size=shape), dtype=dtype)
    fn = lk.binary_cross_entropy
    _assert_same(_both(fn, y, z, from_logits=True, **kw), rtol)
    if "unit" not in kw:  # (bits: a product after the node)
        zz = z.clone().requires_grad_(True)
        assert type(fn(y, zz, from_logits=True, **kw).grad_fn).__name__ == "_FusedBackward"
    # second derivatives: sigma(s) sigma(-s) / k, relatively exact (the generic path's
    # autograd through sigmoid gives 0 from s = 17 in float32, where this is 4e-8)
    zz = z.clone().requires_grad_(True)
    g, = torch.autograd.grad(fn(y, zz, from_logits=True, reduction="none").sum(), zz,
                             create_graph=True)
    hessian, = torch.autograd.grad(g.sum(), zz)
    s = (1.0 - 2.0 * y.double()) * z.double()
    exact = torch.sigmoid(s) * torch.sigmoid(-s) / (shape[-1] if len(shape) > 1 else 1)
    torch.testing.assert_close(hessian, exact.to(dtype), rtol=rtol * 10, atol=0)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 0.5, 2.0, -1.0])
@pytest.mark.parametrize("fn,kw,rows", [
    (lk.binary_cross_entropy, {"from_logits": True}, False),
    (lk.hinge_loss, {}, False), (lk.squared_hinge_loss, {}, False),
    (lk.categorical_hinge_loss, {}, True)])
def test_label_probes_refuse_what_the_generic_path_refuses(fn, kw, rows, bad):
    """The 0/1 probe (sign(y) = y²) takes 0 and 1 alone: y² = y would take +inf (the
    hard-label BCE then returned 0.1566 for a target of inf); every bad label gets the
    generic path's error, or its number where it has one."""
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [bad, 0.0]] if rows else [1.0, 0.0, bad])
    z = torch.tensor([[2.0, -1.0], [0.5, 3.0], [1.5, -0.5]] if rows else [2.0, -1.0, 1.5])
    if fn is not lk.binary_cross_entropy:
        assert not _zero_one_accepts(y)
    outcomes = []
    for enabled in (True, False):
        with native_kernels(enabled):
            try:
                outcomes.append(("value", fn(y, z, **kw)))
            except ValueError as error:
                outcomes.append(("error", str(error)))
    assert outcomes[0][0] == outcomes[1][0]
    if outcomes[0][0] == "error":
        assert outcomes[0][1] == outcomes[1][1]
    else:
        torch.testing.assert_close(outcomes[0][1], outcomes[1][1], equal_nan=True)


def _zero_one_accepts(y):
    return losskit._torch._zero_one(torch, y)


def test_zero_one_probe():
    probe = losskit._torch._zero_one
    assert probe(torch, torch.tensor([0.0, 1.0, -0.0, 1.0]))
    for bad in (math.inf, -math.inf, math.nan, 0.5, 2.0, -1.0, 1e-30):
        assert not probe(torch, torch.tensor([0.0, 1.0, bad])), bad


def test_binary_hard_labels_are_one_fused_node():
    """Hard labels take one PyTorch op (``soft_margin_loss`` of the signs 2y - 1), one
    autograd node, where the previous form took a probe, a flip and three nodes."""
    z = torch.tensor([[0.3], [-4.0], [25.0]], requires_grad=True)
    y = torch.tensor([[1.0], [0.0], [1.0]])
    value = lk.binary_cross_entropy(y, z, from_logits=True)
    assert type(value.grad_fn).__name__ == "SoftMarginLossBackward0"
    soft = lk.binary_cross_entropy(torch.tensor([[0.7], [0.0], [1.0]]), z, from_logits=True)
    assert type(soft.grad_fn).__name__ != "SoftMarginLossBackward0"  # soft labels: not it


def test_binary_infinite_logits_without_host_reads(monkeypatch):
    """On an accelerator without checks the labels cannot be looked at: the general form
    still takes the limits (0 · log 0 = 0), as the generic path does."""

    y = torch.tensor([1.0, 0.0, 0.0, 1.0])
    z = torch.tensor([math.inf, -math.inf, 3.0, -2.0])
    expected = lk.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    monkeypatch.setattr(losskit._torch, "host_reads_are_free", lambda x: False)
    assert _taken(lk.binary_cross_entropy, y, z, from_logits=True, check_values=False)
    got = lk.binary_cross_entropy(y, z, from_logits=True, reduction="none", check_values=False)
    torch.testing.assert_close(got, expected)


def test_kernels_step_aside_inside_vmap(rng):
    from torch.func import vmap

    Y = torch.as_tensor(rng.integers(0, 2, size=(4, 5, 3)), dtype=torch.float64)
    Z = torch.as_tensor(rng.normal(size=(4, 5, 3)))
    labels = torch.as_tensor(rng.integers(0, 3, size=(4, 5)))
    for fn, y, z, kw in [(lk.binary_cross_entropy, Y, Z, {"from_logits": True}),
                         (lk.mean_squared_error, Y, Z, {}),
                         (lk.sparse_categorical_cross_entropy, labels, Z, {"from_logits": True})]:
        batched = vmap(lambda a, b, fn=fn, kw=kw: fn(a, b, check_values=False, **kw))(y, z)
        looped = torch.stack([fn(a, b, **kw) for a, b in zip(y, z, strict=True)])
        torch.testing.assert_close(batched, looped)


@pytest.mark.parametrize("bad", [-100, -1, 3, 2**40])
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_labels_out_of_range_fail_without_checks_as_in_the_generic_path(bad, dtype):
    """nll_loss would skip a label of -100 (its default ignore_index) and raise another error
    type for the others; the kernel leaves such labels to the generic path. (The one label
    the kernel skips without checks is -2**63, its ignore_index.)"""
    if dtype == torch.int32 and abs(bad) >= 2**31:
        pytest.skip("not an int32")
    call = functools.partial(lk.sparse_categorical_cross_entropy,
                             torch.tensor([0, bad], dtype=dtype), torch.zeros(2, 3),
                             from_logits=True, check_values=False)
    with native_kernels(False), pytest.raises(Exception) as generic:
        call()
    with pytest.raises(type(generic.value)) as native:
        call()
    assert str(native.value) == str(generic.value)


def test_gaussian_near_the_largest_float_is_the_generic_number():
    y, z = torch.zeros(2), torch.tensor([1.5e19, 0.0])
    (v1, _), (v2, _) = _both(lk.gaussian_nll, y, z, var=0.5)
    torch.testing.assert_close(v1, v2)
    assert float(v1) == math.inf


def test_gaussian_variance_too_small_to_invert_is_left_to_the_generic_path():
    y = torch.zeros(3)
    (v1, _), (v2, _) = _both(lk.gaussian_nll, y, y.clone(), var=1e-300, check_values=False)
    torch.testing.assert_close(v1, v2)
    assert math.isfinite(float(v1))


@pytest.mark.parametrize("case", ["sparse", "binary_hard", "binary_soft", "mse", "gaussian"])
def test_second_derivatives_match_the_generic_path(case, rng):
    """Hessian-vector products through autograd (create_graph=True) agree on both paths."""
    z0 = torch.as_tensor(rng.normal(scale=3.0, size=(11, 3)))
    fn, y, kw = {
        "sparse": (lk.sparse_categorical_cross_entropy,
                   torch.as_tensor(rng.integers(0, 3, size=11)), {"from_logits": True}),
        "binary_hard": (lk.binary_cross_entropy,
                        torch.as_tensor(rng.integers(0, 2, size=(11, 3)), dtype=torch.float64),
                        {"from_logits": True}),
        "binary_soft": (lk.binary_cross_entropy,
                        torch.as_tensor(rng.uniform(size=(11, 3))), {"from_logits": True}),
        "mse": (lk.mean_squared_error, torch.as_tensor(rng.normal(size=(11, 3))), {}),
        "gaussian": (lk.gaussian_nll, torch.as_tensor(rng.normal(size=(11, 3))), {"var": 0.7}),
    }[case]
    v = torch.as_tensor(rng.normal(size=(11, 3)))
    (_, hv_native), (_, hv_generic) = gradients_and_hvps(fn, y, z0, v, **kw)
    torch.testing.assert_close(hv_native, hv_generic, rtol=1e-10, atol=1e-12)


# ------------------------------------------- the robust, Poisson and focal kernels (issue 19)

ROBUST_OPTIONS = [{}, {"reduction": "sum"}, {"reduction": "none"}, {"check_values": False},
                  {"convention": "keras", "reduction": "sum"}]


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", ROBUST_OPTIONS)
@pytest.mark.parametrize("shape", [(29,), (29, 1), (29, 4), (5, 3, 2)])
@pytest.mark.parametrize("fn,extra", [(lk.huber_loss, {}), (lk.huber_loss, {"delta": 0.3}),
                                      (lk.mean_absolute_error, {})])
def test_robust_losses_match_generic(fn, extra, dtype, rtol, kw, shape, rng):
    y = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    z = torch.as_tensor(rng.normal(scale=2.0, size=shape), dtype=dtype)
    z.view(-1)[0] = y.view(-1)[0]  # a zero residual: gradient 0 on both paths
    assert _taken(fn, y, z, **extra, **kw)
    _assert_same(_both(fn, y, z, **extra, **kw), rtol)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [*ROBUST_OPTIONS, {"unit": "bits"}])
@pytest.mark.parametrize("shape", [(29,), (29, 3)])
def test_poisson_log_rate_matches_generic(dtype, rtol, kw, shape, rng):
    y = torch.as_tensor(rng.poisson(3.0, size=shape), dtype=dtype)
    z = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    assert _taken(lk.poisson_nll, y, z, **kw)
    _assert_same(_both(lk.poisson_nll, y, z, **kw), rtol)


def test_poisson_zero_count_at_rate_zero_is_the_generic_limit():
    # PyTorch's kernel gives 0 * (-inf) = NaN there; the generic path's exact 0 is returned
    y, z = torch.tensor([0.0, 2.0]), torch.tensor([-math.inf, 0.5])
    value = lk.poisson_nll(y, z, check_values=False, reduction="none")
    assert float(value[0]) == 0.0
    with native_kernels(False):
        torch.testing.assert_close(value, lk.poisson_nll(y, z, check_values=False,
                                                         reduction="none"))


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none", "unit": "bits"},
                                {"check_values": False}, {"gamma": 0.0}, {"gamma": 1.0},
                                {"gamma": 3.5, "alpha": 0.25}, {"alpha": 1.0},
                                {"alpha": 0.0, "convention": "torch"}])
@pytest.mark.parametrize("shape", [(31,), (31, 1), (31, 3)])
def test_binary_focal_from_logits_matches_generic(dtype, rtol, kw, shape, rng):
    z = torch.as_tensor(rng.normal(scale=6.0, size=shape), dtype=dtype)
    z.view(-1)[:4] = torch.tensor([0.0, 40.0, -40.0, 15.0], dtype=dtype)  # saturated
    y = torch.as_tensor(rng.integers(0, 2, size=shape), dtype=dtype)
    y.view(-1)[:4] = torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=dtype)
    assert _taken(lk.binary_focal_loss, y, z, from_logits=True, **kw)
    _assert_same(_both(lk.binary_focal_loss, y, z, from_logits=True, **kw), rtol)


def test_binary_focal_keeps_tiny_losses_and_infinite_limits():
    # confident and correct: the loss is e^-2z · e^-z ≈ 2.8e-11 at z = 8 (γ = 2), kept exactly
    value = lk.binary_focal_loss(torch.tensor([1.0]), torch.tensor([8.0]), from_logits=True)
    expected = math.log1p(math.exp(-8.0)) * (1 / (1 + math.exp(8.0))) ** 2
    assert float(value) == pytest.approx(expected, rel=1e-6)
    z, y = torch.tensor([math.inf, -math.inf, math.inf]), torch.tensor([1.0, 0.0, 0.0])
    (v1, _), (v2, _) = _both(lk.binary_focal_loss, y, z, from_logits=True, reduction="none")
    np.testing.assert_array_equal(v1.numpy(), [0.0, 0.0, math.inf])
    torch.testing.assert_close(v1, v2)


@pytest.mark.parametrize("call", [
    lambda: lk.huber_loss(torch.tensor([0.0, math.inf]), torch.zeros(2)),
    lambda: lk.huber_loss(torch.zeros(2), torch.tensor([0.0, math.nan]), delta=2.0),
    lambda: lk.huber_loss(torch.zeros(2), torch.zeros(2), delta=0.0),
    lambda: lk.mean_absolute_error(torch.zeros(2), torch.tensor([math.inf, 0.0])),
    lambda: lk.poisson_nll(torch.tensor([-1.0, 2.0]), torch.zeros(2)),
    lambda: lk.poisson_nll(torch.tensor([math.nan, 2.0]), torch.zeros(2)),
    lambda: lk.poisson_nll(torch.tensor([1.0, 2.0]), torch.tensor([0.0, math.inf])),
    lambda: lk.binary_focal_loss(torch.tensor([0.0, 1.0]), torch.tensor([0.0, math.nan]),
                                 from_logits=True),
    lambda: lk.binary_focal_loss(torch.tensor([0.0, 2.0]), torch.zeros(2), from_logits=True),
    lambda: lk.binary_focal_loss(torch.tensor([0.0, 1.0]), torch.zeros(2), from_logits=True,
                                 gamma=-1.0),
])
def test_new_kernels_give_the_generic_errors(call):
    test_errors_are_the_generic_errors(call)


@pytest.mark.parametrize("fn,y,z,kw", [
    (lk.huber_loss, torch.zeros(2), torch.zeros(2), {"sample_weight": [1.0, 2.0]}),
    (lk.huber_loss, torch.zeros(2, dtype=torch.float64), torch.zeros(2), {}),
    (lk.mean_absolute_error, torch.zeros(2, dtype=torch.int64), torch.zeros(2), {}),
    (lk.poisson_nll, torch.zeros(2), torch.zeros(2), {"log_input": False}),
    (lk.poisson_nll, torch.zeros(2), torch.zeros(2), {"full": True, "convention": "torch"}),
    (lk.binary_focal_loss, torch.tensor([0.0, 0.5]), torch.zeros(2), {"from_logits": True}),
    (lk.binary_focal_loss, torch.zeros(2), torch.zeros(2), {"from_logits": True,
                                                            "gamma": 0.5}),
    (lk.binary_focal_loss, torch.zeros(2), torch.zeros(2), {"from_logits": True,
                                                            "convention": "keras"}),
    (lk.binary_focal_loss, torch.zeros(2), torch.zeros(2), {"from_logits": True,
                                                            "label_smoothing": 0.1}),
    (lk.binary_focal_loss, torch.zeros(2), torch.full((2,), 0.5), {}),
])
def test_new_kernels_leave_other_calls_to_the_generic_path(fn, y, z, kw):
    assert not _taken(fn, y, z, **kw)


@pytest.mark.parametrize("enabled", [True, False])
def test_focal_autograd_gradient_at_zero_logit_is_exact(enabled):
    # the generic path's sigmoid took |z| with abs, whose autograd derivative at 0 is 0:
    # the gradient at z = 0 came out -0.125 instead of -0.2983
    z = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    with native_kernels(enabled):
        lk.binary_focal_loss(torch.ones(1, dtype=torch.float64), z, from_logits=True).backward()
    expected = lk.gradient(lk.binary_focal_loss, np.ones(1), np.zeros(1), from_logits=True)
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-12)


# ---------------------------- fused kernels of issue 19: Student-t, Gamma, log-cosh, the hinges,
# ---------------------------- KL divergence, soft cross-entropy, categorical hinge

def _residual_edges(dtype):
    """Residuals at the edges of each kernel's forms: 0, tiny, around the generic log-cosh
    switch (|r| = 1) and the clamp (|r| = 20), and near float32's sinh² overflow (|r| = 45)."""
    return torch.tensor([0.0, 1e-9, -3e-4, 0.999, -1.001, 19.9, -20.1, 43.0, -44.5],
                        dtype=dtype)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [*ROBUST_OPTIONS, {"reduction": "none", "check_values": False}])
@pytest.mark.parametrize("shape", [(29,), (29, 1), (29, 3), (5, 3, 2)])
@pytest.mark.parametrize("fn,extra", [
    (lk.student_t_nll, {"df": 3.0}), (lk.student_t_nll, {"df": 0.7, "scale": 2.5}),
    (lk.student_t_nll, {"df": 1e7, "scale": 0.5}), (lk.log_cosh_loss, {})])
def test_student_t_and_log_cosh_match_generic(fn, extra, dtype, rtol, kw, shape, rng):
    if "convention" in kw:  # Student-t has none (units instead); Keras' log-cosh is its own
        kw = {k: v for k, v in kw.items() if k != "convention"}
        kw.update({"unit": "bits"} if fn is lk.student_t_nll else {"convention": "torch"})
    y = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    z = torch.as_tensor(rng.normal(scale=3.0, size=shape), dtype=dtype)
    edges = _residual_edges(dtype)
    z.view(-1)[:edges.numel()] = y.view(-1)[:edges.numel()] + edges
    assert _taken(fn, y, z, **extra, **kw)
    _assert_same(_both(fn, y, z, **extra, **kw), rtol)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [*ROBUST_OPTIONS, {"unit": "bits"}, {"shape": 0.3},
                                {"shape": 7.0, "reduction": "none", "check_values": False},
                                {"full": True}, {"full": True, "shape": 0.3, "reduction": "sum"},
                                {"full": True, "reduction": "none"}])
@pytest.mark.parametrize("shape", [(29,), (29, 3)])
def test_gamma_log_mean_matches_generic(dtype, rtol, kw, shape, rng):
    y = torch.as_tensor(rng.gamma(2.0, size=shape), dtype=dtype)
    y.view(-1)[:2] = torch.tensor([1e-30, 1e6], dtype=dtype)
    z = torch.as_tensor(rng.normal(scale=2.0, size=shape), dtype=dtype)
    kw = {"shape": 2.0, **{k: v for k, v in kw.items() if k != "convention"}}
    assert _taken(lk.gamma_nll, y, z, log_input=True, **kw)
    _assert_same(_both(lk.gamma_nll, y, z, log_input=True, **kw), rtol)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"check_values": False}, {"convention": "sklearn"}])
@pytest.mark.parametrize("shape", [(31,), (31, 1), (31, 3)])
@pytest.mark.parametrize("fn", [lk.hinge_loss, lk.squared_hinge_loss])
@pytest.mark.parametrize("coding", ["01", "pm1"])
def test_hinge_losses_match_generic(fn, coding, dtype, rtol, kw, shape, rng):
    z = torch.as_tensor(rng.normal(scale=2.0, size=shape), dtype=dtype)
    z.view(-1)[:3] = torch.tensor([math.inf, -math.inf, 0.5], dtype=dtype)
    y = torch.as_tensor(rng.integers(0, 2, size=shape), dtype=dtype)
    y.view(-1)[:2] = torch.tensor([1.0, 1.0], dtype=dtype)  # +inf beyond, -inf inside
    if coding == "pm1":
        y = 2.0 * y - 1.0
    assert _taken(fn, y, z, **kw)
    _assert_same(_both(fn, y, z, **kw), rtol)


@pytest.mark.parametrize("fn", [lk.hinge_loss, lk.squared_hinge_loss])
def test_hinge_gradient_at_the_margin_is_the_analytic_one(fn):
    """At t·s = 1 exactly the derivative is 0 (as lk.gradient says, like relu); autograd of
    the generic path's ``maximum`` would split the tie and give -t/2 for the hinge."""
    y = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    z = torch.tensor([1.0, -1.0, 0.25], dtype=torch.float64, requires_grad=True)
    fn(y, z, reduction="sum").backward()
    expected = lk.gradient(fn, y.numpy(), z.detach().numpy(), reduction="sum")
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-12, atol=0)


def _rows(rng, n, c, dtype, *, one_hot=False):
    if one_hot:
        return torch.eye(c, dtype=dtype)[rng.integers(0, c, size=n)]
    p = torch.as_tensor(rng.dirichlet(np.full(c, 0.5), size=n), dtype=dtype)
    p[0] = torch.zeros(c, dtype=dtype)
    p[0, 0] = 1.0  # zeros in a target row: 0 · log 0 = 0
    return p


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none", "unit": "bits"},
                                {"check_values": False}, {"convention": "keras"},
                                {"axis": 1}])
@pytest.mark.parametrize("one_hot", [False, True])
def test_kl_divergence_from_logits_matches_generic(dtype, rtol, kw, one_hot, rng):
    y = _rows(rng, 23, 4, dtype, one_hot=one_hot)
    z = torch.as_tensor(rng.normal(scale=5.0, size=(23, 4)), dtype=dtype)
    z[1, 1] = 80.0
    assert _taken(lk.kl_divergence, y, z, from_logits=True, **kw)
    _assert_same(_both(lk.kl_divergence, y, z, from_logits=True, **kw), rtol)
    # a -inf logit under a 0 target: PyTorch's 0 · (-inf) is NaN, the generic path's 0
    z[1, 0] = -math.inf
    y[1] = torch.tensor([0.0, 0.5, 0.25, 0.25], dtype=dtype)
    _assert_same(_both(lk.kl_divergence, y, z, from_logits=True, **kw), rtol)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none", "unit": "bits"},
                                {"check_values": False}, {"convention": "sklearn"},
                                {"eps": 1e-3}])
@pytest.mark.parametrize("one_hot", [False, True])
@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_cross_entropy_matches_generic(dtype, rtol, kw, one_hot, from_logits, rng):
    y = _rows(rng, 23, 4, dtype, one_hot=one_hot)
    z = torch.as_tensor(rng.normal(scale=5.0, size=(23, 4)), dtype=dtype)
    if not from_logits:
        z = z.softmax(-1)
        z[2] = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=dtype)  # clipped at both ends
    assert _taken(lk.categorical_cross_entropy, y, z, from_logits=from_logits, **kw)
    if from_logits:  # and a -inf logit under a 0 target (the generic path's limit)
        _assert_same(_both(lk.categorical_cross_entropy, y, z, from_logits=True, **kw), rtol)
        z[1, 0] = -math.inf
        y[1] = torch.tensor([0.0, 0.5, 0.25, 0.25], dtype=dtype)
    _assert_same(_both(lk.categorical_cross_entropy, y, z, from_logits=from_logits, **kw), rtol)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"check_values": False}, {"convention": "torch"}])
@pytest.mark.parametrize("shape", [(23, 4), (5, 3, 2)])
def test_categorical_hinge_matches_generic(dtype, rtol, kw, shape, rng):
    y = torch.eye(shape[-1], dtype=dtype)[rng.integers(0, shape[-1], size=shape[:-1])]
    z = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    z.view(-1, shape[-1])[0] = torch.tensor([0.5, 0.5, -1.0, 2.0][:shape[-1]], dtype=dtype)
    assert _taken(lk.categorical_hinge_loss, y, z, **kw)
    _assert_same(_both(lk.categorical_hinge_loss, y, z, **kw), rtol)


def test_categorical_hinge_soft_rows_without_checks_are_the_generic_number(rng):
    """Without checks the generic path takes any rows (every positive entry a target): the
    kernel computes the same."""
    y = torch.as_tensor(rng.uniform(size=(9, 3)) > 0.5, dtype=torch.float64)
    z = torch.as_tensor(rng.normal(size=(9, 3)))
    _assert_same(_both(lk.categorical_hinge_loss, y, z, check_values=False), 1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_cosh_beyond_the_overflow_of_sinh_is_the_generic_number(dtype):
    y = torch.zeros(4, dtype=dtype)
    z = torch.tensor([120.0, -800.0, 1e30, 0.5], dtype=dtype)
    (v1, g1), (v2, g2) = _both(lk.log_cosh_loss, y, z, reduction="none")
    assert torch.isfinite(v1).all()
    torch.testing.assert_close(v1, v2, rtol=1e-12, atol=0)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype,ulps", [(torch.float32, 4), (torch.float64, 4)])
def test_log_cosh_is_relatively_exact_from_tiny_to_large_errors(dtype, ulps):
    """½·log1p(sinh² r) against 100-digit log cosh r, from |r| = 1e-18 to the overflow edge:
    within a few ulps everywhere (log(cosh r) loses every digit below |r| ≈ 2e-4 in float32,
    |r| + softplus(-2|r|) - log 2 as well); the gradient tanh r too."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 100  # cosh(1e-18) - 1 = 5e-37: 50 digits would keep 13 of it
    edge = 44.0 if dtype == torch.float32 else 350.0
    r = torch.cat((torch.logspace(-18, math.log10(edge), 400, dtype=torch.float64),
                   -torch.logspace(-12, math.log10(edge), 77, dtype=torch.float64))).to(dtype)
    z = r.clone().requires_grad_(True)
    value = lk.log_cosh_loss(torch.zeros_like(r), z, reduction="none")
    grad, = torch.autograd.grad(value.sum(), z)
    assert type(value.grad_fn).__name__ == "_FusedBackward"  # the kernel, not the fallback
    exact = torch.tensor([float(mp.log(mp.cosh(mp.mpf(float(x))))) for x in r],
                         dtype=torch.float64)
    eps = torch.finfo(dtype).eps
    assert ((value.double() - exact).abs() / exact).max() <= ulps * eps
    exact_grad = torch.tensor([float(mp.tanh(mp.mpf(float(x)))) for x in r],
                              dtype=torch.float64)
    assert ((grad.double() - exact_grad).abs() / exact_grad.abs()).max() <= ulps * eps


def test_log_cosh_without_host_reads_takes_the_clamped_form(monkeypatch, rng):
    y = torch.zeros(11, dtype=torch.float64)
    z = torch.cat((_residual_edges(torch.float64),
                   torch.tensor([120.0, -800.0], dtype=torch.float64)))
    expected = lk.log_cosh_loss(y, z, reduction="none")
    monkeypatch.setattr(losskit._torch, "host_reads_are_free", lambda x: False)
    assert _taken(lk.log_cosh_loss, y, z, check_values=False)
    got = lk.log_cosh_loss(y, z, reduction="none", check_values=False)
    torch.testing.assert_close(got, expected, rtol=1e-14, atol=0)
    assert float(got[1]) == pytest.approx(5e-19, rel=1e-12)  # tiny errors keep their digits


def test_student_t_overflowing_square_is_the_generic_number():
    y = torch.zeros(2)
    z = torch.tensor([3e20, 1.0])  # r² overflows float32: the generic path's split form
    (v1, g1), (v2, g2) = _both(lk.student_t_nll, y, z, df=3.0)
    assert math.isfinite(float(v1))
    torch.testing.assert_close(v1, v2)
    torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize("call", [
    lambda: lk.student_t_nll(torch.zeros(2), torch.tensor([0.0, math.nan]), df=3.0),
    lambda: lk.student_t_nll(torch.tensor([math.inf, 0.0]), torch.zeros(2), df=3.0),
    lambda: lk.student_t_nll(torch.zeros(2), torch.zeros(2), df=-1.0),
    lambda: lk.gamma_nll(torch.tensor([0.0, 1.0]), torch.zeros(2), log_input=True),
    lambda: lk.gamma_nll(torch.tensor([-1.0, 1.0]), torch.zeros(2), log_input=True),
    lambda: lk.gamma_nll(torch.tensor([1.0, 1.0]), torch.tensor([math.inf, 0.0]),
                         log_input=True),
    lambda: lk.log_cosh_loss(torch.zeros(2), torch.tensor([math.inf, 0.0])),
    lambda: lk.hinge_loss(torch.tensor([0.0, 0.5]), torch.zeros(2)),
    lambda: lk.hinge_loss(torch.tensor([0.0, -1.0, 1.0]), torch.zeros(3)),
    lambda: lk.squared_hinge_loss(torch.tensor([0.0, 1.0]), torch.tensor([0.0, math.nan])),
    lambda: lk.kl_divergence(torch.tensor([[0.5, 0.6]]), torch.zeros(1, 2), from_logits=True),
    lambda: lk.kl_divergence(torch.tensor([[1.5, -0.5]]), torch.zeros(1, 2), from_logits=True),
    lambda: lk.kl_divergence(torch.tensor([[0.5, 0.5]]), torch.tensor([[math.nan, 0.0]]),
                             from_logits=True),
    lambda: lk.categorical_cross_entropy(torch.tensor([[0.5, 0.5]]),
                                         torch.tensor([[0.5, 0.6]])),
    lambda: lk.categorical_cross_entropy(torch.tensor([[1.0, 0.0]]),
                                         torch.tensor([[1.2, -0.2]])),
    lambda: lk.categorical_cross_entropy(torch.tensor([[0.9, 0.0]]), torch.zeros(1, 2),
                                         from_logits=True),
    lambda: lk.categorical_hinge_loss(torch.tensor([[0.5, 0.5]]), torch.zeros(1, 2)),
    lambda: lk.categorical_hinge_loss(torch.tensor([[2.0, -1.0], [0.0, 0.0]]),
                                      torch.zeros(2, 2)),
    lambda: lk.categorical_hinge_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.nan]])),
])
def test_fused_kernels_give_the_generic_errors(call):
    test_errors_are_the_generic_errors(call)


@pytest.mark.parametrize("fn,y,z,kw", [
    (lk.student_t_nll, torch.zeros(2), torch.zeros(2), {"df": 3.0, "scale": torch.ones(2)}),
    (lk.student_t_nll, torch.zeros(2), torch.zeros(2), {"df": 3.0,
                                                        "sample_weight": [1.0, 2.0]}),
    (lk.student_t_nll, torch.zeros(2), torch.zeros(2, requires_grad=True).clone(),
     {"df": 3.0, "scale": 1e-30}),
    (lk.gamma_nll, torch.ones(2), torch.ones(2), {}),  # means, not log-means
    (lk.log_cosh_loss, torch.zeros(2), torch.zeros(2), {"convention": "keras"}),
    (lk.log_cosh_loss, torch.zeros(2, requires_grad=True), torch.zeros(2), {}),
    (lk.hinge_loss, torch.tensor([0.0, 1.0]), torch.zeros(2), {"convention": "keras"}),
    (lk.hinge_loss, torch.tensor([0.0, -1.0]), torch.zeros(2), {}),  # mixed codings
    (lk.squared_hinge_loss, torch.tensor([0.0, 1.0]), torch.zeros(2),
     {"sample_weight": [1.0, 2.0]}),
    (lk.kl_divergence, torch.full((2, 2), 0.5), torch.zeros(2, 2), {}),  # probabilities
    (lk.kl_divergence, torch.full((2, 2), 0.5), torch.zeros(2, 2),
     {"from_logits": True, "convention": "torch"}),
    (lk.kl_divergence, torch.full((2, 2), 0.5), torch.zeros(2, 2),
     {"from_logits": True, "log_target": True}),
    (lk.kl_divergence, torch.full((2, 2), 0.5), torch.zeros(2, 2),
     {"from_logits": True, "axis": 0}),
    (lk.categorical_cross_entropy, torch.full((2, 2), 0.5), torch.full((2, 2), 0.5),
     {"convention": "keras"}),
    (lk.categorical_cross_entropy, torch.full((2, 2), 0.5), torch.full((2, 2), 0.5),
     {"eps": 0.0}),
    (lk.categorical_cross_entropy, torch.full((2, 2), 0.5), torch.full((2, 2), 0.5),
     {"label_smoothing": 0.1}),
    (lk.categorical_cross_entropy, torch.full((2, 2), 0.5), torch.full((2, 2), 0.5),
     {"class_weight": [1.0, 2.0]}),
    (lk.categorical_cross_entropy, torch.full((2, 3, 2), 0.5), torch.zeros(2, 3, 2),
     {"from_logits": True}),  # cross_entropy's classes are on axis 1
    (lk.categorical_hinge_loss, torch.eye(2), torch.zeros(2, 2), {"convention": "keras"}),
    (lk.categorical_hinge_loss, torch.eye(2), torch.zeros(2, 2), {"axis": 0}),
])
def test_fused_kernels_leave_other_calls_to_the_generic_path(fn, y, z, kw):
    assert not _taken(fn, y, z, **kw)


@pytest.mark.parametrize("case", ["student_t", "gamma", "log_cosh", "hinge", "squared_hinge",
                                  "kl", "ce_logits", "ce_probabilities", "categorical_hinge"])
def test_fused_second_derivatives_match_the_generic_path(case, rng):
    z0 = torch.as_tensor(rng.normal(scale=2.0, size=(11, 3)))
    labels = torch.as_tensor(rng.integers(0, 2, size=(11, 3)), dtype=torch.float64)
    rows = torch.as_tensor(rng.dirichlet(np.ones(3), size=11))
    fn, y, kw = {
        "student_t": (lk.student_t_nll, torch.as_tensor(rng.normal(size=(11, 3))),
                      {"df": 2.5}),
        "gamma": (lk.gamma_nll, torch.as_tensor(rng.gamma(2.0, size=(11, 3))),
                  {"log_input": True, "shape": 1.5}),
        "log_cosh": (lk.log_cosh_loss, torch.as_tensor(rng.normal(size=(11, 3))), {}),
        "hinge": (lk.hinge_loss, labels, {}),
        "squared_hinge": (lk.squared_hinge_loss, labels, {}),
        "kl": (lk.kl_divergence, rows, {"from_logits": True}),
        "ce_logits": (lk.categorical_cross_entropy, rows, {"from_logits": True}),
        "ce_probabilities": (lk.categorical_cross_entropy, rows, {}),
        "categorical_hinge": (lk.categorical_hinge_loss,
                              torch.eye(3, dtype=torch.float64)[rng.integers(0, 3, size=11)],
                              {}),
    }[case]
    if case == "ce_probabilities":
        z0 = z0.softmax(-1)
    v = torch.as_tensor(rng.normal(size=(11, 3)))
    results = []
    for enabled in (True, False):
        z = z0.clone().requires_grad_(True)
        with native_kernels(enabled):
            assert _taken(fn, y, z, **kw) is enabled
            value = fn(y, z, **kw)
        g, = torch.autograd.grad(value, z, create_graph=True)
        # (piecewise linear losses: a first derivative without a graph is a zero hessian)
        hv = torch.autograd.grad((g * v).sum(), z, allow_unused=True)[0] \
            if g.requires_grad else None
        results.append(torch.zeros_like(z) if hv is None else hv)
    torch.testing.assert_close(results[0], results[1], rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(2, 5), st.floats(0.01, 300.0), st.integers(0, 2 ** 31))
def test_property_fused_kernels_equal_generic(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    z = torch.as_tensor(rng.normal(scale=scale, size=(n, c)))
    y = torch.as_tensor(rng.normal(scale=scale, size=(n, c)))
    for fn, kw in [(lk.student_t_nll, {"df": 4.0}), (lk.log_cosh_loss, {})]:
        _assert_same(_both(fn, y, z, reduction="none", **kw), 1e-10)
    _assert_same(_both(lk.gamma_nll, y.abs() + 1e-3, z / scale, log_input=True,
                       reduction="none"), 1e-10)
    labels = torch.as_tensor(rng.integers(0, 2, size=(n, c)), dtype=torch.float64)
    _assert_same(_both(lk.squared_hinge_loss, labels, z, reduction="none"), 1e-10)
    rows = torch.as_tensor(rng.dirichlet(np.ones(c), size=n))
    _assert_same(_both(lk.kl_divergence, rows, z, from_logits=True, reduction="none"), 1e-10)


def _nb_inputs(rng, shape):
    y = torch.as_tensor(rng.poisson(4.0, size=shape), dtype=torch.float32)
    y.view(-1)[:4] = torch.tensor([0.0, 1.0, 1000.0, 50000.0])
    raw = np.stack([rng.normal(1.0, 1.0, size=shape), rng.normal(-0.7, 2.0, size=shape)], -1)
    z = torch.as_tensor(raw, dtype=torch.float32)
    z.view(-1, 2)[:4, 1] = torch.tensor([-9.2, 8.0, 0.0, -3.0])  # r up to ~1e4 and tiny r
    return y, z


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"unit": "bits"}, {"check_values": False}, {"full": True},
                                {"full": True, "reduction": "none"}])
@pytest.mark.parametrize("shape", [(40,), (13, 3)])
def test_negative_binomial_matches_generic(kw, shape, rng):
    """float32: the gradients equal the generic path's; the value is the float64 value to
    float32 rounding (the generic float32 path's Lanczos sums lose a few digits where the loss
    is small: 6e-6 relative on a mean of 0.08, where the kernel's float64 lgamma keeps 3e-7)."""
    y, z = _nb_inputs(rng, shape)
    fn = lk.negative_binomial_nll
    assert _taken(fn, y, z, **kw)
    (v1, g1), (v2, g2) = _both(fn, y, z, **kw)
    _, (exact, g_exact) = _both(fn, y.double(), z.double(), **kw)  # the generic path's
    torch.testing.assert_close(v1.double(), exact, rtol=2e-6, atol=1e-6)
    torch.testing.assert_close(v2, v1, rtol=1e-4, atol=1e-5)
    # the gradients: each within float32 rounding of the float64 one, the kernel's no further
    # than the generic float32 path's (where r(ψ(y + r) - ψ(r) - softplus(u)) cancels)
    size = float(g_exact.abs().max())
    err_native = float((g1.double() - g_exact).abs().max())
    err_generic = float((g2.double() - g_exact).abs().max())
    assert err_native <= max(2 * err_generic, 1e-6 * size)


def test_negative_binomial_second_derivatives_match_the_generic_path(rng):
    y, z0 = _nb_inputs(rng, (9,))
    v = torch.as_tensor(rng.normal(size=(9, 2)), dtype=torch.float32)
    results = []
    for enabled in (True, False):
        z = z0.clone().requires_grad_(True)
        with native_kernels(enabled):
            value = lk.negative_binomial_nll(y, z)
        g, = torch.autograd.grad(value, z, create_graph=True)
        hv, = torch.autograd.grad((g * v).sum(), z)
        results.append(hv)
    torch.testing.assert_close(results[0], results[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("call", [
    lambda: lk.negative_binomial_nll(torch.tensor([-1.0, 2.0]), torch.zeros(2, 2)),
    lambda: lk.negative_binomial_nll(torch.tensor([math.nan, 2.0]), torch.zeros(2, 2)),
    lambda: lk.negative_binomial_nll(torch.tensor([1.0, 2.0]),
                                     torch.tensor([[0.0, 0.0], [math.inf, 0.0]])),
    lambda: lk.negative_binomial_nll(torch.tensor([1.0, 2.0]), torch.zeros(2, 3)),
])
def test_negative_binomial_gives_the_generic_errors(call):
    test_errors_are_the_generic_errors(call)


@pytest.mark.parametrize("y,z,kw", [
    (torch.ones(2, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64), {}),
    (torch.ones(2), torch.tensor([[0.0, -10.0], [0.0, 0.0]]), {}),  # r = e^10 > 1e4
    (torch.tensor([2e6, 1.0]), torch.zeros(2, 2), {}),
    (torch.ones(2), torch.zeros(2), {"alpha": 0.5}),
    (torch.ones(2), torch.zeros(2, 2), {"sample_weight": [1.0, 2.0]}),
])
def test_negative_binomial_leaves_other_calls_to_the_generic_path(y, z, kw):
    assert not _taken(lk.negative_binomial_nll, y, z, **kw)


@pytest.mark.parametrize("fn", [lk.hinge_loss, lk.squared_hinge_loss])
def test_hinge_without_checks_maps_any_labels_as_the_generic_path(fn):
    y = torch.tensor([0.5, -1.0, 0.0, 2.0, -0.0, 1.0], dtype=torch.float64)
    z = torch.tensor([0.3, -2.0, 0.7, 1.2, -1.5, 0.2], dtype=torch.float64)
    assert _taken(fn, y, z, check_values=False)
    _assert_same(_both(fn, y, z, check_values=False, reduction="none"), 1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_categorical_hinge_extreme_scores_are_the_generic_numbers(dtype):
    big = torch.finfo(dtype).max
    y = torch.eye(3, dtype=dtype)[[0, 1, 2, 0]]
    z = torch.tensor([[big / 2, -big, -big], [0.0, -big / 2, big / 3], [-math.inf, 1.0, 0.5],
                      [1.0, 1.0, 1.0]], dtype=dtype)
    (v1, g1), (v2, g2) = _both(lk.categorical_hinge_loss, y, z, reduction="none")
    torch.testing.assert_close(v1, v2)
    torch.testing.assert_close(g1, g2)


def test_hinge_without_host_reads_maps_labels_by_comparison(monkeypatch):
    y = torch.tensor([0.5, -1.0, 0.0, 2.0, -0.0, 1.0], dtype=torch.float64)
    z = torch.tensor([0.3, -2.0, 0.7, 1.2, -1.5, 0.2], dtype=torch.float64)
    expected = lk.hinge_loss(y, z, reduction="none", check_values=False)
    monkeypatch.setattr(losskit._torch, "host_reads_are_free", lambda x: False)
    assert _taken(lk.hinge_loss, y, z, check_values=False)
    got = lk.hinge_loss(y, z, reduction="none", check_values=False)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
