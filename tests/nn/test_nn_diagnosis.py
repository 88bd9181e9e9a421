"""losskit.nn.diagnose: every verdict at its documented threshold, on made-up histories and on
real training runs."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from losskit.nn import (  # noqa: E402
    History,
    MLPClassifier,
    MLPRegressor,
    TrainingDivergedError,
    diagnose,
)
from losskit.nn import diagnosis as dg  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _history(loss, val=None, baseline=1e9, **kw):
    rows = [{"epoch": i + 1, "loss": v} for i, v in enumerate(loss)]
    if val is not None:
        for row, v in zip(rows, val, strict=True):
            row["val_loss"] = v
    return History(rows=rows, baseline={"loss": baseline}, **kw)


def test_converged():
    d = diagnose(_history([1.0, 0.5, 0.3, 0.2, 0.2, 0.2, 0.2], baseline=1.0))
    assert d.kinds == ["converged"]
    assert "epoch 7: 0.2" in str(d) and "minimum 0.2 was at epoch 4" in str(d)


def test_still_improving_threshold():
    # window = 3 epochs; a 1% drop is the threshold
    just_above = [1.0, 0.9, 0.8, 0.7, 0.7 * (1 - 0.0101)]
    just_below = [1.0, 0.9, 0.8, 0.7, 0.7 * (1 - 0.0099)]
    flat_start = [1.0, 0.9, 0.8] + [0.7] * 2
    assert diagnose(_history([*flat_start[:2], *just_above[2:]])).verdict == "still_improving"
    assert diagnose(_history([0.7, 0.7, 0.7, 0.7, 0.7 * (1 - 0.0099)])).verdict == "converged"
    assert diagnose(_history([0.7, 0.7, 0.7, 0.7, 0.7 * (1 - 0.0101)])).verdict == \
        "still_improving"
    assert len(just_below) == 5
    d = diagnose(_history([3.0]))
    assert d.verdict == "still_improving" and "Only 1 epoch" in str(d)


def test_window_is_a_tenth_of_the_epochs():
    loss = list(np.linspace(2.0, 1.0, 100))
    d = diagnose(_history(loss))
    assert d.verdict == "still_improving"
    assert "over the last 10 epochs" in str(d) and "epoch 90" in str(d)


def test_overfitting_from_epoch_k():
    loss = [1.0 / e for e in range(1, 11)]
    val = [1.0, 0.6, 0.5, 0.52, 0.53, 0.55, 0.6, 0.62, 0.65, 0.7]
    d = diagnose(_history(loss, val))
    f = d.findings[0]
    assert f.kind == "overfitting" and f.epoch == 4
    assert "Overfitting from epoch 4" in f.message
    assert "rose from 0.5 (its minimum, epoch 3) to 0.7 at epoch 10 (+40%)" in f.message
    assert "converged" not in d


def test_overfitting_needs_the_rise_and_enough_epochs():
    loss = [1.0 / e for e in range(1, 8)]
    small = [1.0, 0.6, 0.5, 0.505, 0.505, 0.505, 0.5 * (1 + dg.OVERFIT_RISE * 0.9)]
    assert "overfitting" not in diagnose(_history(loss, small))
    big = [1.0, 0.6, 0.5, 0.6, 0.6, 0.6, 0.5 * (1 + dg.OVERFIT_RISE * 1.1)]
    assert "overfitting" in diagnose(_history(loss, big))
    too_soon = [1.0, 0.6, 0.6, 0.6, 0.5, 0.7, 0.8]  # minimum 2 epochs before the end
    assert "overfitting" not in diagnose(_history(loss, too_soon))
    # validation rising while the training loss also rises is not overfitting
    rising = [0.5, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert "overfitting" not in diagnose(_history(rising, [1.0, 0.6, 0.5, 0.6, 0.7, 0.8, 0.9]))


def test_underfitting_against_the_baseline():
    base = math.log(2)
    d = diagnose(_history([0.70, 0.695, 0.6905, 0.69], baseline=base))
    assert "underfitting" in d
    f = d.findings[0]
    assert "no better than 0.6931" in f.message and "epoch 4" in f.message
    ok = diagnose(_history([0.7, 0.69, base * (1 - dg.UNDERFIT_MARGIN * 1.1)] * 1,
                           baseline=base))
    assert "underfitting" not in ok


def test_diverged_nan_and_exploding():
    d = diagnose(_history([1.0, 0.8, float("nan")],
                          settings={"optimizer": "sgd", "learning_rate": 0.5}))
    assert d.kinds == ["diverged"]
    msg = str(d)
    assert "Diverged at epoch 3: the training loss was nan (epoch 2: 0.8)" in msg
    assert "learning rate 0.5 is high for sgd" in msg and "gradient clipping" in msg
    d = diagnose(_history([1.0, 0.5, dg.EXPLODE_FACTOR * 1.01],
                          settings={"optimizer": "adam", "learning_rate": 1e-3,
                                    "clip_grad_norm": 1.0}))
    assert d.verdict == "diverged" and "10x its value at epoch 1 (1)" in str(d)
    assert "learning rate" not in str(d) and "unscaled" in str(d)
    assert diagnose(_history([1.0, 0.5, dg.EXPLODE_FACTOR * 0.99])).verdict != "diverged"
    # a spike far above a tiny minimum but below the starting loss is not divergence
    assert diagnose(_history([1.0, 0.001, 0.05, 0.001])).verdict != "diverged"


def test_saturated_outputs_only_for_losses_on_probabilities():
    rows = [{"epoch": 1, "loss": 0.3, "saturation/output": 0.6,
             "saturated_wrong/output": 0.2}]
    heads = {"output": {"loss": "mean_squared_error", "activation": "sigmoid",
                        "on_logits": False}}
    d = diagnose(History(rows=rows * 1, baseline={"loss": 1.0}, heads=heads))
    assert "saturated" in d
    assert "60% of the training samples" in str(d) and "20% are saturated" in str(d)
    heads["output"]["on_logits"] = True
    assert "saturated" not in diagnose(History(rows=rows, baseline={"loss": 1.0},
                                               heads=heads))


def test_bad_history():
    with pytest.raises(TypeError, match="diagnose: history is dict"):
        diagnose({"loss": [1.0]})
    with pytest.raises(ValueError, match="diagnose: history has no epochs"):
        diagnose(History())


# --------------------------------------------------------------------- real training runs


def test_real_underfitting_on_noise():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = rng.integers(0, 2, size=200)
    clf = MLPClassifier(hidden_layer_sizes=(2,), epochs=5, learning_rate=1e-4,
                        random_state=0, verbose=False).fit(X, y)
    assert "underfitting" in clf.diagnose()


def test_real_overfitting_with_a_large_network_on_few_noisy_samples():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = X[:, 0] + rng.normal(size=40)
    kw = {"hidden_layer_sizes": (128, 128), "epochs": 150, "optimizer": "adam",
          "learning_rate": 0.01, "batch_size": 8, "validation_fraction": 0.25,
          "random_state": 0, "verbose": False}
    reg = MLPRegressor(early_stopping=False, **kw).fit(X, y)
    d = reg.diagnose()
    assert d.verdict == "overfitting", str(d)
    k = d.findings[0].epoch
    val = reg.history_["val_loss"]
    assert int(np.argmin(val)) + 2 == k
    # with early stopping (the default) the same curve is stopped at its minimum
    stopped = MLPRegressor(**kw).fit(X, y)
    d = stopped.diagnose()
    assert d.verdict == "early_stopped", str(d)
    assert d.findings[0].epoch == stopped.history_.best_epoch
    assert f"with the weights of epoch {stopped.history_.best_epoch}" in str(d)


def test_real_saturation_with_sigmoid_and_mse():
    # weights large enough to start saturated; MSE on the sigmoid cannot pull the wrong ones
    # back, cross-entropy on the logits can
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) * 30
    y = (X[:, 0] > 0).astype(int)
    y[:60] = 1 - y[:60]
    kw = {"hidden_layer_sizes": (32,), "epochs": 5, "learning_rate": 0.01, "random_state": 0,
          "verbose": False}
    mse = MLPClassifier("mean_squared_error", **kw).fit(X, y)
    assert "saturated" in mse.diagnose(), str(mse.diagnose())
    assert mse.history_.rows[-1]["saturated_wrong/output"] >= dg.SATURATED_WRONG
    ce = MLPClassifier("cross_entropy", **kw).fit(X, y)
    assert "saturated" not in ce.diagnose()
    assert "saturation/output" not in ce.history_.keys()  # not needed from logits


def test_real_divergence_is_an_error_with_the_diagnosis():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) * 50
    y = X.sum(axis=1) * 50
    reg = MLPRegressor(hidden_layer_sizes=(8,), epochs=30, learning_rate=0.5, optimizer="sgd",
                       scale_target=False, random_state=0, verbose=False)
    with pytest.warns(UserWarning, match="retrying with learning rate"), \
            pytest.raises(TrainingDivergedError, match=r"^MLPRegressor: loss "
                          r"'mean_squared_error' diverged at epoch \d+") as info:
        reg.fit(X, y)
    assert not hasattr(reg, "model_")  # not fitted: no NaN weights to predict with
    d = info.value.history.diagnose()
    assert d.kinds == ["diverged"] and "learning rate 0.5 is high for sgd" in str(d)
    assert "at every learning rate tried (0.5, 0.05, 0.005, then 0.0005)" in str(d)


def test_the_docs_page_examples_run_and_match():
    import doctest
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "nn.md"
    result = doctest.testfile(str(page), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10
    assert result.failed == 0


# ------------------------------------------------------- the validation curve decides (issue 11)


def test_overfitting_of_a_loss_with_an_offset():
    # a Poisson NLL without its constant: values near -600, the model improves the constant
    # model's -568.4 by only ~7; a rise of 10 is overfitting although it is 1.7% of |loss|
    loss = [-612.0 - i * 0.2 for i in range(12)]
    val = [-569.0, -572.0, -575.0, -574.0, -572.5, -571.0, -570.0, -569.0, -568.0, -567.0,
           -566.0, -565.0]
    h = History(rows=[{"epoch": i + 1, "loss": a, "val_loss": b}
                      for i, (a, b) in enumerate(zip(loss, val, strict=True))],
                baseline={"loss": -612.7, "val_loss": -568.4})
    d = diagnose(h)
    assert d.verdict == "overfitting", str(d)
    msg = d.findings[0].message
    assert "rose from -575 (its minimum, epoch 3) to -565 at epoch 12 (+10, 152% of its " \
           "improvement on the constant model's -568.4)" in msg
    assert "worse than the constant model's (-568.4)" in msg
    assert "the gap between them grew from 37.4 to 49.2" in msg
    assert "converged" not in d


def test_a_growing_gap_is_overfitting_even_when_the_training_loss_is_flat():
    loss = [1.0, 0.5, 0.4, 0.4, 0.41, 0.4, 0.41]
    val = [1.0, 0.6, 0.5, 0.55, 0.6, 0.65, 0.7]
    d = diagnose(_history(loss, val))
    assert d.verdict == "overfitting"
    assert "while the training loss went from 0.4 to 0.41; the gap between them grew from " \
           "0.1 to 0.29" in str(d)


def test_early_stopping_that_restored_the_minimum_is_reported_as_such():
    loss = [1.0 / e for e in range(1, 11)]
    val = [1.0, 0.6, 0.5, 0.52, 0.53, 0.55, 0.6, 0.62, 0.65, 0.7]
    h = _history(loss, val, stopped="early_stopping", best_epoch=3,
                 settings={"early_stopping": True})
    d = diagnose(h)
    assert d.kinds == ["early_stopped"]
    assert d.findings[0].message.startswith(
        "Stopped early at epoch 10 with the weights of epoch 3, before the overfitting that "
        "followed: the validation loss rose from 0.5 (its minimum, epoch 3) to 0.7")


def test_convergence_is_judged_on_the_part_of_the_loss_the_model_changes():
    # -600 + a steady fall of 1 per epoch: 0.17% of |loss| but 10% of the gain on the baseline
    loss = [-590.0 - e for e in range(1, 21)]
    d = diagnose(_history(loss, baseline=-580.0))
    assert d.verdict == "still_improving", str(d)
    assert "fell 10.0% over the last 3 epochs (-607 at epoch 17 to -610 at epoch 20)" in str(d)
    flat = loss[:10] + [-600.0] * 10
    assert diagnose(_history(flat, baseline=-580.0)).kinds == ["converged"]


def test_retries_are_reported_with_their_numbers():
    retry = {"epoch": 3, "found": "training loss became nan", "restored_epoch": 2,
             "learning_rate": 0.1, "new_learning_rate": 0.01}
    d = diagnose(_history([1.0, 0.5, 0.3, 0.2, 0.2, 0.2, 0.2], baseline=1.0,
                          retries=[retry]))
    assert d.kinds == ["converged", "retried"]
    assert "Diverged and recovered (1 retry): the training loss became nan at epoch 3 with " \
           "learning rate 0.1; restarted from epoch 2 with 0.01" in str(d)
    failed = History(rows=[], stopped="diverged", settings={"optimizer": "sgd",
                                                            "learning_rate": 0.1},
                     retries=[{**retry, "restored_epoch": 0}])
    d = diagnose(failed)
    assert d.kinds == ["diverged"]
    assert "Diverged at epoch 3: the training loss became nan at every learning rate tried " \
           "(0.1, then 0.01)" in str(d)


def test_real_diabetes_with_adam_is_overfitting_not_converged():
    # issue 11: scikit-learn's diabetes table, Poisson NLL, Adam at 0.01 for 100 epochs
    # without early stopping was diagnosed "converged" while validation RMSE was 3x training
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    reg = MLPRegressor("poisson_nll", hidden_layer_sizes=(64,), optimizer="adam",
                       learning_rate=0.01, epochs=100, early_stopping=False, random_state=1,
                       verbose=False).fit(X[:330], y[:330])
    d = reg.diagnose()
    assert d.verdict == "overfitting" and "converged" not in d, str(d)
    f = d.findings[0]
    assert f.numbers["final_gap"] > f.numbers["gap_at_best"]
    assert f.numbers["final_val_loss"] > f.numbers["best_val_loss"]
