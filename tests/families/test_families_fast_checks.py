"""The families' value checks by reductions, and the native kernels that check for them.

``Family.loss`` on PyTorch tensors leaves its target checks to a native kernel that validates
its inputs (``_native_validates``): nothing may pass that the family's own checks refuse,
and every refusal keeps the family's message, on every backend."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from test_families import NAMES, case
from test_families_checks import BAD_TARGETS

import losskit as lk
from conftest import Backend
from losskit._torch import native_kernels
from losskit.families import (
    Bernoulli,
    Categorical,
    Family,
    Gamma,
    Gaussian,
    Laplace,
    MultiLabel,
    NegativeBinomial,
    Poisson,
    StudentT,
)


def _message(call, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        call(*args, **kwargs)
    return str(info.value)


def _on(backend: Backend, value, dtype: str):
    a = np.asarray(value)
    return backend.asarray(a if a.dtype.kind in "iu" else a.astype(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("fam", "y", "raw", "match"), BAD_TARGETS)
def test_bad_targets_get_the_family_message_on_every_backend(backend, fam, y, raw, match,
                                                              dtype):
    expected = _message(lambda: fam.loss(np.asarray(y), np.asarray(raw)))
    assert expected.startswith(f"{type(fam).__name__}.loss: y_true has a value")
    got = _message(lambda: fam.loss(_on(backend, y, dtype), _on(backend, raw, dtype)))
    assert got == expected


#: 64 targets (the native kernels' sums and minima see more than one value), with one bad
#: entry each, per family: every kernel that validates for its family
def _torch_case(fam: Family, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    if isinstance(fam, (Poisson, NegativeBinomial)):
        y = rng.poisson(3.0, n).astype(float)
    elif isinstance(fam, Gamma):
        y = rng.gamma(2.0, size=n)
    elif isinstance(fam, (Bernoulli, MultiLabel)):
        y = (rng.random(n) < 0.5).astype(float)
    elif isinstance(fam, Categorical):
        y = rng.integers(0, 3, n)
    else:
        y = rng.normal(size=n)
    width = fam.n_outputs(3) if fam.outputs_per_target is None else fam.n_outputs()
    raw = rng.normal(size=(n, width)) * 0.5
    if isinstance(fam, MultiLabel):
        y = (rng.random((n, width)) < 0.5).astype(float)
    elif width == 1:
        raw = raw[:, 0]
    return y, raw


VALIDATED = [Gaussian(scale=0.7), Laplace(scale=2.0), StudentT(df=3), Poisson(),
             Poisson(full=False), Gamma(shape=2.0), Gamma(shape=0.5, full=False),
             NegativeBinomial(),
             NegativeBinomial(full=False), Bernoulli(), Bernoulli(soft=True), MultiLabel(),
             Categorical()]


@pytest.mark.parametrize("fam", VALIDATED, ids=repr)
def test_validated_families_have_the_flag(fam):
    assert fam._native_validates


def _bad_values(fam: Family) -> list[tuple[str, float]]:
    """(which input, value) pairs that the family or its loss must refuse."""
    bad = [("y", math.nan), ("raw", math.nan)]
    if not isinstance(fam, Categorical):
        bad += [("y", math.inf), ("y", -math.inf)]
    if not fam._raw_may_be_infinite:
        bad += [("raw", math.inf), ("raw", -math.inf)]
    if isinstance(fam, (Poisson, NegativeBinomial)):
        bad += [("y", 2.5), ("y", -1.0), ("y", 1e-30)]
    if isinstance(fam, Gamma):
        bad += [("y", 0.0), ("y", -2.0)]
    if isinstance(fam, (Bernoulli, MultiLabel)):
        bad += [("y", 1.5), ("y", -1.0)]
        if not fam.soft:
            bad += [("y", 0.5), ("y", 1.0 - 2.0**-24), ("y", 1e-40)]
    if isinstance(fam, Categorical):
        bad += [("y", 3), ("y", -1)]
    return bad


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fam", VALIDATED, ids=repr)
def test_every_bad_input_still_raises_on_torch_with_the_message_of_numpy(fam, dtype):
    y0, raw0 = _torch_case(fam)
    for where, value in _bad_values(fam):
        y, raw = y0.copy(), raw0.copy()
        if where == "y":
            if y.dtype.kind in "iu" and not float(value).is_integer():
                y = y.astype(float)
            y.flat[5] = value
        else:
            raw.flat[5] = value
        y_t, raw_t = (torch.from_numpy(y if y.dtype.kind in "iu" else y.astype(dtype)),
                      torch.from_numpy(raw.astype(dtype)))
        expected = _message(fam.loss, y if y.dtype.kind in "iu" else y.astype(dtype),
                            raw.astype(dtype))
        for grad in (False, True):
            leaf = raw_t.clone().requires_grad_(grad)
            assert _message(fam.loss, y_t, leaf) == expected, (where, value, grad)


@pytest.mark.parametrize("fam", VALIDATED, ids=repr)
def test_a_validating_kernel_replaces_the_familys_mask(fam, monkeypatch):
    """On good torch inputs the family's own domain check is not run when the kernel
    checked (it was, before: two passes of checks); without kernels, it is."""
    y, raw = _torch_case(fam)
    y_t = torch.from_numpy(y if y.dtype.kind in "iu" else y.astype(np.float32))
    raw_t = torch.from_numpy(raw.astype(np.float32))
    expected = fam.loss(y, raw.astype(np.float32))
    calls = []
    original = type(fam)._check_domain

    def counted(self, *args):
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(type(fam), "_check_domain", counted)
    value = fam.loss(y_t, raw_t)
    assert calls == []
    np.testing.assert_allclose(value.item(), float(expected), rtol=2e-6)
    for reduction in ("none", "sum"):
        np.testing.assert_allclose(
            fam.loss(y_t, raw_t, reduction=reduction).numpy(),
            fam.loss(y, raw.astype(np.float32), reduction=reduction), rtol=2e-6, atol=1e-5)
    calls.clear()
    with native_kernels(False):
        assert fam.loss(y_t, raw_t).item() == pytest.approx(value.item(), rel=2e-6)
    assert calls == [1]
    calls.clear()
    fam.loss(y_t, raw_t, check_values=False)
    assert calls == []


def test_the_kernel_path_gives_the_catalogue_losss_value_bit_for_bit():
    for fam in VALIDATED:
        y, raw = _torch_case(fam, 1000)
        y_t = torch.from_numpy(y if y.dtype.kind in "iu" else y.astype(np.float32))
        raw_t = torch.from_numpy(raw.astype(np.float32)).requires_grad_()
        value = fam.loss(y_t, raw_t)
        (grad,) = torch.autograd.grad(value, raw_t)
        reference = getattr(lk, fam.loss_name)(y_t, raw_t, **fam.loss_options)
        (grad_ref,) = torch.autograd.grad(reference, raw_t)
        assert value.item() == reference.item(), fam
        assert torch.equal(grad, grad_ref), fam


@pytest.mark.parametrize("library", ["numpy", "torch", "jax"])
def test_targets_whose_sum_overflows_are_still_accepted(library):
    """The sum probe overflows on large finite targets: the locating check decides."""
    backend = Backend(library)
    y = backend.asarray(np.array([3e38, 3e38, 1.0], dtype=np.float32))
    raw = backend.asarray(np.array([3e38, 3e38, 1.0], dtype=np.float32))
    assert float(Gaussian().loss(y, raw)) == pytest.approx(0.5 * math.log(2 * math.pi))
    assert float(Laplace().loss(y, raw)) == pytest.approx(math.log(2.0))


@pytest.mark.parametrize("library", ["numpy", "array_api_strict", "torch", "jax"])
def test_fractions_of_negative_targets_do_not_cancel(library):
    """-0.5 and 0.5 have fractions 0.5 and 0.5 (y - floor(y)), never -0.5 and 0.5."""
    backend = Backend(library)
    raw = backend.asarray(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not an integer"):
        Categorical().loss(backend.asarray(np.array([-0.5, 0.5])), raw)
    with pytest.raises(ValueError, match="not an integer"):
        Poisson().gradient(backend.asarray(np.array([1.25, 0.75])), backend.asarray([0.0, 0.0]))


@pytest.mark.parametrize("name", NAMES)
def test_good_targets_pass_on_every_backend(backend, name):
    fam, y, raw, _, _ = case(name)
    value = fam.loss(backend.asarray(y), backend.asarray(raw))
    assert float(value) == pytest.approx(float(fam.loss(y, raw)), rel=1e-12)


# ------------------------------------------------------------------- value_and_gradient


@pytest.mark.parametrize("name", NAMES)
def test_value_and_gradient_are_the_loss_and_the_gradient_on_every_backend(backend, name):
    fam, y, raw, _, _ = case(name)
    y_b, raw_b = backend.asarray(y), backend.asarray(raw)
    weight = np.linspace(0.5, 2.0, np.shape(y)[0])
    for kwargs in ({}, {"unit": "bits", "reduction": "none"},
                   {"sample_weight": backend.asarray(weight), "reduction": "sum"}):
        value, grad = fam.value_and_gradient(y_b, raw_b, **kwargs)
        derivative_options = {k: v for k, v in kwargs.items() if k != "reduction"}
        expected = fam.loss(y_b, raw_b, **kwargs)
        assert backend.is_native(value) and backend.is_native(grad)
        np.testing.assert_array_equal(backend.to_numpy(value), backend.to_numpy(expected))
        np.testing.assert_array_equal(
            backend.to_numpy(grad),
            backend.to_numpy(fam.gradient(y_b, raw_b, **derivative_options)))


def test_value_and_gradient_refuses_what_loss_and_gradient_refuse():
    for fam, y, raw, match in BAD_TARGETS:
        with pytest.raises(ValueError, match=re.escape(match)) as info:
            fam.value_and_gradient(y, raw)
        assert str(info.value).startswith(f"{type(fam).__name__}.value_and_gradient: y_true")
    with pytest.raises(ValueError, match="raw has NaN"):
        Gaussian().value_and_gradient([1.0, 2.0], [0.0, math.nan])
    # weights that are all zero: an error (as gradient's), not a NaN mean
    got = _message(Gaussian().value_and_gradient, [1.0, 2.0], [0.0, 0.0],
                   sample_weight=np.zeros(2))
    assert got.replace("value_and_gradient", "gradient") == _message(
        Gaussian().gradient, [1.0, 2.0], [0.0, 0.0], sample_weight=np.zeros(2))
    # a value that is NaN although the inputs passed the family's checks: the loss's error
    fam = lk.families.GaussianMixture(2)
    y, raw = np.array([1.0]), np.array([[0.0, 0.0, 1.0, 1.0, -1e300, -1e300]])
    expected = _message(fam.loss, y, raw)
    assert _message(fam.value_and_gradient, y, raw) == expected
    with pytest.raises(TypeError, match="check_values must be True or False"):
        Gaussian().value_and_gradient([1.0], [0.0], check_values=1)
    with pytest.raises(ValueError, match="unit must be one of"):
        Gaussian().value_and_gradient([1.0], [0.0], unit="dits")
    # without checks, bad targets are not looked at (as in loss and gradient)
    value, grad = Poisson().value_and_gradient([-1.0], [0.0], check_values=False)
    assert grad.tolist() == [2.0]
    assert value == Poisson().loss([-1.0], [0.0], check_values=False)


def test_value_and_gradient_keeps_low_precision_dtypes():
    y, raw = np.array([1.0, 0.0, 1.0]), np.array([0.5, -1.0, 2.0], dtype=np.float16)
    value, grad = Bernoulli().value_and_gradient(y, raw)
    assert value.dtype == grad.dtype == np.float16
    assert value == Bernoulli().loss(y, raw)
    np.testing.assert_array_equal(grad, Bernoulli().gradient(y, raw))
