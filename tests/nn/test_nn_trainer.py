"""losskit.nn.Trainer: exact epoch losses, determinism, optimisers, schedules, early stopping,
clipping, the progress bar, checkpoints and resume after SIGKILL."""

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import losskit as lk  # noqa: E402
from losskit.nn import (  # noqa: E402
    MLP,
    Head,
    Trainer,
    TrainingDivergedError,
    TrainingDivergedWarning,
)
from losskit.nn.trainer import CHECKPOINT_NAME  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    return X, y


def _model(seed=0, **kw):
    return MLP(3, Head("cross_entropy", task="classification", n_classes=2),
               hidden_layer_sizes=(6,), random_state=seed, dtype=torch.float64, **kw)


def _same_weights(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))


def test_epoch_loss_is_exact_not_a_mean_of_batch_means():
    # a learning rate too small to move float64 weights: every batch sees the initial model,
    # so the epoch loss must be the full-data loss of that model. 50 samples in batches of
    # 16 leave a last batch of 2, where the mean of batch means differs.
    X, y = _data()
    model = _model()
    x, yt = torch.as_tensor(X), torch.as_tensor(y, dtype=torch.float64)
    with torch.no_grad():
        z = model(x)["output"][:, 0]
    full = float(lk.binary_cross_entropy(yt, z, from_logits=True))
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(3))
    means = [float(lk.binary_cross_entropy(yt[perm[i:i + 16]], z[perm[i:i + 16]],
                                           from_logits=True)) for i in range(0, 50, 16)]
    assert abs(np.mean(means) - full) > 1e-3
    hist = Trainer(epochs=1, batch_size=16, learning_rate=1e-300, momentum=0.0,
                   random_state=3).fit(model, X, y)
    assert hist["loss"][0] == pytest.approx(full, rel=1e-12)
    acc = float(lk.metrics.accuracy_score(yt, torch.sigmoid(z)))
    assert hist["accuracy"][0] == pytest.approx(acc, rel=1e-12)


def test_validation_loss_and_metrics_are_those_of_the_final_model():
    X, y = _data(80)
    model = _model()
    hist = Trainer(epochs=3, batch_size=8, learning_rate=0.05, random_state=0,
                   metrics=["accuracy", "brier_score_loss"]).fit(
        model, X[:60], y[:60], validation_data=(X[60:], y[60:]))
    with torch.no_grad():
        z = model(torch.as_tensor(X[60:]))["output"][:, 0]
    yv = torch.as_tensor(y[60:], dtype=torch.float64)
    row = hist.rows[-1]
    assert row["val_loss"] == pytest.approx(
        float(lk.binary_cross_entropy(yv, z, from_logits=True)), rel=1e-12)
    assert row["val_accuracy"] == pytest.approx(
        float(lk.metrics.accuracy_score(yv, torch.sigmoid(z))), rel=1e-12)
    assert row["val_brier_score_loss"] == pytest.approx(
        float(lk.metrics.brier_score_loss(yv, torch.sigmoid(z))), rel=1e-12)
    assert set(hist.keys()) >= {"epoch", "loss", "val_loss", "lr", "time", "accuracy"}


def test_sample_weights_weight_the_epoch_loss():
    X, y = _data(30)
    w = np.linspace(0.1, 3.0, 30)
    model = _model()
    x, yt = torch.as_tensor(X), torch.as_tensor(y, dtype=torch.float64)
    with torch.no_grad():
        z = model(x)["output"][:, 0]
    expected = float(lk.binary_cross_entropy(yt, z, from_logits=True,
                                             sample_weight=torch.as_tensor(w)))
    hist = Trainer(epochs=1, batch_size=7, learning_rate=1e-300, momentum=0.0,
                   random_state=0).fit(model, X, y, sample_weight=w)
    assert hist["loss"][0] == pytest.approx(expected, rel=1e-12)


