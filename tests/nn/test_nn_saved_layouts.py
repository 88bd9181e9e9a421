"""Models saved before the heads read their families (issue 14) still load, unchanged.

``tests/data/gaussian_nll_before_issue_14`` was written by ``MLPRegressor.save`` of the code
before the change (its ``gaussian_nll`` head had ``[means | log sds]`` blocks);
``gaussian_nll_before_issue_14.json`` holds its inputs, targets, predictions and loss as
that code computed them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from losskit.nn import MLPRegressor  # noqa: E402
from losskit.nn._heads import LAYOUT, upgrade_state  # noqa: E402

DATA = Path(__file__).parent / "data"
OLD = DATA / "gaussian_nll_before_issue_14"


def test_a_gaussian_nll_model_saved_before_the_family_layout_predicts_as_it_did():
    expected = json.loads((DATA / "gaussian_nll_before_issue_14.json").read_text())
    X, y = np.asarray(expected["X"]), np.asarray(expected["y"])
    assert "layout" not in json.loads((OLD / "config.json").read_text())["model"]["heads"][
        "output"]
    reg = MLPRegressor.load(OLD)
    assert reg.model_.head_specs["output"].activation == "identity,exp"
    np.testing.assert_allclose(reg.predict(X), expected["predict"], rtol=1e-6)
    assert reg.evaluate(X, y)["loss"] == pytest.approx(expected["loss"], rel=1e-5)


def test_models_saved_now_record_the_layout_and_load_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    reg = MLPRegressor("gaussian_nll", hidden_layer_sizes=(4,), epochs=2, random_state=0,
                       verbose=False).fit(X, y)
    reg.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model"]["heads"]["output"]["layout"] == LAYOUT
    np.testing.assert_array_equal(MLPRegressor.load(tmp_path / "m").predict(X), reg.predict(X))
    # without the record the file reads as the old layout: the marker is what keeps it exact
    shutil.copytree(tmp_path / "m", tmp_path / "old")
    del config["model"]["heads"]["output"]["layout"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    assert not np.allclose(MLPRegressor.load(tmp_path / "old").predict(X), reg.predict(X))


def test_upgrade_state_interleaves_means_and_doubles_log_sds():
    weight = torch.arange(8.0).reshape(4, 2)  # rows: mean 1, mean 2, log sd 1, log sd 2
    bias = torch.tensor([1.0, 2.0, 0.5, -0.5])
    state = upgrade_state({"output": {"loss": "gaussian_nll"}},
                          {"heads.output.weight": weight, "heads.output.bias": bias})
    torch.testing.assert_close(state["heads.output.bias"], torch.tensor([1.0, 1.0, 2.0, -1.0]))
    torch.testing.assert_close(state["heads.output.weight"],
                               torch.tensor([[0.0, 1.0], [8.0, 10.0], [2.0, 3.0], [12.0, 14.0]]))
    kept = {"heads.output.bias": bias}
    assert upgrade_state({"output": {"loss": "gaussian_nll", "layout": LAYOUT}},
                         dict(kept))["heads.output.bias"] is bias
    assert upgrade_state({"output": {"loss": "poisson_nll"}}, dict(kept))[
        "heads.output.bias"] is bias


def test_predict_reads_the_old_layout_in_numpy_as_it_did():
    from losskit.nn._numpy_mlp import NumpyMLP
    from losskit.nn._saved import SavedModel

    expected = json.loads((DATA / "gaussian_nll_before_issue_14.json").read_text())
    X, y = np.asarray(expected["X"]), np.asarray(expected["y"])
    saved = SavedModel.load(OLD)
    assert isinstance(saved.model_, NumpyMLP)
    np.testing.assert_allclose(saved.predict(X), expected["predict"], rtol=1e-6)
    assert saved.evaluate(X, y)["loss"] == pytest.approx(expected["loss"], rel=1e-5)
