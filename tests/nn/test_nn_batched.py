"""Many networks trained as one (``losskit.nn._batched.fit_batched``): each member equals its
sequential fit with the same seed, to float32 rounding."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import losskit as lk
from losskit.nn import MLP, Head, MLPClassifier, MLPRegressor, Trainer, TrainingDivergedError
from losskit.nn import trainer as trainer_module
from losskit.nn._batched import Member, batchable, fit_batched
from losskit.nn.estimators import fit_many


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(170, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=170) > 0).astype(np.int64)
    return X, y


def _member(data, loss, seed, rows, *, epochs=3, optimizer="sgd", weights=False, **kw):
    X, y = data
    model = MLP(4, Head(loss, task="classification", n_classes=2), hidden_layer_sizes=(8,),
                random_state=seed)
    trainer = Trainer(optimizer=optimizer, learning_rate=0.05, epochs=epochs, batch_size=16,
                      random_state=seed, verbose=False, **kw)
    w = np.linspace(0.5, 2.0, rows) if weights else None
    return Member(model, trainer, X[:rows], y[:rows], sample_weight=w,
                  validation_data=(X[140:], y[140:]))


def _sequential(member):
    return member.trainer.fit(member.model, member.X, member.y,
                              sample_weight=member.sample_weight,
                              validation_data=member.validation_data)


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


# the members differ in loss, seed, rows (so in steps per epoch) and sample weights
CASES = [("cross_entropy", 0, 120, False), ("binary_focal_loss", 1, 111, True),
         ("hinge_loss", 2, 97, False), ("cross_entropy", 3, 120, True)]


@pytest.mark.parametrize("optimizer, extra", [("sgd", {}), ("sgd", {"nesterov": True,
                                                                    "weight_decay": 1e-3}),
                                              ("adam", {}), ("adamw", {"weight_decay": 0.1})])
def test_each_member_starts_sees_and_steps_as_its_sequential_fit(data, optimizer, extra):
    members = [_member(data, *c[:3], epochs=1, optimizer=optimizer, weights=c[3], **extra)
               for c in CASES]
    start = [_weights(m.model) for m in members]
    histories = fit_batched(members)
    for case, member, initial, history in zip(CASES, members, start, histories, strict=True):
        ref = _member(data, *case[:3], epochs=1, optimizer=optimizer, weights=case[3],
                      **extra)
        for a, b in zip(initial, _weights(ref.model), strict=True):
            assert torch.equal(a, b)  # the same seeded initialisation
        ref_history = _sequential(ref)
        assert member.how == "batched"
        for a, b in zip(_weights(member.model), _weights(ref.model), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=2e-6)  # float32 rounding
        assert list(history.rows[0]) == list(ref_history.rows[0])  # the same columns
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            assert history[key] == pytest.approx(ref_history[key], rel=1e-5, abs=1e-6)
        assert history.baseline == pytest.approx(ref_history.baseline)
        assert history.settings == ref_history.settings


def test_the_shuffling_is_the_sequential_fits(data, monkeypatch):
    # the same permutations from the same seeded generators, epoch after epoch
    drawn: list[tuple[int, ...]] = []
    original = torch.randperm

    def recording(n, *args, **kwargs):
        perm = original(n, *args, **kwargs)
        drawn.append(tuple(perm.tolist()))
        return perm

    monkeypatch.setattr(torch, "randperm", recording)
    members = [_member(data, "cross_entropy", seed, 50, epochs=2) for seed in (5, 6)]
    fit_batched(members)
    batched = list(drawn)
    drawn.clear()
    for seed in (5, 6):
        _sequential(_member(data, "cross_entropy", seed, 50, epochs=2))
    # batched: epoch-major over the members; sequential: member-major over the epochs
    assert sorted(batched) == sorted(drawn) and batched[0] == drawn[0]
    assert batched[1] == drawn[2]


def test_early_stopping_is_per_member_and_stopped_members_do_not_move(data):
    cases = [("cross_entropy", s, 120) for s in range(3)] + [("hinge_loss", 7, 90)]
    kw = {"epochs": 25, "early_stopping": True, "patience": 2, "optimizer": "adam"}
    members = [_member(data, *c, **kw) for c in cases]
    histories = fit_batched(members)
    stops = []
    for case, member, history in zip(cases, members, histories, strict=True):
        ref = _member(data, *case, **kw)
        ref_history = _sequential(ref)
        assert (len(history), history.stopped, history.best_epoch) == \
            (len(ref_history), ref_history.stopped, ref_history.best_epoch)
        # the best epoch's weights restored, equal to the sequential fit's
        for a, b in zip(_weights(member.model), _weights(ref.model), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        stops.append(len(history))
    assert len(set(stops)) > 1  # the members really stopped at different epochs
    assert all(h.stopped == "early_stopping" for h in histories if len(h) < 25)


def test_full_runs_give_the_sequential_scores(data):
    X, _ = data
    members = [_member(data, *c[:3], epochs=15, weights=c[3]) for c in CASES]
    fit_batched(members)
    for case, member in zip(CASES, members, strict=True):
        ref = _member(data, *case[:3], epochs=15, weights=case[3])
        _sequential(ref)
        with torch.no_grad():
            a = member.model(torch.from_numpy(X[140:]))["output"]
            b = ref.model(torch.from_numpy(X[140:]))["output"]
        assert torch.equal(a > 0, b > 0)  # the same test predictions
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_members_with_and_without_validation_data_train_apart(data):
    with_val = _member(data, "cross_entropy", 0, 100, epochs=4, early_stopping=True,
                       patience=1)
    without = _member(data, "cross_entropy", 1, 100, epochs=4, early_stopping=True,
                      patience=1)
    without.validation_data = None
    histories = fit_batched([with_val, without])
    assert "val_loss" in histories[0].rows[0] and "val_loss" not in histories[1].rows[0]
    ref = _member(data, "cross_entropy", 0, 100, epochs=4, early_stopping=True, patience=1)
    assert histories[0]["val_loss"] == pytest.approx(_sequential(ref)["val_loss"], rel=1e-5)


def test_epoch_metrics_false_records_the_metrics_in_the_last_row_only(data):
    members = [_member(data, "cross_entropy", 0, 100, epochs=3)]
    (history,) = fit_batched(members, epoch_metrics=False)
    assert "accuracy" not in history.rows[0] and "val_accuracy" not in history.rows[1]
    assert "accuracy" in history.rows[-1] and "val_accuracy" in history.rows[-1]
    assert all(math.isfinite(v) for v in history["loss"])


def test_a_diverging_member_is_trained_alone_and_fails_as_sequentially(data):
    X, y = data
    # one member's inputs are huge: its loss explodes at this learning rate, the others' not
    big = Member(MLP(4, Head("cross_entropy", task="classification", n_classes=2),
                     hidden_layer_sizes=(8,), random_state=1),
                 Trainer(learning_rate=0.05, epochs=3, batch_size=16, random_state=1,
                         verbose=False, divergence_retries=0), X[:100] * 1e6, y[:100])
    fine = Member(MLP(4, Head("cross_entropy", task="classification", n_classes=2),
                      hidden_layer_sizes=(8,), random_state=2),
                  Trainer(learning_rate=0.05, epochs=3, batch_size=16, random_state=2,
                          verbose=False, divergence_retries=0), X[:100], y[:100])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = fit_batched([big, fine])
    assert isinstance(results[0], TrainingDivergedError)  # never a silent score
    assert big.how == "sequential (diverged in the batch)"
    assert fine.how == "batched" and len(results[1]) == 3


def test_a_loss_that_raises_in_the_batch_falls_back_to_one_at_a_time(data):
    X, y = data

    def fragile(y_true, y_pred):
        # a training step on more than one minibatch of rows: only in the batch
        if y_pred.requires_grad and y_true.shape[0] > 16:
            raise FloatingPointError("too many rows")
        return ((y_true - y_pred) ** 2).sum(-1)

    members = [Member(MLP(4, Head(fragile, task="classification", n_classes=2),
                          hidden_layer_sizes=(8,), random_state=s),
                      Trainer(learning_rate=0.05, epochs=2, batch_size=16, random_state=s,
                              verbose=False), X[:64], y[:64]) for s in (0, 1)]
    results = fit_batched(members)
    assert all(len(h) == 2 for h in results)
    assert all(m.how == "sequential (the batch raised FloatingPointError)" for m in members)


def test_members_the_batch_cannot_train_are_trained_sequentially(data, tmp_path):
    member = _member(data, "cross_entropy", 0, 80, checkpoint_dir=tmp_path)
    assert batchable(member) == "checkpoints"
    (history,) = fit_batched([member])
    assert member.how == "sequential (checkpoints)" and len(history) == 3
    bad = _member(data, "cross_entropy", 0, 80)
    bad.y = bad.y + 5  # labels out of range: the member's error, returned, not raised
    good = _member(data, "cross_entropy", 1, 80)
    results = fit_batched([bad, good])
    assert isinstance(results[0], ValueError) and "class indices" in str(results[0])
    assert len(results[1]) == 3


def test_fit_many_and_fit_equal_the_sequential_trainer(data, monkeypatch):
    import losskit.nn.estimators as estimators_module

    X, y = data
    Xr = X.astype(np.float64)
    yr = X[:, 0] * 3.0 + 10.0
    kw = {"hidden_layer_sizes": (6,), "epochs": 4, "random_state": 3, "verbose": False,
          "optimizer": "sgd", "learning_rate": 0.05}
    models = [MLPClassifier("cross_entropy", **kw), MLPClassifier("binary_focal_loss", **kw),
              MLPRegressor("huber_loss", **kw), MLPClassifier("hinge_loss", **kw)]
    data_ = [(X, y), (X, y), (Xr, yr), (X, y + 7)]
    errors = fit_many(models, data_)
    assert errors[:3] == [None, None, None] and errors[3] is None
    one = [type(model)(model.loss, **kw).fit(*args)
           for model, args in zip(models, data_, strict=True)]
    # the estimators' own fit is the batch of one; force Trainer.fit for the reference
    monkeypatch.setattr(estimators_module, "batchable", lambda member: "forced")
    for model, single, args in zip(models, one, data_, strict=True):
        alone = type(model)(model.loss, **kw).fit(*args)
        for other in (model, single):
            np.testing.assert_allclose(other.predict(args[0][:20]),
                                       alone.predict(args[0][:20]), rtol=1e-4, atol=1e-5)
            assert len(other.history_) == len(alone.history_)
            assert other.history_["loss"] == pytest.approx(alone.history_["loss"], rel=1e-5)
    wrong = fit_many([MLPClassifier(**kw)], [(X, np.zeros(len(X)))])
    assert isinstance(wrong[0], ValueError) and "1 class" in str(wrong[0])


def test_thread_policy_uses_one_thread_for_small_steps_unless_chosen(monkeypatch):
    from losskit.nn.trainer import thread_policy

    before = torch.get_num_threads()
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(key, raising=False)
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(trainer_module, "_IMPORT_THREADS", 2)  # as if torch's default
        with thread_policy(1000):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with thread_policy(trainer_module.SMALL_STEP):  # a large step keeps the threads
            assert torch.get_num_threads() == 2
        monkeypatch.setattr(trainer_module, "_IMPORT_THREADS", 4)  # the user chose 2
        with thread_policy(1000):
            assert torch.get_num_threads() == 2
        monkeypatch.setattr(trainer_module, "_IMPORT_THREADS", 2)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # chosen in the environment
        with thread_policy(1000):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_compare_batched_equals_one_at_a_time_and_records_failures():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = X[:, 0] - 2 * X[:, 1] + 0.3 * rng.normal(size=90)

    def nan_loss(y_true, y_pred):  # diverges on every fold: never a score
        return (y_true - y_pred).abs().mean(-1) * float("nan")

    losses = {"mse": "mse", "huber": "huber_loss", "broken": nan_loss}
    params = {"epochs": 6, "hidden_layer_sizes": (8,), "divergence_retries": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batched = lk.compare(X, y, losses, metric="rmse", n_splits=3, n_repeats=2,
                             estimator_params=params)
        alone = lk.compare(X, y, losses, metric="rmse", n_splits=3, n_repeats=2,
                           estimator_params=params, batched=False)
    assert batched.settings["batched"] and not alone.settings["batched"]
    np.testing.assert_allclose(batched.scores[:2], alone.scores[:2], rtol=1e-4)
    assert np.isnan(batched.scores[2]).all()
    assert [(f["loss"], f["fold"]) for f in batched.failures] == \
        [(f["loss"], f["fold"]) for f in alone.failures] == [("broken", j) for j in range(6)]
    assert all("training diverged" in f["error"] for f in batched.failures)
    with pytest.raises(TypeError, match="batched"):
        lk.compare(X, y, losses, batched="yes")


def test_a_single_fit_does_not_import_torch_dynamo():
    # the batch of one has its own optimiser; torch.optim's first use imports torch._dynamo
    code = """
