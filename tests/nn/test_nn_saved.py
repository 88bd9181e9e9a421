"""``losskit predict`` / ``evaluate`` read a saved model without scikit-learn, with the
estimator's own predictions and evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import losskit as lk
from losskit.nn import MLPClassifier, MLPRegressor
from losskit.nn._saved import PARAM_NAMES, SavedModel

SRC = str(Path(lk.__file__).resolve().parents[1])


def test_param_names_are_the_estimators():
    assert PARAM_NAMES["MLPClassifier"] == tuple(MLPClassifier._get_param_names())
    assert PARAM_NAMES["MLPRegressor"] == tuple(MLPRegressor._get_param_names())


@pytest.mark.parametrize("make", [
    lambda: (MLPClassifier(hidden_layer_sizes=(5,), epochs=3, random_state=0, verbose=False),
             np.array(["b", "a", "c"] * 20)),
    lambda: (MLPRegressor("gaussian_nll", hidden_layer_sizes=(5,), epochs=3, random_state=0,
                          verbose=False), None),
])
def test_a_saved_model_predicts_and_evaluates_as_the_estimator(make, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    est, labels = make()
    y = labels if labels is not None else 50.0 + 10.0 * X[:, 0] + rng.normal(size=60)
    est.fit(X, y)
    est.save(tmp_path)
    saved = SavedModel.load(tmp_path)
    # the network computed in NumPy (float64 here, as X): equal to float64 rounding
    # (tests/nn/test_nn_numpy_mlp.py: every head and activation, float32 too)
    if labels is not None:
        np.testing.assert_array_equal(saved.predict(X), est.predict(X))
        np.testing.assert_allclose(saved.predict_proba(X), est.predict_proba(X), rtol=1e-13)
        with pytest.raises(ValueError, match=r"MLPClassifier\.evaluate: y has labels not seen"):
            saved.evaluate(X, np.array(["z"] * 60))
    else:
        np.testing.assert_allclose(saved.predict(X), est.predict(X), rtol=1e-13)
    got, want = saved.evaluate(X, y), est.evaluate(X, y)
    assert list(got) == list(want)
    assert list(got.values()) == pytest.approx(list(want.values()), rel=1e-12)
    with pytest.raises(ValueError, match="X has shape"):
        saved.predict(X[:, :2])


@pytest.mark.parametrize("target", ["y", "z"])
def test_predict_and_evaluate_import_neither_torch_nor_scikit_learn(target, tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.choice(["u", "v"], size=80)})
    frame["y"] = np.where(frame.a > 0, "yes", "no")
    frame["z"] = 3.0 * frame.a + rng.normal(size=80)
    frame.drop(columns=["z" if target == "y" else "y"]).to_csv(tmp_path / "d.csv", index=False)
    data, model = str(tmp_path / "d.csv"), str(tmp_path / "m")
    from losskit.cli import main

    assert main(["fit", data, "--target", target, "--epochs", "3", "--out", model]) == 0
    # a fresh process in which torch, scikit-learn and SciPy cannot be imported
    code = f"""
import importlib.abc, sys
sys.path.insert(0, {SRC!r})
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "sklearn", "scipy"):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, NotInstalled())
from losskit.cli import main
assert main(["predict", {model!r}, {data!r}, "--out", {str(tmp_path / 'p.csv')!r}]) == 0
assert main(["evaluate", {model!r}, {data!r}, "--out", {str(tmp_path / 'e.json')!r}]) == 0
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "sklearn", "scipy")))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    # what the estimator (torch) predicts and scores, to float32 rounding
    est = (MLPClassifier if target == "y" else MLPRegressor).load(tmp_path / "m")
    from losskit.nn._tabular import TabularEncoder

    config = json.loads((tmp_path / "m" / "config.json").read_text())
    X = TabularEncoder.from_dict(config["preprocessing"]).transform(
        frame[["a", "b"]], command="predict")
    predictions = pd.read_csv(tmp_path / "p.csv")
    if target == "y":
        assert list(predictions.columns) == ["prediction", "probability_no", "probability_yes"]
        np.testing.assert_allclose(predictions[["probability_no", "probability_yes"]],
                                   est.predict_proba(X), rtol=1e-6, atol=1e-9)
        assert (predictions["prediction"] == est.predict(X)).all()
    else:
        assert list(predictions.columns) == ["prediction"]
        np.testing.assert_allclose(predictions["prediction"], est.predict(X), rtol=1e-6)
    scores = json.loads((tmp_path / "e.json").read_text())
    want = est.evaluate(X, frame[target].to_numpy().copy())
    assert list(scores) == list(want)
    assert list(scores.values()) == pytest.approx(list(want.values()), rel=1e-5)


@pytest.mark.parametrize("classifier", [True, False])
def test_an_empty_X_is_refused_by_name_as_the_estimator_refuses_it(classifier, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2))
    est = (MLPClassifier if classifier else MLPRegressor)(
        hidden_layer_sizes=(3,), epochs=1, random_state=0, verbose=False)
    y = X[:, 0] > 0 if classifier else X[:, 0]
    est.fit(X, y)
    est.save(tmp_path)
    saved = SavedModel.load(tmp_path)
    name = type(est).__name__
    for call in (lambda: saved.predict(X[:0]), lambda: saved.evaluate(X[:0], y[:0])):
        with pytest.raises(ValueError, match=rf"^{name}: X has no rows \(shape \(0, 2\)\)\. "
                                             "Pass at least one sample of 2 feature"):
            call()
    with pytest.raises(ValueError, match="0 sample"):  # the estimator's (scikit-learn's) own
        est.predict(X[:0])