def test_deterministic_with_random_state():
    X, y = _data()
    runs = []
    for seed in (5, 5, 6):
        model = _model()
        hist = Trainer(epochs=3, batch_size=8, learning_rate=0.1, random_state=seed).fit(
            model, X, y)
        runs.append((model, hist["loss"]))
    assert _same_weights(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert not _same_weights(runs[0][0], runs[2][0])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_matches_a_hand_written_pytorch_loop(optimizer):
    """Same permutations, losses and optimiser steps as a plain PyTorch loop."""
    X, y = _data(40)
    ours = _model()
    Trainer(optimizer=optimizer, epochs=3, batch_size=8, learning_rate=0.05, momentum=0.8,
            weight_decay=1e-3, random_state=11).fit(ours, X, y)
    ref = _model()
    params = list(ref.parameters())
    opt = (torch.optim.SGD(params, lr=0.05, momentum=0.8, weight_decay=1e-3)
           if optimizer == "sgd" else torch.optim.Adam(params, lr=0.05, weight_decay=1e-3))
    gen = torch.Generator().manual_seed(11)
    x, yt = torch.as_tensor(X), torch.as_tensor(y, dtype=torch.float64)
    for _ in range(3):
        perm = torch.randperm(40, generator=gen)
        for i in range(0, 40, 8):
            idx = perm[i:i + 8]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                ref(x[idx])["output"][:, 0], yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_learning_rate_schedules():
    X, y = _data(20)
    hist = Trainer(epochs=5, lr_schedule="step", lr_step=2, lr_decay=0.5, learning_rate=0.1,
                   random_state=0).fit(_model(), X, y)
    assert hist["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    hist = Trainer(epochs=4, lr_schedule="cosine", learning_rate=0.1, random_state=0).fit(
        _model(), X, y)
    assert hist["lr"] == pytest.approx([0.1 * (1 + math.cos(math.pi * e / 4)) / 2
                                        for e in range(4)])
    hist = Trainer(epochs=3, lr_schedule="exponential", lr_decay=0.9, learning_rate=0.1,
                   random_state=0).fit(_model(), X, y)
    assert hist["lr"] == pytest.approx([0.1, 0.09, 0.081])


def test_gradient_clipping_bounds_the_step():
    X, y = _data(20)
    model = _model()
    before = torch.cat([p.detach().clone().reshape(-1) for p in model.parameters()])
    Trainer(epochs=1, batch_size=20, learning_rate=1.0, momentum=0.0, clip_grad_norm=1e-3,
            random_state=0).fit(model, X, y)
    after = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert float(torch.linalg.vector_norm(after - before)) == pytest.approx(1e-3, rel=1e-5)


def test_early_stopping_restores_the_best_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = rng.integers(0, 2, size=40)  # labels unrelated to X: validation loss soon rises
    model = MLP(3, Head("cross_entropy", task="classification", n_classes=2),
                hidden_layer_sizes=(64,), random_state=0, dtype=torch.float64)
    hist = Trainer(epochs=200, learning_rate=0.2, batch_size=8, early_stopping=True,
                   patience=3, random_state=0).fit(model, X[:30], y[:30],
                                                   validation_data=(X[30:], y[30:]))
    assert hist.stopped == "early_stopping" and len(hist) < 200
    best = int(np.nanargmin(hist["val_loss"]))
    assert hist.best_epoch == best + 1
    assert len(hist) == hist.best_epoch + 3
    with torch.no_grad():
        z = model(torch.as_tensor(X[30:]))["output"][:, 0]
    restored = float(lk.binary_cross_entropy(torch.as_tensor(y[30:], dtype=torch.float64), z,
                                             from_logits=True))
    assert restored == pytest.approx(hist["val_loss"][best], rel=1e-12)


def _finite(model):
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_divergence_retries_then_raises_with_the_last_finite_weights():
    # unscaled features and target: SGD diverges at every learning rate tried
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)) * 100
    y = X @ np.array([3.0, 1.0, 2.0]) * 100
    model = MLP(3, Head(), hidden_layer_sizes=(8,), random_state=0, dtype=torch.float64)
    with pytest.warns(TrainingDivergedWarning, match="retrying with learning rate") as rec, \
            pytest.raises(TrainingDivergedError, match="Trainer: loss 'mean_squared_error' "
                          r"diverged at epoch \d+: the training loss (became|exploded to) .*"
                          r"after 3 retries .*\(0\.1, 0\.01, 0\.001\)\. Lower the learning "
                          "rate") as info:
        Trainer(epochs=50, learning_rate=1.0, random_state=0).fit(model, X, y)
    assert len([w for w in rec if w.category is TrainingDivergedWarning]) == 3
    assert isinstance(info.value, ValueError)  # the CLI's exit status 2
    err = info.value
    assert err.loss == "mean_squared_error" and err.history.stopped == "diverged"
    assert [r["new_learning_rate"] for r in err.history.retries] == \
        pytest.approx([0.1, 0.01, 0.001])
    assert all(math.isfinite(v) for v in err.history["loss"])
    assert _finite(model)  # never NaN weights
    assert "diverged" in err.history.diagnose()


