"""One source of truth per loss (issue 14): the families, ``advise`` and the nn heads read the
loss's declared spec and kernel, so they cannot drift apart again.

The three drifts this guards: ``advise`` returned options (``log_input``) other than the
family's and the nn head's; ``advise``'s metrics were not ``family.default_metrics``; the nn
``"gaussian_nll"`` head laid its raw outputs out as ``[mean | log sd]`` blocks while
``HeteroscedasticGaussian`` takes ``(mean, log variance)`` per target.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk
from losskit.losses import loss_specs
from targets import TARGETS

torch = pytest.importorskip("torch")
from losskit.nn import Head  # noqa: E402
from losskit.nn._heads import (  # noqa: E402
    FAMILY_HEADS,
    HEAD_FAMILIES,
    MARGIN_HEADS,
    advised_loss,
    family_head,
)

#: the parameters of the families that need some (a new such family: add it here)
_REQUIRED = {"student_t": {"df": 3.0, "scale": 0.7}, "gaussian_mixture": {"k": 2}}
#: one of every registered family, and a few with other parameters
FAMILIES = [lk.family(name, **_REQUIRED.get(name, {}))
            for name in lk.families.registered_families()] + [
    lk.families.Gaussian(scale=2.0, full=False), lk.families.Gamma(shape=2.5),
    lk.families.Bernoulli(soft=True)]


def _sample(fam, rng, n=7):
    """Targets in the family's domain and raw outputs in its layout (float64 NumPy)."""
    width = fam.n_outputs(3) if fam.outputs_per_target is None else fam.n_outputs()
    if fam.name == "categorical":
        return rng.integers(0, width, n), rng.normal(size=(n, width))
    if fam.name == "multilabel":
        return rng.integers(0, 2, (n, width)).astype(float), rng.normal(size=(n, width))
    if fam.name == "bernoulli":
        y = rng.uniform(size=n) if fam.soft else rng.integers(0, 2, n).astype(float)
        return y, 2.0 * rng.normal(size=n)
    if fam.name == "von_mises":  # angles; raw outputs kappa (cos mu, sin mu)
        return rng.uniform(-np.pi, np.pi, n), 2.0 * rng.normal(size=(n, 2))
    if fam.name == "von_mises_fisher":  # unit vectors; raw outputs kappa mu
        x = rng.normal(size=(n, 3))
        return x / np.linalg.norm(x, axis=-1, keepdims=True), 2.0 * rng.normal(size=(n, 3))
    if fam.name in ("poisson", "negative_binomial"):
        y = rng.poisson(3.0, n).astype(float)
    elif fam.name == "gamma":
        y = rng.gamma(2.0, 1.5, n)
    else:
        y = rng.normal(size=n) * 2.0
    raw = 0.5 * rng.normal(size=(n, width)) + (1.0 if fam.link_name.startswith("log") else 0.0)
    return y, raw if width > 1 else raw[:, 0]


# ------------------------------------------------------------------ families read the kernel


