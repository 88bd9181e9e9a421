"""Binary focal loss's output error for hard labels (``losskit.nn._backprop._focal_error``):
the closed form a fit whose labels are all 0 or 1 trains with, equal to the loss's declared
kernel gradient to rounding, and used by the batched trainer.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import losskit as lk
from losskit.losses import spec_of
from losskit.nn import Head, _backprop
from losskit.nn import _batched as batched_module
from losskit.nn._batched import Member, fit_batched

KERNEL = spec_of(lk.binary_focal_loss).kernel.gradient
GAMMAS = (0.0, 0.5, 1.0, 2.0, 5.0)
ALPHAS = (None, 0.25, 0.0, 1.0)

#: a reference with more precision than float64 where the platform has one (x86: 80 bits)
_WIDE = np.longdouble if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps else None


def _head(**options):
    head = Head("binary_focal_loss", task="classification", n_classes=2)
    if options:
        head.spec = dataclasses.replace(head.spec, options={**head.spec.options, **options})
    return head


def _logits(dtype):
    grid = torch.linspace(-100.0, 100.0, 2001, dtype=torch.float64)
    rand = torch.randn(1000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    edges = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 17.0, -17.0, 30.0, -30.0, 88.0, -88.0],
                         dtype=torch.float64)
    return torch.cat([grid, 8.0 * rand, edges]).to(dtype)[:, None]


def _reference(y, z, gamma, alpha):
    """The kernel's gradient in a wider float where there is one (else float64)."""
    wide = _WIDE or np.float64
    ref = KERNEL(np, y.numpy().astype(wide), z.numpy().astype(wide), gamma=gamma, alpha=alpha)
    return np.asarray(ref)