def test_a_retry_with_a_smaller_learning_rate_recovers():
    X, y = _data(200)
    Xs = X * 30  # SGD at learning rate 1 diverges on these; 0.1 does not
    model = _model()
    with pytest.warns(TrainingDivergedWarning, match=r"retry 1 of 3") as rec:
        hist = Trainer(epochs=20, learning_rate=1.0, random_state=0).fit(model, Xs, y)
    assert len(rec) == len(hist.retries) >= 1
    first = hist.retries[0]
    assert first["learning_rate"] == 1.0 and first["new_learning_rate"] == pytest.approx(0.1)
    assert first["restored_epoch"] < first["epoch"]
    assert len(hist) == 20 and hist.stopped == "epochs"  # one row per epoch, none lost
    assert [r["epoch"] for r in hist.rows] == list(range(1, 21))
    assert all(math.isfinite(v) for v in hist["loss"]) and _finite(model)
    assert hist.rows[-1]["lr"] == pytest.approx(1.0 * 0.1 ** len(hist.retries))
    assert hist.to_dict()["retries"] == hist.retries
    from losskit.nn import History

    assert History.from_dict(json.loads(json.dumps(hist.to_dict()))).retries == hist.retries


def test_a_nan_gradient_never_leaves_nan_weights():
    def loss(t, p):  # finite value, NaN gradient: d sqrt(u) at u = 0 times 0
        return torch.mean((t - p) ** 2, dim=1) + torch.sqrt(p - p)[:, 0]  # inf - inf

    X, _ = _data(40)
    model = MLP(3, Head(loss), hidden_layer_sizes=(4,), random_state=0, dtype=torch.float64)
    with pytest.warns(TrainingDivergedWarning), \
            pytest.raises(TrainingDivergedError, match="became"):
        Trainer(epochs=5, random_state=0, divergence_retries=1).fit(model, X, X[:, 0])
    assert _finite(model)


