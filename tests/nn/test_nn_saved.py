"""``losskit predict`` / ``evaluate`` read a saved model without scikit-learn, with the
estimator's own predictions and evaluation."""

from __future__ import annotations

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
    np.testing.assert_array_equal(saved.predict(X), est.predict(X))
    if labels is not None:
        np.testing.assert_array_equal(saved.predict_proba(X), est.predict_proba(X))
        with pytest.raises(ValueError, match=r"MLPClassifier\.evaluate: y has labels not seen"):
            saved.evaluate(X, np.array(["z"] * 60))
    assert saved.evaluate(X, y) == est.evaluate(X, y)
    with pytest.raises(ValueError, match="X has shape"):
        saved.predict(X[:, :2])


def test_predict_and_evaluate_do_not_import_scikit_learn(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.choice(["u", "v"], size=80)})
    frame["y"] = np.where(frame.a > 0, "yes", "no")
    frame.to_csv(tmp_path / "d.csv", index=False)
    code = f"""
import sys
sys.path.insert(0, {SRC!r})
from losskit.cli import main
assert main(["fit", {str(tmp_path / 'd.csv')!r}, "--target", "y", "--epochs", "2",
             "--out", {str(tmp_path / 'm')!r}]) == 0
for name in [m for m in sys.modules if m.startswith(("sklearn", "scipy"))]:
    del sys.modules[name]
sys.modules["sklearn"] = None  # importing it now raises ImportError
assert main(["predict", {str(tmp_path / 'm')!r}, {str(tmp_path / 'd.csv')!r},
             "--out", {str(tmp_path / 'p.csv')!r}]) == 0
assert main(["evaluate", {str(tmp_path / 'm')!r}, {str(tmp_path / 'd.csv')!r},
             "--out", {str(tmp_path / 'e.json')!r}]) == 0
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert list(predictions.columns) == ["prediction", "probability_no", "probability_yes"]
    assert (tmp_path / "e.json").read_text().startswith("{")
