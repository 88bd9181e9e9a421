"""MLPRegressor/MLPClassifier.save writes config.json as strict JSON (no NaN or Infinity,
no value silently turned into its str()), and a config that cannot be written leaves the
saved folder as it was (the weights are not replaced either)."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from losskit.nn import MLPClassifier  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _strict(text):
    def refuse(token):
        raise AssertionError(f"{token} in the JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    return MLPClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0,
                         verbose=False).fit(X, (X[:, 0] > 0).astype(int)), X


def test_non_finite_values_are_null_with_their_reason(fitted, tmp_path):
    est, X = fitted
    est.history_.rows[0]["val_roc_auc"] = float("nan")
    est.history_.rows[1]["loss"] = np.float32("inf")
    est.history_.settings["spread"] = np.array([1.0, np.nan])  # was written as "[ 1. nan]"
    est.save(tmp_path)
    config = _strict((tmp_path / "config.json").read_text())
    history = config["history"]
    assert history["rows"][0]["val_roc_auc"] is None
    assert history["rows"][0]["null_reasons"] == {"val_roc_auc": "was nan"}
    assert history["rows"][1]["null_reasons"] == {"loss": "was inf"}
    assert history["settings"]["spread"] == [1.0, None]
    assert history["settings"]["null_reasons"] == {"spread[1]": "was nan"}
    back = MLPClassifier.load(tmp_path)
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))


def test_a_config_json_cannot_hold_leaves_the_folder_as_it_was(fitted, tmp_path):
    est, X = fitted
    est.save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    est.history_.settings["odd"] = object()  # was written as "<object object at 0x...>"
    with torch.no_grad():
        for p in est.model_.parameters():
            p.add_(1.0)
    with pytest.raises(TypeError, match=r"MLPClassifier\.save: config holds a value JSON "
                                        r"cannot hold .*object"):
        est.save(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert math.isfinite(float(MLPClassifier.load(tmp_path).predict_proba(X).sum()))


def _same(a, b):
    """Equal, with NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_non_finite_history_values_load_back_as_they_were(fitted, tmp_path):
    from losskit.nn.diagnosis import diagnose
    from losskit.nn.report import curve_figures, write_report

    est, _ = fitted
    est.history_.rows[0]["val_roc_auc"] = float("nan")
    est.history_.rows[1]["loss"] = float("inf")
    est.history_.rows[1]["val_loss"] = float("-inf")
    est.save(tmp_path / "model")
    back = MLPClassifier.load(tmp_path / "model").history_
    assert "null_reasons" not in back.keys()
    assert back.keys() == est.history_.keys()
    assert _same(back.to_dict(), json.loads(json.dumps(est.history_.to_dict())))
    assert math.isnan(back["val_roc_auc"][0]) and back["loss"][1] == math.inf
    assert back["val_loss"][1] == -math.inf
    assert [f.message for f in diagnose(back).findings] == [
        f.message for f in diagnose(est.history_).findings]
    figures = curve_figures(back, tmp_path)
    write_report(tmp_path / "report.html", title="t", history=back, figures=figures,
                 metrics={}, model_text="m", why="w", diagnosis=diagnose(back))
    assert "Stopped: epochs" in (tmp_path / "report.html").read_text()