def _assert_to_rounding(ours, ref, dtype, gamma):
    """Relative to rounding ((gamma + 2) ulps: q^gamma carries gamma roundings) where the true
    value is a normal number; within the smallest normal number below it."""
    info = torch.finfo(dtype)
    wide = ours.numpy().astype(ref.dtype)
    err = np.abs(wide - ref)
    normal = np.abs(ref) >= info.tiny
    rtol = (gamma + 2.0) * info.eps * (1 if _WIDE is not None or dtype == torch.float32 else 2)
    assert np.all(err[normal] <= rtol * np.abs(ref[normal])), float(
        np.max(err[normal] / np.abs(ref[normal])) / info.eps)
    assert np.all(err[~normal] <= info.tiny)
    # and the sign: never the wrong way, never a spurious 0
    assert np.all(np.sign(wide[normal]) == np.sign(ref[normal]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_the_hard_label_form_is_the_kernels_gradient_to_rounding(dtype, gamma, alpha):
    z = _logits(dtype)
    for label in (0.0, 1.0):
        y = torch.full_like(z, label)
        c = _backprop._focal_labels(y, alpha=alpha)
        ours = _backprop._focal_error(c, z, gamma=gamma, alpha=alpha)
        assert ours.dtype == dtype and ours.shape == z.shape
        assert torch.isfinite(ours).all()
        _assert_to_rounding(ours, _reference(y, z, gamma, alpha), dtype, gamma)
        # the kernel in the same dtype: the same numbers, to the rounding of both
        torch.testing.assert_close(ours, KERNEL(torch, y, z, gamma=gamma, alpha=alpha),
                                   rtol=2 * (gamma + 2) * torch.finfo(dtype).eps,
                                   atol=torch.finfo(dtype).tiny)


@pytest.mark.parametrize("dtype, z, gamma", [
    (torch.float32, 25.0, 2.0), (torch.float32, 17.0, 4.0), (torch.float32, 50.0, 0.5),
    (torch.float64, 200.0, 2.0), (torch.float64, 40.0, 5.0)])
def test_a_confident_correct_logit_keeps_its_tiny_gradient(dtype, z, gamma):
    # 1 - sigmoid(z) is 0 in this dtype: a form through 1 - p would give a gradient of 0
    eta = torch.tensor([[z], [-z]], dtype=dtype)
    assert 1.0 - torch.sigmoid(eta[0]) == 0
    y = torch.tensor([[1.0], [0.0]], dtype=dtype)  # both correct
    ours = _backprop._focal_error(_backprop._focal_labels(y, alpha=None), eta, gamma=gamma,
                                  alpha=None)
    ref = _reference(y, eta, gamma, None)
    assert np.all(np.abs(ref) >= torch.finfo(dtype).tiny)  # representable: not 0
    assert ours[0, 0] < 0 < ours[1, 0]
    _assert_to_rounding(ours, ref, dtype, gamma)


def test_gamma_0_is_binary_cross_entropys_gradient():
    z = _logits(torch.float64)
    for label in (0.0, 1.0):
        y = torch.full_like(z, label)
        ours = _backprop._focal_error(_backprop._focal_labels(y, alpha=None), z, gamma=0.0,
                                      alpha=None)
        bce = spec_of(lk.binary_cross_entropy).kernel.gradient(torch, y, z)
        torch.testing.assert_close(ours, bce, rtol=4e-16, atol=0)


@pytest.mark.parametrize("options", [{}, {"gamma": 0.5}, {"gamma": 5.0, "alpha": 0.25},
                                     {"alpha": 0.75}, {"gamma": 0.0, "alpha": 0.5}])
def test_the_output_error_takes_the_closed_form_for_hard_labels_only(options):
    head = _head(**options)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(64, 1, generator=gen, dtype=torch.float64) * 6
    hard = (torch.rand(64, 1, generator=gen, dtype=torch.float64) > 0.5).to(torch.float64)
    soft = torch.rand(64, 1, generator=gen, dtype=torch.float64)
    kernel_options = {"gamma": 2.0, "alpha": None, **options}
    expected = KERNEL(torch, hard, z, **kernel_options)

    closed = _backprop.raw_gradient(head, labels=hard)
    assert closed.form == "hard labels"
    torch.testing.assert_close(closed(hard, z), expected, rtol=1e-14, atol=0)
    # the epoch's labels mapped once, then each step from a view of them
    c = closed.labels(hard)
    torch.testing.assert_close(closed.step(c[:32], z[:32]), expected[:32], rtol=1e-14, atol=0)

    # soft labels (or none given): the kernel, which covers them
    for labels in (soft, None):
        error = _backprop.raw_gradient(head, labels=labels)
        assert error.form == "kernel"
        torch.testing.assert_close(error(soft, z), KERNEL(torch, soft, z, **kernel_options),
                                   rtol=1e-13, atol=0)


def test_a_tensor_option_keeps_the_kernel():
    head = _head(gamma=torch.tensor(2.0))
    assert _backprop.raw_gradient(head, labels=torch.ones(4, 1)).form == "kernel"


def _members(n_members=2):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(70, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=70) > 0).astype(np.int64)
    members = []
    for seed in range(n_members):
        model = lk.nn.MLP(4, Head("binary_focal_loss", task="classification", n_classes=2),
                          hidden_layer_sizes=(8,), random_state=seed)
        trainer = lk.nn.Trainer(optimizer="sgd", learning_rate=0.05, momentum=0.9, epochs=3,
                                batch_size=16, random_state=seed, verbose=False)
        members.append(Member(model, trainer, X[: 60 + 5 * seed], y[: 60 + 5 * seed]))
    return members


def test_batched_training_uses_the_closed_form_with_autogradss_weights(monkeypatch):
    calls = []
    real = _backprop._focal_error

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setitem(_backprop._HARD_LABEL_GRADIENTS, "binary_focal_loss",
                        (_backprop._focal_labels, counted))
    by_hand = _members()
    assert all(not isinstance(h, Exception) for h in fit_batched(by_hand))
    assert len(calls) == 3 * -(-65 // 16)  # every step of the 3 epochs
    monkeypatch.setattr(batched_module, "_BY_HAND", False)
    autograd = _members()
    assert all(not isinstance(h, Exception) for h in fit_batched(autograd))
    for a, b in zip(by_hand, autograd, strict=True):
        assert a.how == b.how == "batched"
        for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=2e-6)  # float32 rounding