import sys
import numpy as np
from losskit.nn import MLPRegressor
X = np.random.default_rng(0).normal(size=(50, 3))
MLPRegressor(hidden_layer_sizes=(4,), epochs=2, verbose=False).fit(X, X[:, 0])
print("torch._dynamo" in sys.modules)
"""
    import subprocess
    import sys

    src = str(Path(lk.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": src})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def _counting_metric_values(monkeypatch):
    """Count the calls of the metric computation the batch defers."""
    from losskit.nn import _batched

    calls = []
    real = _batched._metric_values

    def counted(*args, **kwargs):
        calls.append(args[5])  # the prefix: "" (training) or "val_"
        return real(*args, **kwargs)

    monkeypatch.setattr(_batched, "_metric_values", counted)
    return calls


def test_metrics_are_computed_when_the_history_is_read_and_equal_the_eager_ones(
        data, monkeypatch):
    calls = _counting_metric_values(monkeypatch)
    member = _member(data, "cross_entropy", 0, 100, epochs=4)
    (history,) = fit_batched([member])
    # a fit nobody reads the metrics of does not compute them (the old batch computed them
    # every epoch)
    assert calls == [] and len(history) == 4
    accuracy = history["accuracy"]
    assert calls.count("") == 4 and calls.count("val_") == 4
    assert all(0 <= v <= 1 for v in accuracy + history["val_accuracy"])
    # read once: computed once
    assert history["accuracy"] == accuracy and len(calls) == 8
    # the sequential fit computes them during training: the same values
    ref = _sequential(_member(data, "cross_entropy", 0, 100, epochs=4))
    assert list(history.rows[0]) == list(ref.rows[0])
    for key in ("accuracy", "val_accuracy"):
        assert history[key] == pytest.approx(ref[key], abs=1e-12)


def test_deferred_metrics_survive_pickling_and_copies(data):
    import copy
    import pickle

    X, y = data
    model = MLPClassifier(hidden_layer_sizes=(8,), epochs=3, verbose=False,
                          random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.history_.rows == model.history_.rows
    assert all(math.isfinite(v) for v in clone.history_["accuracy"])
    history = fit_batched([_member(data, "cross_entropy", 1, 100, epochs=2)])[0]
    copied = copy.deepcopy(history)
    assert copied == history and "_deferred" not in copied.__dict__
    assert all(math.isfinite(v) for v in copied["val_accuracy"])


def test_deferred_metrics_are_computed_past_the_memory_budget(data, monkeypatch):
    from losskit.nn import _batched

    calls = _counting_metric_values(monkeypatch)
    monkeypatch.setattr(_batched, "DEFERRED_BYTES", 0)  # every epoch is past it
    (history,) = fit_batched([_member(data, "cross_entropy", 0, 100, epochs=3)])
    assert len(calls) == 6  # computed during training, not kept for later
    assert "_deferred" not in history.__dict__ or not history.__dict__["_deferred"]


def test_deferred_metrics_are_computed_on_one_thread_like_the_training(data, monkeypatch):
    if trainer_module._IMPORT_THREADS == 1 or any(
            os.environ.get(k, "").strip() for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        pytest.skip("one torch thread by default, or a chosen count: nothing to check")
    from losskit.nn import _batched

    threads = []
    real = _batched._metric_values

    def recording(*args, **kwargs):
        threads.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(_batched, "_metric_values", recording)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(trainer_module._IMPORT_THREADS)  # the default count
        (history,) = fit_batched([_member(data, "cross_entropy", 0, 100, epochs=2)])
        history["accuracy"]  # read outside the batch: computed now
        assert threads == [1] * 4
        assert torch.get_num_threads() == trainer_module._IMPORT_THREADS
    finally:
        torch.set_num_threads(before)


def _one_hot_softmax(y_true, y_pred):  # a callable: one-hot targets, softmax probabilities
    return lk.categorical_cross_entropy(y_true, y_pred, reduction="none", check_values=False)


@pytest.mark.parametrize("head", [
    Head("binary_cross_entropy", task="classification", n_classes=2),  # sigmoid, 1 output
    Head("hinge_loss", task="classification", n_classes=2),
    Head(_one_hot_softmax, task="classification", n_classes=2),  # softmax, 2 outputs
    Head("sparse_categorical_cross_entropy", task="classification", n_classes=3),
    Head(_one_hot_softmax, task="classification", n_classes=3),
    Head("mean_squared_error", task="regression"),
    Head("mean_squared_error", task="regression", n_targets=2)])
def test_metrics_of_a_group_at_once_equal_the_metric_functions(head):
    from losskit.nn import _batched
    from losskit.nn._heads import metric_function
    from losskit.nn.trainer import _metric_values, _saturation

    gen = torch.Generator().manual_seed(0)
    M, N, o = 3, 40, head.n_outputs
    n = [40, 33, 17]  # the rows of each member, then padding
    raw = 4 * torch.randn(M, N, o, generator=gen)
    if head.task == "classification":
        labels = torch.randint(0, head.n_classes, (M, N), generator=gen)
        y = head.target(labels.reshape(-1), raw.dtype)
        y = y.reshape(M, N, *y.shape[1:])
        name = "accuracy_score"
    else:
        y = torch.randn(M, N, o, generator=gen)
        name = "root_mean_squared_error"
    # the epoch's step-major layout (steps, M, batch, ...) and the validation one (M, N, ...)
    step_major = (raw.reshape(M, 5, 8, o).transpose(0, 1),
                  y.reshape(M, 5, 8, *y.shape[2:]).transpose(0, 1))
    for group in (_batched._GroupEpoch(head, raw, y, n, False),
                  _batched._GroupEpoch(head, *step_major, n, True)):
        values = group.values()
        for j in range(M):
            ref = _metric_values(head, raw[j, : n[j]], y[j, : n[j]], None,
                                 [metric_function("t", name)], "")
            key = name.removesuffix("_score")
            ours = values["accuracy" if key == "accuracy" else name][j]
            # accuracy: the same count over the same rows; RMSE: to float32 rounding (the
            # metric squares and sums in the outputs' float32, the group in float64)
            assert ours == pytest.approx(ref[key], rel=1e-12 if key == "accuracy" else 1e-6,
                                         abs=0)
            if head.task == "classification":
                sat = _saturation(head, raw[j, : n[j]], y[j, : n[j]])
                assert (values["saturated"][j], values["saturated_wrong"][j]) == sat