def test_no_retries_raises_at_once():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)) * 100
    model = MLP(3, Head(), hidden_layer_sizes=(8,), random_state=0, dtype=torch.float64)
    with pytest.raises(TrainingDivergedError, match=r"Trainer: loss 'mean_squared_error' "
                       r"diverged at epoch 1: the training loss exploded to \S+ \(the "
                       r"untrained network's: \S+\) at learning rate 1\. Lower"):
        Trainer(epochs=20, learning_rate=1.0, random_state=0, divergence_retries=0).fit(
            model, X, X @ np.array([3.0, 1.0, 2.0]) * 100)
    assert _finite(model)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"optimizer": "rmsprop"}, "Trainer: optimizer is 'rmsprop'. Pass one of sgd, adam"),
    ({"learning_rate": 0.0}, "Trainer: learning_rate is 0.0"),
    ({"learning_rate": float("nan")}, "Trainer: learning_rate is nan"),
    ({"momentum": 1.0}, "Trainer: momentum is 1.0"),
    ({"batch_size": 0}, "Trainer: batch_size is 0"),
    ({"epochs": 2.5}, "Trainer: epochs is 2.5"),
    ({"lr_schedule": "linear"}, "Trainer: lr_schedule is 'linear'"),
    ({"clip_grad_norm": -1.0}, "Trainer: clip_grad_norm is -1.0"),
    ({"verbose": "yes"}, "Trainer: verbose is 'yes'"),
    ({"divergence_retries": -1}, "Trainer: divergence_retries is -1"),
])
def test_trainer_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Trainer(**kwargs)


def test_bad_data_is_rejected_before_training():
    X, y = _data(10)
    with pytest.raises(ValueError, match="Trainer: X has NaN"):
        Trainer(epochs=1).fit(_model(), np.where(X > 1, np.nan, X), y)
    with pytest.raises(ValueError, match=r"Trainer: X has shape \(10, 2\)"):
        Trainer(epochs=1).fit(_model(), X[:, :2], y)
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\]"):
        Trainer(epochs=1).fit(_model(), X, np.arange(10) % 3)
    with pytest.raises(ValueError, match="Trainer: y has 9 samples"):
        Trainer(epochs=1).fit(_model(), X, y[:9])
    with pytest.raises(ValueError, match="Trainer: sample_weight"):
        Trainer(epochs=1).fit(_model(), X, y, sample_weight=-np.ones(10))
    with pytest.raises(TypeError, match="Trainer: model is"):
        Trainer(epochs=1).fit("mlp", X, y)
    # the loss checks its own domain once, up front: negative counts for a Poisson head
    model = MLP(3, Head("poisson_nll"), hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match="poisson_nll: y_true"):
        Trainer(epochs=1).fit(model, X, -np.ones(10))


def test_progress_bar_only_when_asked_or_interactive(capsys):
    X, y = _data(20)
    Trainer(epochs=2, random_state=0).fit(_model(), X, y)  # "auto": stderr is not a tty
    assert capsys.readouterr().err == ""
    Trainer(epochs=2, random_state=0, verbose=True).fit(_model(), X, y)
    err = capsys.readouterr().err
    assert "losskit.nn" in err and "2/2" in err


def test_checkpoint_is_written_each_epoch_atomically(tmp_path):
    from safetensors import safe_open

    X, y = _data(20)
    seen = []

    def look(row):
        path = tmp_path / CHECKPOINT_NAME
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads(fh.metadata()["losskit"])
        seen.append(meta["epoch"])
        assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]  # no temp file left

    Trainer(epochs=3, random_state=0, checkpoint_dir=tmp_path, callbacks=[look]).fit(
        _model(), X, y)
    assert seen == [1, 2, 3]


_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    from losskit.nn import MLP, Head, Trainer
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 3)); y = (X[:, 0] > 0).astype(np.int64)

    def die(row):
        if row["epoch"] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

    model = MLP(3, Head("cross_entropy", task="classification", n_classes=2),
                hidden_layer_sizes=(6,), random_state=0, dtype=torch.float64)
    Trainer(epochs=6, batch_size=8, learning_rate=0.1, optimizer=sys.argv[3],
            lr_schedule="step", lr_step=2, early_stopping=True, patience=50,
            random_state=1, checkpoint_dir=sys.argv[1], callbacks=[die]).fit(
        model, X[:40], y[:40], validation_data=(X[40:], y[40:]))