@pytest.mark.parametrize("fam", FAMILIES, ids=repr)
def test_a_family_is_its_losss_spec_plus_parameters(fam):
    spec = getattr(lk, fam.loss_name).spec
    assert fam.kernel is spec.kernel
    # the link of the raw outputs is declared once, on the loss (the heteroscedastic family
    # adds a log-variance output to gaussian_nll's mean)
    link = spec.kernel.link if fam.name != "heteroscedastic_gaussian" else "identity,log"
    assert fam.link_name == link
    rng = np.random.default_rng(3)
    y, raw = _sample(fam, rng)
    # the kernel's value is the family's NLL, entry by entry
    if fam.name not in ("heteroscedastic_gaussian", "multilabel"):
        kernel_value = spec.kernel.value(np, y, raw, **fam.kernel_options)
        np.testing.assert_allclose(kernel_value, fam.loss(y, raw, reduction="none"),
                                   rtol=1e-12, atol=1e-12)
    # the family's gradient is the autograd gradient of its NLL (summed over the entries)
    raw_t = torch.tensor(raw, requires_grad=True)
    y_t = torch.tensor(y)
    total = fam.loss(y_t, raw_t, reduction="sum")
    if fam.name == "multilabel":  # the catalogue averages a sample's labels
        total = total * y.shape[-1]
    (auto,) = torch.autograd.grad(total, raw_t)
    np.testing.assert_allclose(fam.gradient(y, raw), auto.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fam", FAMILIES, ids=repr)
def test_a_familys_hessian_is_the_derivative_of_its_gradient(fam):
    rng = np.random.default_rng(4)
    y, raw = _sample(fam, rng)
    if fam.name == "laplace":
        raw = raw + 0.25  # away from the kink, where the hessian is 0
    h = 1e-6
    diagonal = np.zeros_like(raw)
    flat = raw.reshape(len(raw), -1)
    for j in range(flat.shape[1]):
        step = np.zeros_like(flat)
        step[:, j] = h
        up = fam.gradient(y, (flat + step).reshape(raw.shape)).reshape(flat.shape)[:, j]
        down = fam.gradient(y, (flat - step).reshape(raw.shape)).reshape(flat.shape)[:, j]
        diagonal.reshape(flat.shape)[:, j] = (up - down) / (2 * h)
    np.testing.assert_allclose(fam.hessian(y, raw), diagonal, rtol=1e-5, atol=1e-6)


def test_every_kernel_is_the_losss_own_gradient():
    """Each declared kernel: its gradient is the loss body's (``lk.gradient`` of the summed
    loss in raw space), so the body and the families share one derivation."""
    rng = np.random.default_rng(6)
    raw_space = {"poisson_nll": {"log_input": True}, "gamma_nll": {"log_input": True},
                 "binary_cross_entropy": {"from_logits": True},
                 "sparse_categorical_cross_entropy": {"from_logits": True},
                 "binary_focal_loss": {"from_logits": True, "gamma": 2.0, "alpha": 0.25}}
    by_loss = {fam.loss_name: fam for fam in FAMILIES}
    by_loss["binary_focal_loss"] = lk.families.Bernoulli()  # 0/1 labels, logits
    with_kernel = [s for s in loss_specs().values() if s.kernel is not None]
    assert {s.name for s in with_kernel} >= {f.loss_name for f in FAMILIES}
    for spec in with_kernel:
        fam = by_loss.get(spec.name, lk.families.Gaussian())
        y, raw = _sample(fam, rng)
        if spec.name == "gaussian_nll":
            raw = raw[..., 0] if raw.ndim == 2 else raw
        options = {**raw_space.get(spec.name, {}),
                   **(fam.kernel_options if spec.name == fam.loss_name else {})}
        gradient = lk.gradient(getattr(lk, spec.name), y, raw, reduction="sum", **options)
        k = y.shape[-1] if fam.name == "multilabel" else 1  # the loss averages the labels
        kernel_options = {k_: v for k_, v in options.items()
                          if k_ not in ("log_input", "from_logits")}
        np.testing.assert_allclose(spec.kernel.gradient(np, y, raw, **kernel_options),
                                   k * gradient, rtol=1e-10, atol=1e-12, err_msg=spec.name)


# ------------------------------------------------------------------------- advise reads it


@pytest.mark.parametrize("name", list(TARGETS))
def test_advise_reads_its_family(name):
    advice = lk.advise(TARGETS[name](np.random.default_rng(5)))
    fam = advice.family_object
    assert fam == lk.family(advice.family, **advice.family_options)
    # the loss is the family's NLL (one-hot rows: the same NLL from rows rather than labels)
    expected_loss = ("categorical_cross_entropy" if name == "one_hot" else fam.loss_name)
    assert advice.loss == expected_loss
    assert advice.loss_options == fam.loss_options
    # the metrics are the family's exactly (their order puts the one the data calls for first)
    assert sorted(advice.metrics) == sorted(fam.default_metrics)
    assert "family_object" not in advice.to_dict()


# ------------------------------------------------------------------------- nn heads read it


@pytest.mark.parametrize("name", [n for n in TARGETS if n not in ("multilabel",)])
def test_the_advised_head_trains_the_advised_family(name):
    y = TARGETS[name](np.random.default_rng(5))
    advice = lk.advise(y)
    fam = advice.family_object
    classification = advice.task in ("binary", "multiclass")
    n_classes = fam.n_outputs(len(np.unique(np.asarray(y).argmax(-1) if name == "one_hot"
                                            else y))) if fam.name == "categorical" else None
    head = Head(advised_loss(advice), task="classification" if classification else "regression",
                n_classes=2 if fam.name == "bernoulli" and classification else n_classes)
    assert head.family == fam
    assert head.spec.name in (fam.loss_name, fam.equivalent_loss)
    assert head.activation == fam.activation_name
    assert head.default_metrics == fam.default_metrics
    assert set(advice.metrics) == set(head.default_metrics)
    if head.spec.name == fam.loss_name and not head.spec.via_family:
        assert head.spec.options == advice.loss_options  # e.g. Gamma's log_input=True


@pytest.mark.parametrize("name", sorted(HEAD_FAMILIES))
def test_each_named_head_reads_its_declared_family(name):
    fam = lk.family(HEAD_FAMILIES[name])
    task = "classification" if fam.name in ("bernoulli", "categorical") else "regression"
    head = Head(name, task=task, n_classes=3 if fam.name == "categorical" else
                (2 if task == "classification" else None))
    assert head.family == fam
    assert head.activation == fam.activation_name
    assert head.default_metrics == fam.default_metrics
    if head.spec.via_family:  # the family computes its NLL, with its own options
        assert name == fam.loss_name and head.spec.options == {}
    elif name == fam.loss_name:
        assert head.spec.options == fam.loss_options
    else:  # another loss of the same raw outputs
        assert {k: v for k, v in head.spec.options.items() if k != "power"} == {
            k: v for k, v in fam.raw_space_options.items() if k in head.spec.fn.spec.options}


def test_margin_heads_have_no_family():
    for name, activation in MARGIN_HEADS.items():
        head = Head(name, task="classification", n_classes=2 if activation == "sigmoid" else 3)
        assert head.family is None and head.activation == activation


def test_family_heads_are_read_from_the_families():
    assert FAMILY_HEADS == {fam.name: family_head(fam) for fam in FAMILIES
                            if family_head(fam) is not None}
    assert FAMILY_HEADS["gaussian"] == "mean_squared_error"  # its equivalent loss
    assert FAMILY_HEADS["heteroscedastic_gaussian"] == "gaussian_nll"


@pytest.mark.parametrize("fam", [f for f in FAMILIES if family_head(f) is not None], ids=repr)
def test_a_heads_raw_outputs_are_its_familys(fam):
    """The head's gradient with respect to its raw outputs is the family's analytic one
    (scaled, for the Gaussian's mean squared error): the same layout, the same link."""
    rng = np.random.default_rng(8)
    y, raw = _sample(fam, rng, n=9)
    classification = fam.name in ("bernoulli", "categorical") and not getattr(fam, "soft", 0)
    n_classes = (2 if fam.name == "bernoulli" else raw.shape[-1]) if classification else None
    head = Head(family_head(fam), task="classification" if classification else "regression",
                n_classes=n_classes)
    raw_2d = torch.tensor(raw.reshape(len(raw), -1), requires_grad=True)
    y_t = torch.tensor(y) if classification else torch.tensor(y.reshape(len(y), -1))
    loss = head.batch_loss(head.target(y_t, torch.float64), raw_2d, None)
    (g_head,) = torch.autograd.grad(loss * len(y), raw_2d)
    g_fam = fam.gradient(y, raw).reshape(raw_2d.shape)
    scale = g_head.numpy()[np.abs(g_fam) > 1e-8] / g_fam[np.abs(g_fam) > 1e-8]
    np.testing.assert_allclose(scale, scale[0], rtol=1e-9)
    assert scale[0] > 0


def test_the_gaussian_nll_head_takes_the_heteroscedastic_familys_layout():
    """(mean, log variance) per target, interleaved, as HeteroscedasticGaussian: the drift
    where the head fed gaussian_mixture_nll [mean | log sd] blocks cannot come back."""
    fam = lk.families.HeteroscedasticGaussian()
    head = Head("gaussian_nll", n_targets=2)
    assert head.family == fam and head.n_outputs == 4
    rng = np.random.default_rng(9)
    y = rng.normal(size=(5, 2))
    raw = rng.normal(size=(5, 4))
    expected = -np.mean(np.log(np.exp(-0.5 * (y - raw[:, 0::2]) ** 2 / np.exp(raw[:, 1::2]))
                               / np.sqrt(2 * math.pi * np.exp(raw[:, 1::2]))))
    loss = head.batch_loss(torch.tensor(y), torch.tensor(raw), None)
    assert float(loss) == pytest.approx(expected, rel=1e-12)
    assert float(loss) == pytest.approx(float(fam.loss(y, raw.reshape(5, 2, 2))), rel=1e-12)
    np.testing.assert_array_equal(head.activate(torch.tensor(raw)).numpy(), raw[:, 0::2])
