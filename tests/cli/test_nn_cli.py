"""losskit fit / predict / evaluate: files written, errors before training, saved models used."""

import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from losskit.cli import main  # noqa: E402
from losskit.nn import MLPClassifier  # noqa: E402
from losskit.nn._tabular import TabularEncoder  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n) * 10 + 5,
                       "color": rng.choice(["red", "green", "blue"], n)})
    df["label"] = np.where(df.x1 + (df.color == "red") > 0.3, "yes", "no")
    df["count"] = rng.poisson(np.exp(0.5 * df.x1))
    return df


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit")
    data = folder / "data.csv"
    _table().drop(columns=["count"]).to_csv(data, index=False)
    out = folder / "out"
    torch.set_num_threads(1)
    code = main(["fit", str(data), "--target", "label", "--epochs", "6", "--seed", "1",
                 "--learning-rate", "0.05", "--test-size", "0.2", "--out", str(out)])
    assert code == 0
    return data, out


def test_fit_writes_every_file(fitted):
    _, out = fitted
    names = {p.name for p in out.iterdir()}
    assert names >= {"model.safetensors", "config.json", "history.csv", "metrics.json",
                     "report.html", "loss.png", "metric.png"}
    for png in ("loss.png", "metric.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["loss"] == "binary_cross_entropy"
    assert set(metrics) >= {"train", "validation", "test", "diagnosis"}
    for split in ("train", "validation", "test"):
        # every metric losskit advise recommends for a binary target (issue 11, item 6)
        assert set(metrics[split]) == {"loss", "accuracy", "balanced_accuracy", "roc_auc",
                                       "average_precision", "f1", "brier_score_loss"}
    with open(out / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and float(rows[-1]["loss"]) > 0
    config = json.loads((out / "config.json").read_text())
    assert config["target"] == "label" and config["preprocessing"]["categorical"]["color"] == \
        ["blue", "green", "red"]


def test_report_is_self_contained(fitted):
    _, out = fitted
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert "Diagnosis" in page and "binary_cross_entropy" in page
    assert "sigmoid activation (inside the loss)" in page
    assert "Advised for this target" in page  # why this loss
    assert "http" not in page  # nothing to fetch


def test_metrics_json_matches_the_saved_model(fitted):
    data, out = fitted
    df = pd.read_csv(data)
    config = json.loads((out / "config.json").read_text())
    enc = TabularEncoder.from_dict(config["preprocessing"])
    est = MLPClassifier.load(out)
    full = est.evaluate(enc.transform(df.drop(columns=["label"])), df["label"].to_numpy())
    metrics = json.loads((out / "metrics.json").read_text())
    # the three splits partition the rows: their weighted mean is the full-data loss
    n_val = round(0.1 * (120 - 24))
    sizes = {"train": 120 - 24 - n_val, "validation": n_val, "test": 24}
    assert metrics["rows"] == {**sizes, "total": 120}
    mean = sum(metrics[s]["loss"] * sizes[s] for s in sizes) / 120
    assert mean == pytest.approx(full["loss"], rel=1e-5)  # float32 model


def test_predict_and_evaluate_use_the_saved_model(fitted, tmp_path, capsys):
    data, out = fitted
    capsys.readouterr()
    assert main(["predict", str(out), str(data), "--out", str(tmp_path / "p.csv")]) == 0
    pred = pd.read_csv(tmp_path / "p.csv")
    assert list(pred.columns) == ["prediction", "probability_no", "probability_yes"]
    df = pd.read_csv(data)
    est = MLPClassifier.load(out)
    enc = TabularEncoder.from_dict(json.loads((out / "config.json").read_text())[
        "preprocessing"])
    X = enc.transform(df.drop(columns=["label"]))
    np.testing.assert_array_equal(pred["prediction"].to_numpy(), est.predict(X))
    # predict computes the float32 network in NumPy, the estimator in torch: float32 rounding
    # (tests/nn/test_nn_numpy_mlp.py)
    np.testing.assert_allclose(pred["probability_yes"], est.predict_proba(X)[:, 1], rtol=1e-6,
                               atol=1e-9)
    assert main(["evaluate", str(out), str(data)]) == 0
    result = json.loads(capsys.readouterr().out)
    want = est.evaluate(X, df["label"].to_numpy())
    assert list(result) == list(want)
    assert list(result.values()) == pytest.approx(list(want.values()), rel=1e-5)


def test_count_target_is_detected_and_parquet_is_read(tmp_path):
    pytest.importorskip("pyarrow")
    data = tmp_path / "d.parquet"
    _table().drop(columns=["label"]).to_parquet(data)
    assert main(["fit", str(data), "--target", "count", "--epochs", "2", "--out",
                 str(tmp_path / "o")]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["task"] == "regression" and metrics["loss"] == "poisson_nll"


def test_evaluate_refuses_targets_outside_the_loss_domain_as_fit_does(tmp_path, capsys):
    # a Poisson model scored on a table with a negative count: the loss is inf and the
    # metrics (Poisson deviance of y < 0) meaningless; evaluate said so only as a null loss
    df = _table().drop(columns=["label"])
    df.to_csv(tmp_path / "d.csv", index=False)
    assert main(["fit", str(tmp_path / "d.csv"), "--target", "count", "--loss", "poisson_nll",
                 "--epochs", "2", "--out", str(tmp_path / "m")]) == 0
    df.loc[3, "count"] = -2
    df.to_csv(tmp_path / "bad.csv", index=False)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "m"), str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err
    assert "losskit evaluate: error: DATA target column 'count' has values outside [0, inf) " \
        "(min -2, " in err and "which the model's loss poisson_nll cannot take" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "nope"], "losskit fit: error: --target 'nope' is not a column"),
    (["--target", "label", "--loss", "poisson_nll"],
     "losskit fit: error: --target 'label' holds text ('no', ...) but --loss poisson_nll"),
    (["--target", "x1", "--loss", "poisson_nll"],
     "losskit fit: error: --target 'x1' has values outside [0, inf) (min "),
    (["--target", "label", "--loss", "huber_los"],
     "losskit fit: error: --loss is 'huber_los', which losskit fit cannot train. Did you "
     "mean 'huber_loss'"),
    (["--target", "label", "--loss", "huber_loss"], "holds text"),
    (["--target", "label", "--hidden", "a,b"], "losskit fit: error: --hidden is 'a,b'"),
])
def test_errors_come_before_training(tmp_path, capsys, args, message):
    data = tmp_path / "d.csv"
    _table().to_csv(data, index=False)
    out = tmp_path / "o"
    assert main(["fit", str(data), *args, "--epochs", "2", "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not (out / "model.safetensors").exists()
    assert not (out / "checkpoint").exists()


def test_missing_values_are_an_error(tmp_path, capsys):
    df = _table()
    df.loc[3, "x2"] = np.nan
    data = tmp_path / "d.csv"
    df.to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "label", "--out", str(tmp_path / "o")]) == 2
    assert "missing values: 'x2' (1)" in capsys.readouterr().err