""")


@pytest.mark.parametrize("optimizer", ["adam"])  # SGD: test_estimator_resume_from_checkpoint
def test_resume_after_sigkill_gives_the_uninterrupted_result(tmp_path, optimizer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 3))
    y = (X[:, 0] > 0).astype(np.int64)

    def trainer(ckpt):
        return Trainer(epochs=6, batch_size=8, learning_rate=0.1, optimizer=optimizer,
                       lr_schedule="step", lr_step=2, early_stopping=True, patience=50,
                       random_state=1, checkpoint_dir=ckpt)

    script = tmp_path / "run.py"
    script.write_text(_KILLED_RUN)
    ckpt = tmp_path / "ckpt"
    proc = subprocess.run([sys.executable, str(script), str(ckpt), "3", optimizer],
                          env={**os.environ, "PYTHONPATH": str(Path(lk.__file__).parents[1])})
    assert proc.returncode == -signal.SIGKILL
    resumed = _model()
    hist = trainer(ckpt).fit(resumed, X[:40], y[:40], validation_data=(X[40:], y[40:]),
                             resume=True)
    assert [r["epoch"] for r in hist.rows] == [1, 2, 3, 4, 5, 6]
    straight = _model()
    full = trainer(tmp_path / "other").fit(straight, X[:40], y[:40],
                                           validation_data=(X[40:], y[40:]))
    # the same weights; compared to 1e-12 rather than bitwise because BLAS kernels may pick
    # different code paths for differently aligned buffers in the two processes
    for p, q in zip(resumed.state_dict().values(), straight.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hist["loss"], full["loss"], rtol=1e-12)
    np.testing.assert_allclose(hist["val_loss"], full["val_loss"], rtol=1e-12)
    # and not by accident: an interrupted run that restarts from scratch differs
    assert not _same_weights(resumed, _model())


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    X, y = _data(20)
    Trainer(epochs=1, checkpoint_dir=tmp_path, random_state=0).fit(_model(), X, y)
    other = MLP(3, Head("cross_entropy", task="classification", n_classes=2),
                hidden_layer_sizes=(7,), random_state=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="of a different model"):
        Trainer(epochs=2, checkpoint_dir=tmp_path).fit(other, X, y, resume=True)
    with pytest.raises(ValueError, match="Trainer: resume is True but checkpoint_dir"):
        Trainer(epochs=2).fit(other, X, y, resume=True)


@pytest.mark.parametrize("loss,task,n_classes,target", [
    ("cross_entropy", "classification", 3, lambda y: y % 3),
    ("cross_entropy", "classification", 2, lambda y: y),
    ("mean_squared_error", "regression", None, lambda y: y.astype(np.float64)),
])
def test_batch_losses_take_the_native_kernel(monkeypatch, loss, task, n_classes, target):
    """Each minibatch's loss runs the fused kernel (the speed of losskit.nn rests on it)."""
    X, y = _data(40)
    head = Head(loss, task=task, n_classes=n_classes)
    fn = head.spec.fn
    kernel = fn.spec.native
    taken = []

    def counting(y_true, y_pred, kwargs):
        value = kernel(y_true, y_pred, kwargs)
        taken.append(value is not None)
        return value

    monkeypatch.setattr(fn, "spec", dataclasses.replace(fn.spec, native=counting))
    model = MLP(3, head, hidden_layer_sizes=(6,), random_state=0, dtype=torch.float32)
    Trainer(epochs=2, batch_size=8, random_state=0).fit(model, X, target(y))
    assert len(taken) >= 10 and all(taken)


def test_validation_targets_are_checked_before_training():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = rng.poisson(2.0, size=30).astype(float)
    y_val = y[:10].copy()
    y_val[3] = -1.0  # outside the Poisson domain, in the validation rows only
    model = MLP(3, Head("poisson_nll"), hidden_layer_sizes=(4,), random_state=0,
                dtype=torch.float64)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="poisson_nll"):
        Trainer(epochs=3, random_state=0).fit(model, X, y, validation_data=(X[:10], y_val))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
