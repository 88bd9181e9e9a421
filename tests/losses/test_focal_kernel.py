"""The binary focal loss's raw-space kernel (issue 13): per element it is the loss body from
logits, its gradient is the body's (and autograd's), its hessian the gradient's derivative, for
hard and soft labels, any ``gamma`` and ``alpha``, and it stays finite at extreme logits."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")

KERNEL = lk.binary_focal_loss.spec.kernel
OPTIONS = [{"gamma": 2.0}, {"gamma": 0.5}, {"gamma": 0.0}, {"gamma": 2.0, "alpha": 0.25},
           {"gamma": 0.5, "alpha": 0.8}, {"gamma": 3.0, "alpha": None}]


def _sample(labels: str, n: int = 40):
    rng = np.random.default_rng(13)
    y = rng.uniform(size=n) if labels == "soft" else rng.integers(0, 2, n).astype(float)
    return y, 3.0 * rng.normal(size=n)


@pytest.mark.parametrize("labels", ["hard", "soft"])
@pytest.mark.parametrize("options", OPTIONS, ids=repr)
def test_the_kernel_is_the_body_and_its_gradient(labels, options):
    y, z = _sample(labels)
    value = lk.binary_focal_loss(y, z, from_logits=True, reduction="none", **options)
    np.testing.assert_allclose(KERNEL.value(np, y, z, **options), value, rtol=1e-12, atol=0)
    g = KERNEL.gradient(np, y, z, **options)
    body = lk.gradient(lk.binary_focal_loss, y, z, from_logits=True, reduction="sum",
                       **options)
    np.testing.assert_allclose(g, body, rtol=1e-10, atol=1e-12)
    z_t = torch.tensor(z, requires_grad=True)
    (auto,) = torch.autograd.grad(
        lk.binary_focal_loss(torch.tensor(y), z_t, from_logits=True, reduction="sum",
                             **options), z_t)
    np.testing.assert_allclose(g, auto.numpy(), rtol=1e-10, atol=1e-12)
    # the kernel runs on torch as on NumPy
    g_t = KERNEL.gradient(torch, torch.tensor(y), torch.tensor(z), **options)
    np.testing.assert_allclose(g_t.numpy(), g, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("labels", ["hard", "soft"])
@pytest.mark.parametrize("options", OPTIONS, ids=repr)
def test_the_hessian_is_the_derivative_of_the_gradient(labels, options):
    y, z = _sample(labels)
    h = 1e-6
    numeric = (KERNEL.gradient(np, y, z + h, **options)
               - KERNEL.gradient(np, y, z - h, **options)) / (2 * h)
    np.testing.assert_allclose(KERNEL.hessian(np, y, z, **options), numeric,
                               rtol=1e-5, atol=1e-8)


def test_gamma_zero_is_the_bce_kernel():
    for labels in ("hard", "soft"):
        y, z = _sample(labels)
        bce = lk.binary_cross_entropy.spec.kernel
        for part in ("value", "gradient", "hessian"):
            np.testing.assert_allclose(getattr(KERNEL, part)(np, y, z, gamma=0.0),
                                       getattr(bce, part)(np, y, z), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("options", OPTIONS, ids=repr)
def test_extreme_logits_stay_finite_and_exact(options):
    y = np.array([1.0, 1.0, 0.0, 0.0, 0.3, 0.7, 1.0, 0.0])
    z = np.array([40.0, -40.0, 40.0, -40.0, 40.0, -40.0, 800.0, -800.0])
    for part in ("value", "gradient", "hessian"):
        out = getattr(KERNEL, part)(np, y, z, **options)
        assert np.all(np.isfinite(out)), (part, out)
        # torch (its native sigmoid/logsigmoid path), float64 and float32, the same numbers
        for dtype, rtol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
            out_t = getattr(KERNEL, part)(torch, torch.tensor(y, dtype=dtype),
                                          torch.tensor(z, dtype=dtype), **options)
            assert bool(torch.isfinite(out_t).all()), (part, dtype, out_t)
            np.testing.assert_allclose(out_t.double().numpy(), out, rtol=rtol, atol=1e-30)
    # a confident correct positive: 1 - p_t = sigma(-40) = e^-40 (to 1e-17), not a rounded 0;
    # l = (e^-40)^gamma e^-40 and dl/dz = -(gamma + 1) (e^-40)^(gamma + 1), both non-zero
    gamma = options["gamma"]
    alpha_t = 1.0 if options.get("alpha") is None else options["alpha"]
    e = np.exp(-40.0)
    assert KERNEL.value(np, y[:1], z[:1], **options)[0] == pytest.approx(
        alpha_t * e ** (gamma + 1.0), rel=1e-12)
    assert KERNEL.gradient(np, y[:1], z[:1], **options)[0] == pytest.approx(
        -alpha_t * (gamma + 1.0) * e ** (gamma + 1.0), rel=1e-12)
    # a confident wrong positive: l = 40 (1 - e^-40)^gamma, dl/dz = -1 to rounding
    assert KERNEL.value(np, y[1:2], z[1:2], **options)[0] == pytest.approx(alpha_t * 40.0)
    assert KERNEL.gradient(np, y[1:2], z[1:2], **options)[0] == pytest.approx(-alpha_t)


def test_the_kernel_takes_only_the_options_it_represents():
    import inspect

    accepted = {name for name, p in inspect.signature(KERNEL.gradient).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert accepted == {"gamma", "alpha"}
    defaults = lk.binary_focal_loss.spec.defaults
    for name in accepted:  # the kernel's defaults are the loss's
        assert inspect.signature(KERNEL.gradient).parameters[name].default == defaults[name]
