"""The backward pass written out (``losskit.nn._backprop``) equals autograd's, for every head.

Each case trains a batch of members (different seeds, rows and sample weights, and for
classification several losses in one step) for one epoch twice — with the hand-written
backward pass and through autograd — and compares the weights (float32 rounding) and the
history.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losskit.nn import MLP, Head, Trainer, _backprop
from losskit.nn import _batched as batched_module
from losskit.nn._batched import Member, fit_batched
from losskit.nn._heads import LOSS_HEADS


def _data(task: str, loss: str, n_targets: int = 1):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5)).astype(np.float32)
    signal = X[:, :1] - 0.5 * X[:, 1:2] + 0.3 * rng.normal(size=(90, n_targets))
    if task == "classification":
        classes = 3 if loss.startswith(("sparse", "categorical", "kl")) else 2
        cuts = np.quantile(signal[:, 0], np.arange(1, classes) / classes)
        return X, np.digitize(signal[:, 0], cuts).astype(np.int64), classes
    if loss in ("poisson_nll", "tweedie_deviance", "negative_binomial_nll"):
        return X, rng.poisson(np.exp(0.5 * signal)).astype(np.float32), None
    if loss == "gamma_nll":
        return X, np.exp(0.5 * signal).astype(np.float32), None
    if loss == "mean_absolute_percentage_error":
        return X, (3.0 + signal).astype(np.float32), None
    return X, signal.astype(np.float32), None


def _members(loss, task, *, activation="relu", optimizer="sgd", n_targets=1):
    X, y, classes = _data(task, loss if isinstance(loss, str) else "", n_targets)
    members = []
    for seed, rows, weighted in ((0, 80, False), (1, 73, True), (2, 61, False)):
        head = Head(loss, task=task, n_classes=classes,
                    n_targets=n_targets if task == "regression" else 1)
        model = MLP(5, head, hidden_layer_sizes=(7, 6), activation=activation,
                    random_state=seed)
        trainer = Trainer(optimizer=optimizer, learning_rate=0.005, epochs=1, batch_size=16,
                          random_state=seed, verbose=False)
        w = np.linspace(0.5, 2.0, rows) if weighted else None
        members.append(Member(model, trainer, X[:rows], y[:rows], sample_weight=w,
                              validation_data=(X[80:], y[80:])))
    return members


def _train(members, by_hand, monkeypatch):
    monkeypatch.setattr(batched_module, "_BY_HAND", by_hand)
    histories = fit_batched(members)
    for h in histories:
        assert not isinstance(h, Exception), h
    return histories, [[p.detach().clone() for p in m.model.parameters()] for m in members]


def _assert_same(a_members, b_members, monkeypatch):
    ha, wa = _train(a_members, True, monkeypatch)
    hb, wb = _train(b_members, False, monkeypatch)
    for m in a_members:
        assert m.how == "batched"
    for x, y in zip(wa, wb, strict=True):
        for p, q in zip(x, y, strict=True):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=2e-6)  # float32 rounding
    for x, y in zip(ha, hb, strict=True):
        assert list(x.rows[0]) == list(y.rows[0])
        for key in ("loss", "val_loss"):
            assert x[key] == pytest.approx(y[key], rel=1e-5, abs=1e-6)


HEADS = sorted((name, spec.task or ("classification" if name in (
    "hinge_loss", "squared_hinge_loss", "categorical_hinge_loss") else "regression"))
    for name, spec in LOSS_HEADS.items())


@pytest.mark.parametrize("loss, task", HEADS)
def test_every_head_trains_the_same_by_hand_as_through_autograd(loss, task, monkeypatch):
    _assert_same(_members(loss, task), _members(loss, task), monkeypatch)


def test_kernels_serve_the_common_heads_and_the_rest_go_through_autograd():
    # which heads get their output error from the declared kernel (the rest: autograd on the
    # loss alone, still without a graph through the network)
    kernel = {name for name, spec in LOSS_HEADS.items()
              if _backprop.raw_gradient(Head(name, task=spec.task or "regression",
                                             n_classes=2 if spec.activation == "sigmoid"
                                             else 3 if spec.task == "classification"
                                             else None)) is not None}
    assert {"binary_cross_entropy", "sparse_categorical_cross_entropy", "mean_squared_error",
            "poisson_nll", "binary_focal_loss"} <= kernel
    assert "gaussian_nll" not in kernel  # a family's split layout


@pytest.mark.parametrize("activation", ["tanh", "logistic", "identity"])
def test_other_activations_train_the_same_by_hand(activation, monkeypatch):
    _assert_same(_members("cross_entropy", "classification", activation=activation),
                 _members("cross_entropy", "classification", activation=activation),
                 monkeypatch)


def test_several_losses_targets_and_adam_in_one_batch(monkeypatch):
    def mixed():
        return [*_members("cross_entropy", "classification", optimizer="adam"),
                *_members("binary_focal_loss", "classification", optimizer="adam")]

    _assert_same(mixed(), mixed(), monkeypatch)
    _assert_same(_members("mean_squared_error", "regression", n_targets=2),
                 _members("mean_squared_error", "regression", n_targets=2), monkeypatch)


def test_a_callable_loss_trains_the_same_by_hand(monkeypatch):
    def cubic(y_true, y_pred):
        return torch.abs(y_pred - y_true)[:, 0] ** 3

    _assert_same(_members(cubic, "regression"), _members(cubic, "regression"), monkeypatch)


def test_gelu_trains_through_autograd(monkeypatch):
    seen = []
    monkeypatch.setattr(_backprop, "backward", lambda *a: seen.append(1))
    members = _members("cross_entropy", "classification", activation="gelu")
    assert all(not isinstance(h, Exception) for h in fit_batched(members))
    assert not seen


def test_large_steps_train_through_autograd(monkeypatch):
    # more rows a step than BY_HAND_ROWS: element-wise work dominates, autograd is used
    seen = []
    monkeypatch.setattr(_backprop, "backward", lambda *a: seen.append(1))
    members = _members("cross_entropy", "classification")
    for m in members:
        m.trainer.batch_size = batched_module.BY_HAND_ROWS // 2  # 3 members: 1.5x the rows
    assert all(not isinstance(h, Exception) for h in fit_batched(members))
    assert not seen


@pytest.mark.parametrize("dtype, low", [(torch.float32, -87.0), (torch.float64, -708.0)])
def test_the_native_bce_output_error_is_the_kernels(dtype, low):
    import losskit as lk
    from losskit.losses import spec_of

    kernel = spec_of(lk.binary_cross_entropy).kernel.gradient
    head = Head("binary_cross_entropy", task="classification", n_classes=2)
    grad = _backprop.raw_gradient(head)
    # the batch uses the native form (the kernel's portable one is five times slower)
    assert grad.form == "native"
    eta = torch.cat([torch.linspace(low, -low, 20001, dtype=dtype),
                     torch.tensor([0.0, -0.0, 17.0, -17.0, 40.0], dtype=dtype)])[:, None]
    eps = torch.finfo(dtype).eps
    soft = torch.rand(eta.shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    for y in (torch.ones_like(eta), torch.zeros_like(eta), soft):
        ours, ref = grad(y, eta), kernel(torch, y, eta)
        assert ours.dtype == dtype and torch.isfinite(ours).all()
        # hard labels: to rounding, relative (a confident, correct positive keeps its tiny
        # gradient: sigmoid(eta) - 1 would round to 0 at eta = 17); soft labels: to the
        # rounding of the two terms (at most 1), which cancel where y = sigmoid(eta)
        torch.testing.assert_close(ours, ref, rtol=4 * eps, atol=0 if y is not soft
                                   else 4 * eps)
    assert grad(torch.ones(1, 1, dtype=dtype), torch.full((1, 1), 17.0, dtype=dtype)) < 0
    # below the smallest normal sigmoid (float32: eta < -87.3), the native form gives 0 where
    # the kernel keeps a subnormal: a gradient below 1.2e-38
    tiny = torch.tensor([[low - 30.0]], dtype=dtype)
    assert 0 <= grad(torch.zeros_like(tiny), tiny) <= kernel(torch, torch.zeros_like(tiny), tiny)
    assert kernel(torch, torch.zeros_like(tiny), tiny) < torch.finfo(dtype).tiny


def test_losses_without_a_kernel_share_one_backward_pass(monkeypatch):
    # two callables and a kernel loss in one step: one autograd call a step for both callables,
    # the same weights as through autograd
    def cubic(y_true, y_pred):
        return torch.abs(y_pred - y_true)[:, 0] ** 3

    def quartic(y_true, y_pred):
        return ((y_pred - y_true) ** 4)[:, 0]

    def mixed():
        return [*_members(cubic, "regression"), *_members("mean_squared_error", "regression"),
                *_members(quartic, "regression")]

    calls = []
    real = torch.autograd.grad

    def counted(*args, **kwargs):
        calls.append(len(args[1]) if isinstance(args[1], (list, tuple)) else 1)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counted)
    members = mixed()
    _train(members, True, monkeypatch)
    steps = -(-80 // 16)  # the largest member's steps in its one epoch
    assert calls == [2] * steps  # both callables' leaves, one call a step
    monkeypatch.setattr(torch.autograd, "grad", real)
    _assert_same(mixed(), mixed(), monkeypatch)


def test_small_cpu_steps_take_the_kernels_numpy_path_with_the_same_numbers():
    """A small CPU step's output error from a kernel without a native form (binary focal)
    is the kernel's NumPy path; it equals the torch path to float rounding."""
    from losskit.losses._classification_catalogue import _binary_focal_gradient

    head = Head("binary_focal_loss", task="classification", n_classes=2)
    grad = _backprop.raw_gradient(head)
    assert grad is not None
    gen = torch.Generator().manual_seed(0)
    for dtype, rtol in ((torch.float32, 2e-6), (torch.float64, 1e-13)):
        y = (torch.rand(3, 32, 1, generator=gen) > 0.5).to(dtype)
        z = (torch.randn(3, 32, 1, generator=gen) * 8).to(dtype)
        small = grad(y, z)
        assert small.dtype == dtype and small.shape == z.shape
        torch.testing.assert_close(small, _binary_focal_gradient(torch, y, z), rtol=rtol,
                                   atol=0)
        big_y = y.repeat(1, 200, 1)  # past _NUMPY_ELEMENTS: the torch path
        big_z = z.repeat(1, 200, 1)
        assert big_z.numel() > _backprop._NUMPY_ELEMENTS
        torch.testing.assert_close(grad(big_y, big_z)[:, :32], small, rtol=rtol, atol=0)