def test_resume_continues_a_run(tmp_path):
    data = tmp_path / "d.csv"
    _table().drop(columns=["count"]).to_csv(data, index=False)
    base = ["fit", str(data), "--target", "label", "--seed", "2", "--test-size", "0.2"]
    assert main([*base, "--epochs", "2", "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--epochs", "4", "--resume", "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--epochs", "4", "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["epochs"] == b["epochs"] == 4
    assert a["test"]["loss"] == pytest.approx(b["test"]["loss"], rel=1e-6)


def test_predict_needs_a_fitted_folder(tmp_path, capsys):
    data = tmp_path / "d.csv"
    _table().to_csv(data, index=False)
    assert main(["predict", str(tmp_path), str(data)]) == 2
    assert "losskit predict: error: DIR" in capsys.readouterr().err


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    from losskit.nn import trainer as trainer_module

    data = tmp_path / "d.csv"
    _table().drop(columns=["count"]).to_csv(data, index=False)
    base = ["fit", str(data), "--target", "label", "--seed", "3", "--epochs", "4",
            "--test-size", "0.2"]
    real_epoch = trainer_module.Trainer._epoch
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C during the third epoch
            raise KeyboardInterrupt
        return real_epoch(self, *args, **kwargs)

    monkeypatch.setattr(trainer_module.Trainer, "_epoch", interrupted)
    assert main([*base, "--out", str(tmp_path / "a")]) == 130
    assert "losskit fit: interrupted" in capsys.readouterr().err
    ckpt = tmp_path / "a" / "checkpoint" / trainer_module.CHECKPOINT_NAME
    from safetensors import safe_open

    with safe_open(str(ckpt), framework="pt") as fh:
        assert json.loads(fh.metadata()["losskit"])["epoch"] == 2  # the last whole epoch
    monkeypatch.setattr(trainer_module.Trainer, "_epoch", real_epoch)
    assert main([*base, "--resume", "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["test"]["loss"] == pytest.approx(b["test"]["loss"], rel=1e-6)
