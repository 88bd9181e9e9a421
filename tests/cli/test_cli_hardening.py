"""The command line attacked: bad paths, tampered model folders, hostile tables, resumes with
changed settings, kills during a rewrite. Every case ends in exit status 2 with a message
naming the command and the argument (never a traceback or a hang), or in success with correct
output; every JSON file is strict."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from losskit._io import (  # noqa: E402
    check_output_path,
    replace_folder,
    restore_nonfinite,
    strict_json,
)
from losskit.cli import main  # noqa: E402
from losskit.nn.cli import csv_cell  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _strict_load(text: str):
    """json.loads that refuses NaN and Infinity, as strict parsers do."""
    def refuse(token):
        raise AssertionError(f"non-strict JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def _table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["u", "v", "w"], n)})
    df["y"] = 2 * df.a + (df.b == "u") + 0.1 * rng.normal(size=n)
    df["label"] = np.where(df.a > 0, "yes", "no")
    return df


def _run(capsys, *argv):
    """(exit status, stdout, stderr) of ``losskit argv`` run in this process."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _error(capsys, command, *argv):
    code, _, err = _run(capsys, command, *argv)
    assert code == 2, err
    assert err.startswith(f"losskit {command}: error: "), err
    return err


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    path = folder / "d.csv"
    _table().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory, data):
    """A finished regression model folder (never modified: copy it to tamper)."""
    out = tmp_path_factory.mktemp("models") / "reg"
    torch.set_num_threads(1)
    assert main(["fit", str(data), "--target", "y", "--epochs", "3", "--drop", "label",
                 "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("models") / "clf"
    torch.set_num_threads(1)
    assert main(["fit", str(data), "--target", "label", "--epochs", "3", "--drop", "y",
                 "--out", str(out)]) == 0
    return out


# ---------------------------------------------------------------------------- fit: rows, defaults


def test_fit_trains_on_every_row_but_the_validation_split(model):
    metrics = _strict_load((model / "metrics.json").read_text())
    assert metrics["rows"] == {"train": 54, "validation": 6, "test": 0, "total": 60}
    assert "test" not in metrics
    config = json.loads((model / "config.json").read_text())
    assert config["rows"] == metrics["rows"]
    assert config["params"]["optimizer"] == "adam"
    assert config["params"]["learning_rate"] == 0.001
    assert config["params"]["early_stopping"] is True
    assert "Rows: 54 for training, 6 for validation, 0 held out for testing (of 60)" in (
        model / "report.html").read_text()


def test_test_size_holds_out_a_test_part(tmp_path, data, capsys):
    code, out, _ = _run(capsys, "fit", data, "--target", "y", "--epochs", "2",
                        "--test-size", "0.25", "--out", tmp_path / "m")
    assert code == 0
    printed = _strict_load(out)
    assert printed["rows"] == {"train": 41, "validation": 4, "test": 15, "total": 60}
    assert set(printed["test"]) >= {"loss"}
    assert _strict_load((tmp_path / "m" / "metrics.json").read_text()) == printed


def test_fit_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fragment in ("(default: 200)", "(default: adam)", "(default: 0.001)",
                     "(default: 64)", "(default: 32)", "(default: on;", "(default: 0, none)",
                     "--no-early-stopping", "--force", "--drop"):
        assert fragment in text, fragment


@pytest.mark.parametrize(("option", "value", "fragment"), [
    ("--test-size", "1.5", "--test-size is 1.5"),
    ("--test-size", "0.001", "holds out no row"),
    ("--epochs", "0", "--epochs is 0"),
    ("--learning-rate", "-1", "--learning-rate is -1.0"),
    ("--learning-rate", "nan", "--learning-rate is nan"),
    ("--batch-size", "0", "--batch-size is 0"),
    ("--hidden", "0", "--hidden is '0'"),
    ("--hidden", "", "--hidden is ''"),
])
def test_bad_settings(tmp_path, data, capsys, option, value, fragment):
    err = _error(capsys, "fit", data, "--target", "y", option, value, "--out", tmp_path / "m")
    assert fragment in err
    assert not (tmp_path / "m").exists()


def test_a_diverged_fit_writes_nothing(tmp_path, data, capsys, monkeypatch):
    from losskit.nn import estimators

    real = estimators.MLPRegressor.fit

    def diverging(self, *args, **kwargs):
        real(self, *args, **kwargs)
        with torch.no_grad():
            next(self.model_.parameters())[0, 0] = float("nan")
        return self

    monkeypatch.setattr(estimators.MLPRegressor, "fit", diverging)
    err = _error(capsys, "fit", data, "--target", "y", "--epochs", "2", "--out",
                 tmp_path / "m")
    assert "diverged" in err and "--learning-rate" in err
    assert not (tmp_path / "m" / "model.safetensors").exists()
    assert not (tmp_path / "m" / "metrics.json").exists()


def test_a_fit_that_keeps_diverging_speaks_the_commands_words(tmp_path, data, capsys):
    # the error was the estimator's ("MLPRegressor: ... (learning_rate, --learning-rate) ...
    # clip the gradient (clip_grad_norm)"), and each retry was a Python warning showing a
    # source file and a line of code
    code, _, err = _run(capsys, "fit", data, "--target", "y", "--epochs", "2", "--optimizer",
                        "sgd", "--learning-rate", "1e30", "--out", tmp_path / "m")
    assert code == 2
    error = err.strip().splitlines()[-1]
    assert error.startswith("losskit fit: error: --learning-rate is 1e+30, and the loss ")
    assert "diverged at epoch 1" in error and "e.g. 1e+26" in error
    assert "--optimizer adam" in error
    for internal in ("MLPRegressor", "clip_grad_norm", "learning_rate,", ".py:"):
        assert internal not in err, internal
    retries = [line for line in err.splitlines() if line.startswith("losskit fit: warning: ")]
    assert len(retries) == 3 and all("retrying with learning rate" in r for r in retries)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("command", ["advise", "evaluate"])
def test_an_unknown_option_names_the_command(tmp_path, data, model, command, capsys):
    # was "losskit: error: unrecognized arguments: --bogus" with the top-level usage
    argv = [data, "--target", "y"] if command == "advise" else [model, data]
    with pytest.raises(SystemExit) as info:
        main([command, *map(str, argv), "--bogus", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"losskit {command}: error: unrecognized arguments: --bogus 1" in err
    assert f"usage: losskit {command} " in err


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("where", ["data", "hard link to data", "model file", "in model"])
def test_out_never_overwrites_the_data_or_the_model(tmp_path, data, model, command, where,
                                                    capsys):
    # --out DATA replaced the user's table with the predictions (exit 0), and
    # --out DIR/model.safetensors wrote CSV over the model's weights
    table = tmp_path / "t.csv"
    shutil.copy(data, table)
    folder = tmp_path / "m"
    shutil.copytree(model, folder)
    out = {"data": table, "model file": folder / "model.safetensors",
           "in model": folder / "new.csv", "hard link to data": tmp_path / "link.csv"}[where]
    if where == "hard link to data":
        os.link(table, out)
    before = {p: p.read_bytes() for p in [table, *folder.iterdir()] if p.is_file()}
    err = _error(capsys, command, folder, table, "--out", out)
    assert "--out is " in err and ("the DATA file" in err or "inside the model folder" in err)
    assert {p: p.read_bytes() for p in before} == before
    assert not (folder / "new.csv").exists()


def test_history_csv_holds_no_nan(tmp_path, capsys):
    # a one-row validation set has no R²: history.csv held "nan" in every row
    df = _table(n=20)
    code, _, err = _run(capsys, "fit", _csv(tmp_path, df), "--target", "y", "--epochs", "2",
                        "--test-size", "0.5", "--out", tmp_path / "m")
    assert code == 0, err
    with open(tmp_path / "m" / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(row["val_r2"] == "" for row in rows)
    for row in rows:
        assert not any(v.lower() in ("nan", "inf", "-inf", "infinity") for v in row.values())
        assert float(row["val_loss"]) > 0


def test_evaluate_refuses_rows_it_cannot_predict(tmp_path, capsys):
    # a row far outside the training data overflows a count model's exp output: predict
    # refused it, but evaluate printed every metric as null with exit status 0
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=80)})
    df["n"] = rng.poisson(np.exp(0.3 * df.a))
    path = _csv(tmp_path, df)
    assert main(["fit", str(path), "--target", "n", "--loss", "poisson_nll", "--epochs", "2",
                 "--out", str(tmp_path / "m")]) == 0
    df.loc[3, "a"] = 1e6
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    for command in ("predict", "evaluate"):
        code, out, err = _run(capsys, command, tmp_path / "m", bad)
        warning, error = err.splitlines()
        assert code == 2 and out == ""
        assert warning.startswith(f"losskit {command}: warning: 1 row(s) have values more than")
        assert error.startswith(f"losskit {command}: error: DATA gives non-finite prediction")


# ---------------------------------------------------------------------------- paths


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda d: "", "--out is empty"),
    (lambda d: (d / "f").write_text("x") and d / "f", "is a file, not a folder"),
    (lambda d: (d / "f").write_text("x") and d / "f" / "sub", "lies under"),
    (lambda d: "/dev/null", "is a character device, not a folder"),
    (lambda d: d / ("x" * 300), "is too long"),
    (lambda d: os.symlink(d / "missing", d / "link") or d / "link",
     "is a symbolic link to"),
    (lambda d: (d / "busy").mkdir() or ((d / "busy" / "notes.txt").write_text("mine")
     and d / "busy"), "is a folder with other files ('notes.txt')"),
    (lambda d: ".", "holds the current folder"),
    (lambda d: (d / "real").mkdir() or os.symlink(d / "real", d / "alias") or d / "alias",
     "is a symbolic link (the model folder replaces it as a unit)"),
])
def test_fit_out_problems(tmp_path, data, capsys, monkeypatch, make, fragment):
    monkeypatch.chdir(tmp_path)
    out = make(tmp_path)
    err = _error(capsys, "fit", data, "--target", "y", "--epochs", "2", "--out", out)
    assert f"losskit fit: error: --out {fragment}" in err or fragment in err
    assert "--out" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_fit_out_in_a_read_only_folder(tmp_path, data, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        err = _error(capsys, "fit", data, "--target", "y", "--out", locked / "m")
        assert "read-only" in err
    finally:
        locked.chmod(0o700)


def test_read_only_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    # the check itself (as root, os.access says yes; simulate the answer of a normal user)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match=r"fit: --out .* cannot be written: the folder .* is "
                                         r"read-only"):
        check_output_path("fit", "--out", tmp_path / "m")


def test_force_replaces_a_foreign_folder_and_another_runs_model(tmp_path, data, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    code, _, _ = _run(capsys, "fit", data, "--target", "y", "--epochs", "2", "--force",
                      "--out", busy)
    assert code == 0 and not (busy / "notes.txt").exists()
    # another target into the same folder: another run
    err = _error(capsys, "fit", data, "--target", "label", "--epochs", "2", "--out", busy)
    assert "holds the model of another run (target 'y'" in err
    code, _, _ = _run(capsys, "fit", data, "--target", "label", "--epochs", "2", "--force",
                      "--out", busy)
    assert code == 0
    assert json.loads((busy / "config.json").read_text())["target"] == "label"


def test_refitting_the_same_run_replaces_the_model(tmp_path, data, capsys):
    out = tmp_path / "m"
    base = ["fit", data, "--target", "y", "--epochs", "2", "--out", out]
    assert _run(capsys, *base, "--seed", "1")[0] == 0
    assert _run(capsys, *base, "--seed", "2")[0] == 0
    assert not list(tmp_path.glob(".m.losskit-*"))  # no staging folder left behind


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_predict_and_evaluate_out_problems(tmp_path, data, model, capsys, command):
    err = _error(capsys, command, model, data, "--out", tmp_path)
    assert "--out" in err and "is a folder" in err
    err = _error(capsys, command, model, data, "--out", "/dev/null")
    assert "is a character device" in err
    (tmp_path / "f").write_text("x")
    err = _error(capsys, command, model, data, "--out", tmp_path / "f" / "p.csv")
    assert "lies under" in err


@pytest.mark.parametrize("command", ["advise", "fit", "predict", "evaluate", "compare"])
def test_data_path_problems(tmp_path, model, capsys, command):
    def argv(path):
        if command in ("predict", "evaluate"):
            return [command, model, path]
        extra = {"fit": ["--out", tmp_path / "m"],
                 "compare": ["--losses", "mse", "--out", tmp_path / "c"]}.get(command, [])
        return [command, path, "--target", "y", *extra]

    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "bad.parquet").write_text("not parquet")
    cases = {"missing.csv": "does not exist", "pipe.csv": "is a FIFO (named pipe), not a file",
             "dir.csv": "is a folder, not a file", "empty.csv": "is empty",
             "bad.parquet": "could not be read as a parquet table", "d.xlsx": "has suffix"}
    with _alarm(30):
        for name, fragment in cases.items():
            err = _error(capsys, *argv(tmp_path / name))
            assert f"losskit {command}: error: DATA " in err and fragment in err, err


@contextmanager
def _alarm(seconds):
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""
    def timeout(*_):
        raise AssertionError(f"hung for {seconds} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_an_unforeseen_os_error_is_a_message(tmp_path, data, capsys, monkeypatch):
    import losskit.nn.cli as nn_cli

    def broken(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "m"))

    monkeypatch.setattr(nn_cli.TabularEncoder, "fit", broken)
    err = _error(capsys, "fit", data, "--target", "y", "--out", tmp_path / "m")
    assert "Permission denied" in err


# ---------------------------------------------------------------------------- tampered folders


def _write_weights(folder, tensors):
    safetensors_numpy.save_file(tensors, str(folder / "model.safetensors"))


def _weights(folder):
    return safetensors_numpy.load_file(str(folder / "model.safetensors"))


def _edit_config(folder, change):
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


def _fifo(folder, name):
    (folder / name).unlink()
    os.mkfifo(folder / name)


def _first(w):
    return sorted(w)[0]


TAMPER = {
    "config FIFO": (lambda f: _fifo(f, "config.json"), "config.json as a FIFO"),
    "weights FIFO": (lambda f: _fifo(f, "model.safetensors"), "model.safetensors as a FIFO"),
    "config is a device": (lambda f: ((f / "config.json").unlink(),
                                      os.symlink("/dev/zero", f / "config.json")),
                           "config.json as a symbolic link"),
    "no config": (lambda f: (f / "config.json").unlink(), "has no config.json"),
    "no weights": (lambda f: (f / "model.safetensors").unlink(), "has no model.safetensors"),
    "empty weights": (lambda f: (f / "model.safetensors").write_bytes(b""), "is empty"),
    "truncated weights": (lambda f: (f / "model.safetensors").write_bytes(
        (f / "model.safetensors").read_bytes()[:-9]), "is truncated"),
    "garbage weights": (lambda f: (f / "model.safetensors").write_bytes(
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"), "malformed header"),
    "missing tensor": (lambda f: _write_weights(f, {k: v for k, v in _weights(f).items()
                                                    if k != "heads.output.bias"}),
                       "without the tensor(s) 'heads.output.bias'"),
    "extra tensor": (lambda f: _write_weights(f, {**_weights(f), "x": np.zeros(2, "f4")}),
                     "unexpected tensor(s) 'x'"),
    "wrong shape": (lambda f: _write_weights(f, {**_weights(f), "heads.output.bias":
                                                 np.zeros(7, "f4")}), "has shape [7]"),
    "int8 weights": (lambda f: _write_weights(f, {k: v.astype(np.int8)
                                                  for k, v in _weights(f).items()}),
                     "is I8, but config.json says float32"),
    "NaN weights": (lambda f: _write_weights(f, {k: np.full_like(v, np.nan)
                                                 for k, v in _weights(f).items()}),
                    "non-finite value(s)"),
    "inf weight": (lambda f: _write_weights(f, {**_weights(f), "heads.output.bias":
                                                np.array([np.inf], "f4")}),
                   "'heads.output.bias' has 1 non-finite value(s)"),
    "deep JSON": (lambda f: (f / "config.json").write_text("[" * 100_000 + "]" * 100_000),
                  "nested too deeply"),
    "deep but parseable JSON": (lambda f: _edit_config(
        f, lambda c: c.update(why=json.loads("[" * 200 + "]" * 200))), "nested more than"),
    "malformed JSON": (lambda f: (f / "config.json").write_text('{"estimator": '),
                       "not valid JSON"),
    "NaN in JSON": (lambda f: (f / "config.json").write_text(
        (f / "config.json").read_text().replace('"n_features_in_": 4', '"n_features_in_": NaN')),
        "with NaN, which is not JSON"),
    "config is a list": (lambda f: (f / "config.json").write_text("[]"), "top level"),
    "huge hidden layer": (lambda f: _edit_config(f, lambda c: (
        c["model"].update(hidden_layer_sizes=[10**9]),
        c["params"].update(hidden_layer_sizes=[10**9]))),
        "model.hidden_layer_sizes[0] is 1000000000, more units than the weights file holds"),
    "hidden as text": (lambda f: _edit_config(f, lambda c: c["model"].update(
        hidden_layer_sizes="64")), "model.hidden_layer_sizes is str"),
    "missing model": (lambda f: _edit_config(f, lambda c: c.pop("model")),
                      "model is missing"),
    "unknown estimator": (lambda f: _edit_config(f, lambda c: c.update(estimator="os.system")),
                          "estimator is 'os.system'"),
    "unknown param": (lambda f: _edit_config(f, lambda c: c["params"].update(evil=1)),
                      "params have unknown names 'evil'"),
    "feature count": (lambda f: _edit_config(f, lambda c: c.update(n_features_in_=5)),
                      "n_features_in_ is 5 but model.n_features is 4"),
    "millions of categories": (lambda f: _edit_config(f, lambda c: c["preprocessing"][
        "categorical"].update(b=list(range(5_000_000)))),
        "encodes 5000001+ features but the network takes 4"),
    "zero scale": (lambda f: _edit_config(f, lambda c: c["preprocessing"]["numeric"].update(
        a=[0.0, 0.0])), "scale is 0.0 (expected > 0)"),
    # a tampered target scale flipped every prediction (negative) or gave NaN metrics with
    # exit 0 (huge); it was not checked at all
    "negative target scale": (lambda f: _edit_config(f, lambda c: c["target_standardised"]
                                                     .update(scale=[-5.0])),
                              "target_standardised.scale[0] is -5 (expected a positive"),
    "huge target mean": (lambda f: _edit_config(f, lambda c: c["target_standardised"]
                                                .update(mean=[1e308])),
                         "target_standardised.mean[0] is 1e+308"),
    "target scale count": (lambda f: _edit_config(f, lambda c: c["target_standardised"]
                                                  .update(scale=[1.0, 2.0])),
                           "target_standardised.scale has 2 value(s) but the output layer "
                           "has 1 target(s)"),
    "symlinked folder": (None, "is a symbolic link"),
}

CLASSIFIER_TAMPER = {
    "missing classes_": (lambda f: _edit_config(f, lambda c: c.pop("classes_")),
                         "classes_ is missing"),
    "classes_ count": (lambda f: _edit_config(f, lambda c: c["classes_"].update(
        values=["no", "yes", "maybe"])), "has 3 classes but the output layer has 2"),
    "classes_ dtype": (lambda f: _edit_config(f, lambda c: c["classes_"].update(
        dtype="V100000000")), "classes_.dtype is 'V100000000'"),
    "classes_ truncated": (lambda f: _edit_config(f, lambda c: c["classes_"].update(
        dtype="<U1")), "classes_.dtype is '<U1', which cannot hold the labels"),
    "task mismatch": (lambda f: _edit_config(f, lambda c: c.update(estimator="MLPRegressor")),
                      "model.heads.output.task is 'classification' for an MLPRegressor"),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_tampered_model_folder(tmp_path, model, data, capsys, case):
    tamper, fragment = TAMPER[case]
    folder = tmp_path / "m"
    if tamper is None:  # a symbolic link to a model folder
        os.symlink(model, folder)
    else:
        shutil.copytree(model, folder)
        tamper(folder)
    commands = ("predict",) if case == "millions of categories" else ("predict", "evaluate")
    with _alarm(60):
        for command in commands:
            err = _error(capsys, command, folder, data)
            assert f"losskit {command}: error: DIR " in err and fragment in err, err


def test_a_value_too_far_from_the_training_range(tmp_path, model, data, capsys):
    # a column scale of 1e-300 (or a value 1e35 training sds away) overflowed float32 in the
    # encoder: NumPy's RuntimeWarning with a code line, then scikit-learn's "Input X contains
    # infinity or a value too large for dtype('float32')", naming no argument
    folder = tmp_path / "m"
    shutil.copytree(model, folder)
    _edit_config(folder, lambda c: c["preprocessing"]["numeric"].update(a=[0.0, 1e-300]))
    for command in ("predict", "evaluate"):
        code, _, err = _run(capsys, command, folder, data)
        assert code == 2
        assert err.startswith(f"losskit {command}: error: DATA column 'a' has 60 value(s) too "
                              "far outside the training range"), err
        assert "RuntimeWarning" not in err and "Input X" not in err


@pytest.mark.parametrize("case", sorted(CLASSIFIER_TAMPER))
def test_tampered_classifier_folder(tmp_path, classifier, data, capsys, case):
    tamper, fragment = CLASSIFIER_TAMPER[case]
    folder = tmp_path / "m"
    shutil.copytree(classifier, folder)
    tamper(folder)
    err = _error(capsys, "predict", folder, data)
    assert "losskit predict: error: DIR " in err and fragment in err, err


def test_an_untouched_copy_still_loads(tmp_path, model, classifier, data, capsys):
    for name, folder in (("reg", model), ("clf", classifier)):
        shutil.copytree(folder, tmp_path / name)
        code, out, _ = _run(capsys, "predict", tmp_path / name, data)
        assert code == 0 and out.startswith("prediction")
        assert len(out.splitlines()) == 61


# ---------------------------------------------------------------------------- atomic folders


KILLER = textwrap.dedent("""
    # usage: killer.py PRISTINE OUT DATA RESULTS -- fit arguments
    # For k = 1, 2, ...: restore OUT from PRISTINE, run the fit in a child process killed
    # (os._exit: no clean-up) right after its k-th file operation on the new model folder,
    # then predict with whatever OUT holds; stop when the fit runs to the end.
    import json, os, shutil, sys
    import torch
    torch.set_num_threads(1)
    import losskit._io as io_mod
    import losskit.nn.estimators, losskit.nn.report
    from losskit.cli import main

    pristine, out, data, results = sys.argv[1:5]
    fit_argv = sys.argv[6:]

    def child(run):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = run()
            finally:
                os._exit(code)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    def killed_fit(kill_at):
        steps = [0]
        staging = [False]

        def step():
            if staging[0]:
                steps[0] += 1
                if steps[0] == kill_at:
                    os._exit(9)

        def counted(fn, before=False):
            def wrapper(*args, **kwargs):
                if before:
                    step()
                result = fn(*args, **kwargs)
                step()
                return result
            return wrapper

        real_replace = io_mod.replace_folder

        def replace_folder(target, build):
            staging[0] = True
            return real_replace(target, build)

        for module in (io_mod, losskit.nn.estimators, losskit.nn.report):
            module.atomic_write = counted(module.atomic_write)
        io_mod._swap_in = counted(io_mod._swap_in, before=True)
        io_mod.link_or_copy_tree = counted(io_mod.link_or_copy_tree)
        io_mod.replace_folder = replace_folder  # fit_table imports it when it runs
        return main(fit_argv)

    outcome = []
    for kill_at in range(1, 60):
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(pristine, out)
        fit_code = child(lambda: killed_fit(kill_at))
        csv_path = f"{results}.{kill_at}.csv"
        predict_code = child(lambda: main(["predict", out, data, "--out", csv_path]))
        outcome.append({"kill_at": kill_at, "fit": fit_code, "predict": predict_code,
                        "csv": csv_path})
        if fit_code != 9:
            break
    with open(results, "w") as fh:
        json.dump(outcome, fh)
""")


def _predictions(capsys, folder, data):
    code, out, _err = _run(capsys, "predict", folder, data)
    return code, out


def test_a_kill_during_a_rewrite_leaves_the_old_model_or_the_new_one(tmp_path, data, capsys):
    out = tmp_path / "m"
    old_argv = ["fit", str(data), "--target", "y", "--epochs", "2", "--seed", "1", "--out",
                str(out)]
    # the new run differs in weights (seed) and preprocessing (fitted on other rows)
    new_argv = ["fit", str(data), "--target", "y", "--epochs", "2", "--seed", "2",
                "--test-size", "0.3", "--out", str(out)]
    assert main(old_argv) == 0
    code, old = _predictions(capsys, out, data)
    assert code == 0
    reference = tmp_path / "reference"
    assert main([*new_argv[:-1], str(reference)]) == 0
    code, new = _predictions(capsys, reference, data)
    assert code == 0 and new != old
    shutil.copytree(out, tmp_path / "pristine")
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    results = tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": str(SRC), "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "pristine"), str(out),
                          str(data), str(results), "--", *new_argv], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    outcome = json.loads(results.read_text())
    assert len(outcome) >= 8  # every file written into the new folder, the swap, the end
    assert [o["fit"] for o in outcome] == [9] * (len(outcome) - 1) + [0]
    seen = []
    for o in outcome:
        assert o["predict"] == 0, f"killed after step {o['kill_at']}: the folder does not load"
        predicted = Path(o["csv"]).read_text()
        assert predicted in (old, new), f"killed after step {o['kill_at']}: a mix of models"
        seen.append("old" if predicted == old else "new")
    # the old model until the swap, the new one from then on
    assert seen == sorted(seen, key=["old", "new"].index) and seen[0] == "old" \
        and seen[-1] == "new"


def test_replace_folder_without_an_atomic_exchange(tmp_path, monkeypatch):
    import losskit._io as io_mod

    monkeypatch.setattr(io_mod, "_exchange", lambda a, b: False)
    out = tmp_path / "m"
    replace_folder(out, lambda d: (d / "a").write_text("1"))
    replace_folder(out, lambda d: (d / "b").write_text("2"))
    assert sorted(p.name for p in out.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_replace_folder_keeps_the_old_one_when_building_fails(tmp_path):
    out = tmp_path / "m"
    replace_folder(out, lambda d: (d / "a").write_text("1"))

    def failing(d):
        (d / "b").write_text("2")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        replace_folder(out, failing)
    assert sorted(p.name for p in out.iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


# ---------------------------------------------------------------------------- JSON


def test_strict_json_nulls_non_finite_numbers_with_a_reason():
    text = strict_json({"a": {"loss": float("nan"), "ok": 1.0},
                        "runs": [1.0, float("-inf")], "n": np.int64(3)},
                       where="x", nonfinite="null")
    data = _strict_load(text)
    assert data["a"] == {"loss": None, "ok": 1.0, "null_reasons": {"loss": "was nan"}}
    assert data["runs"] == [1.0, None]
    assert data["null_reasons"] == {"runs[1]": "was -inf"}
    assert data["n"] == 3
    with pytest.raises(ValueError, match=r"results\.json: loss is nan"):
        strict_json({"a": {"loss": float("nan")}}, where="results.json")


def test_restore_nonfinite_inverts_strict_json_null():
    cases = [{"a": {"loss": float("nan"), "ok": 1.0}, "runs": [[1.0, float("-inf")]]},
             float("inf"), [float("nan"), 2.0], {"value": float("nan")}, {"x": None}]
    for data in cases:
        back = restore_nonfinite(json.loads(strict_json(data, where="x", nonfinite="null")))
        assert json.dumps(back) == json.dumps(data)  # NaN written as NaN on both sides
    # a reason that names no null, or an unknown reason, is kept
    assert restore_nonfinite({"a": 1, "null_reasons": {"a": "was nan"}}) == {
        "a": 1, "null_reasons": {"a": "was nan"}}
    assert restore_nonfinite({"a": None, "null_reasons": {"a": "odd"}}) == {
        "a": None, "null_reasons": {"a": "odd"}}


def test_evaluate_writes_strict_json_when_a_metric_is_not_finite(tmp_path, model,
                                                                 classifier, capsys):
    # a target of 1e25 no longer overflows (the loss is computed in float64) ...
    df = _table()
    df["y"] = 1e25
    df.to_csv(tmp_path / "big.csv", index=False)
    code, out, err = _run(capsys, "evaluate", model, tmp_path / "big.csv")
    assert code == 0
    assert _strict_load(out)["loss"] == pytest.approx(1e50, rel=0.01)
    # ... but the AUC of a table holding one class is undefined: null with the reason
    df = _table()
    df["label"] = "yes"
    df.to_csv(tmp_path / "one.csv", index=False)
    code, out, err = _run(capsys, "evaluate", classifier, tmp_path / "one.csv")
    assert code == 0
    result = _strict_load(out)
    assert result["roc_auc"] is None and result["null_reasons"]["roc_auc"] == "was nan"
    assert "warning: roc_auc is nan" in err


def test_evaluate_refuses_an_infinite_target(tmp_path, model, capsys):
    df = _table()
    df.loc[4, "y"] = np.inf
    df.to_csv(tmp_path / "inf.csv", index=False)
    err = _error(capsys, "evaluate", model, tmp_path / "inf.csv")
    assert "infinite or too large values in the target column 'y' (rows 5)" in err


def test_evaluate_prints_every_metric_of_the_head(model, data, capsys):
    from losskit.nn import MLPRegressor

    est = MLPRegressor.load(model)
    code, out, _ = _run(capsys, "evaluate", model, data)
    assert code == 0
    names = set(_strict_load(out))
    metrics = {m.removesuffix("_score") for m in est.model_.head_specs["output"].default_metrics}
    # the loss in the target's units, and the training objective on the standardised target
    assert names == {"loss", "loss_standardised", *metrics}


def test_every_json_file_and_printout_is_strict(model, data, capsys):
    for name in ("metrics.json", "config.json"):
        _strict_load((model / name).read_text())
    code, out, _ = _run(capsys, "advise", data, "--target", "y", "--json")
    assert code == 0
    _strict_load(out)


def test_demo_results_are_strict_json(tmp_path):
    from losskit import demo

    run = {"results": {"p": {"mse": {"test_metric": {"mean": float("nan"), "std": 0.0}}}}}
    with pytest.raises(KeyError):  # the figures need a full run; the JSON comes first
        demo.write_report(run, tmp_path / "demo")
    data = _strict_load((tmp_path / "demo" / "results.json").read_text())
    metric = data["results"]["p"]["mse"]["test_metric"]
    assert metric["mean"] is None and metric["null_reasons"] == {"mean": "was nan"}


@pytest.mark.parametrize(("command", "argv"), [
    ("demo", ["--jobs", "0"]),
    ("demo", ["--repeats", "0"]),
    ("compare", ["DATA", "--target", "y", "--losses", "mse", "--jobs", "0", "--out", "OUT"]),
])
def test_zero_workers_are_refused(tmp_path, data, capsys, command, argv):
    argv = [str(data) if a == "DATA" else str(tmp_path / "c") if a == "OUT" else a
            for a in argv]
    err = _error(capsys, command, *argv, *(["--out", tmp_path / "d"] if command == "demo"
                                           else []))
    assert ("--jobs is 0" in err) or ("--repeats is 0" in err)


# ---------------------------------------------------------------------------- tables


def _csv(tmp_path, df, name="t.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_duplicate_column_names_are_refused(tmp_path, capsys):
    (tmp_path / "dup.csv").write_text("a,y,y\n" + "".join(f"{i},{i % 3},{i}\n"
                                                          for i in range(20)))
    for command in ("advise", "fit"):
        extra = ["--out", tmp_path / "m"] if command == "fit" else []
        err = _error(capsys, command, tmp_path / "dup.csv", "--target", "y", *extra)
        assert "DATA" in err and "has the column name 'y' twice" in err


def test_a_numeric_column_with_a_few_text_cells(tmp_path, capsys):
    df = _table()
    df["a"] = df["a"].astype(str)
    df.loc[[6, 40], "a"] = ["abc", "1,5"]
    err = _error(capsys, "fit", _csv(tmp_path, df), "--target", "y", "--out", tmp_path / "m")
    assert ("column 'a' holds numbers except for 2 text cell(s): row 7 ('abc'), row 41 "
            "('1,5')") in err
    assert "--drop" in err
    assert not (tmp_path / "m").exists()


def test_text_in_a_numeric_target(tmp_path, capsys):
    df = _table()
    df["y"] = df["y"].astype(str)
    df.loc[9, "y"] = "oops"
    err = _error(capsys, "fit", _csv(tmp_path, df), "--target", "y", "--out", tmp_path / "m")
    assert "--target column 'y' holds numbers except for 1 text cell(s): row 10 ('oops')" in err
    # the fix offered "drop the column with --drop", which fit refuses for the target
    assert "--drop" not in err and "Correct those cells or remove their rows" in err


@pytest.mark.parametrize(("option", "fragment"), [
    (["--task", "classification"], "--task is classification but --target 'y' holds "
                                   "continuous numbers"),
    (["--loss", "binary_cross_entropy"], "--loss is binary_cross_entropy, a classification "
                                         "loss, but --target 'y' holds continuous numbers"),
])
def test_a_classifier_on_a_continuous_target(tmp_path, data, capsys, option, fragment):
    # was scikit-learn's "Unknown label type: continuous. Maybe you are trying to fit a
    # classifier..." naming no argument
    err = _error(capsys, "fit", data, "--target", "y", *option, "--out", tmp_path / "m")
    assert fragment in err and "Unknown label type" not in err


def test_loss_and_target_mismatch_in_the_commands_words(tmp_path, capsys):
    # said "but y has 5 classes" and offered "or a callable", which a command line cannot pass
    df = _table()
    df["n"] = np.arange(len(df)) % 5
    path = _csv(tmp_path, df)
    err = _error(capsys, "fit", path, "--target", "n", "--loss", "binary_cross_entropy",
                 "--out", tmp_path / "m")
    assert "--loss is 'binary_cross_entropy' but --target 'n' has 5 classes" in err
    err = _error(capsys, "fit", path, "--target", "n", "--task", "regression", "--loss",
                 "sparse_categorical_cross_entropy", "--out", tmp_path / "m")
    assert "which is not a regression loss" in err and "callable" not in err


def test_free_text_warns_and_drop_leaves_it_out(tmp_path, capsys):
    df = _table(n=120)
    df["comment"] = [f"note number {i}" for i in range(120)]
    path = _csv(tmp_path, df)
    code, _, err = _run(capsys, "fit", path, "--target", "y", "--epochs", "2", "--drop",
                        "label", "--out", tmp_path / "a")
    assert code == 0
    assert "warning: column 'comment' has 120 distinct text values in 108 rows" not in err
    assert "column 'comment' has 120 distinct text values" in err and "--drop comment" in err
    code, _, err = _run(capsys, "fit", path, "--target", "y", "--epochs", "2", "--drop",
                        "label,comment", "--out", tmp_path / "b")
    assert code == 0 and "comment" not in err
    columns = json.loads((tmp_path / "b" / "config.json").read_text())["preprocessing"][
        "columns"]
    assert columns == ["a", "b"]
    err = _error(capsys, "fit", path, "--target", "y", "--drop", "coment", "--out",
                 tmp_path / "c")
    assert "--drop 'coment' is not a column. Did you mean 'comment'?" in err


def test_unseen_categories_at_predict_are_counted(tmp_path, model, capsys):
    df = _table()
    df.loc[[1, 2, 3], "b"] = "zzz"
    code, out, err = _run(capsys, "predict", model, _csv(tmp_path, df))
    assert code == 0
    assert "losskit predict: warning: 3 row(s) have categories not seen in training ('b': 3 " \
           "(e.g. 'zzz'))" in err
    assert len(out.splitlines()) == 61


def test_values_far_outside_the_training_data_are_reported_at_predict(tmp_path, model, capsys):
    df = _table()
    far = float(df["a"].mean() + 50 * df["a"].std())
    df.loc[[4, 7], "a"] = far
    code, out, err = _run(capsys, "predict", model, _csv(tmp_path, df))
    assert code == 0 and len(out.splitlines()) == 61
    assert (f"losskit predict: warning: 2 row(s) have values more than 5 standard deviations "
            f"from the training data's mean ('a': 2 (e.g. {far:g}))") in err
    code, out, err = _run(capsys, "predict", model, _csv(tmp_path, _table()))
    assert code == 0 and "standard deviations" not in err


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda df: df.assign(y=3.0), "--target 'y' is constant (every row is 3.0)"),
    (lambda df: df.iloc[:1], "--target 'y' has 1 row"),
    (lambda df: df.assign(y=df.y.where(df.index != 5, np.inf)),
     "--target 'y' has 1 infinite or NaN value(s) (rows 6)"),
    (lambda df: df.assign(y=df.y * 1e300), "beyond what the float32 network can represent"),
    (lambda df: df.assign(label="yes"), None),
])
def test_targets_with_nothing_to_learn_or_impossible_values(tmp_path, capsys, change,
                                                             fragment):
    df = change(_table())
    target = "y" if fragment is not None else "label"
    fragment = fragment or "--target 'label' is constant (every row is 'yes')"
    err = _error(capsys, "fit", _csv(tmp_path, df), "--target", target, "--out",
                 tmp_path / "m")
    assert fragment in err
    assert "loss is 'none'" not in err and "could not be matched" not in err


def test_network_and_category_sizes_are_checked_against_memory(tmp_path, data, capsys):
    err = _error(capsys, "fit", data, "--target", "y", "--hidden", "100000,100000", "--out",
                 tmp_path / "m")
    assert "--hidden needs about" in err and "GiB of memory is available" in err
    assert not (tmp_path / "m").exists()


def test_memory_check_for_wide_one_hot_tables(monkeypatch):
    import losskit.nn.cli as nn_cli

    monkeypatch.setattr(nn_cli, "_available_memory", lambda: 2**30)
    with pytest.raises(ValueError, match=r"fit: DATA needs about .* Drop text columns"):
        nn_cli._check_memory(1_000_000, 500_000, (64,), 1, 32)


def test_a_batch_size_beyond_the_rows_is_not_a_memory_problem(tmp_path, data, capsys):
    # --batch-size 10**9 on 60 rows was refused as "--hidden needs about 12 GiB": a batch
    # holds at most every row
    code, _, err = _run(capsys, "fit", data, "--target", "y", "--epochs", "2",
                        "--batch-size", str(10**9), "--out", tmp_path / "m")
    assert code == 0, err
    assert (tmp_path / "m" / "model.safetensors").exists()


# ---------------------------------------------------------------------------- messages


def test_unknown_target_lists_every_column_and_suggests(tmp_path, capsys):
    df = pd.DataFrame({f"feature_{i}": [0.0, 1.0, 2.0] for i in range(30)})
    df["diagnosis"] = [0, 1, 0]
    err = _error(capsys, "advise", _csv(tmp_path, df), "--target", "Diagnosis")
    assert "--target 'Diagnosis' is not a column. Did you mean 'diagnosis'?" in err
    assert "'feature_29'" in err and "more" not in err


@pytest.mark.parametrize("command", ["fit", "predict", "evaluate", "advise"])
def test_messages_never_name_internal_functions(tmp_path, model, capsys, command):
    df = _table()
    df.loc[2, "a"] = np.nan
    path = _csv(tmp_path, df)
    argv = {"fit": ["fit", path, "--target", "y", "--out", tmp_path / "m"],
            "predict": ["predict", model, path], "evaluate": ["evaluate", model, path],
            "advise": ["advise", tmp_path / "nope.csv", "--target", "y"]}[command]
    err = _error(capsys, *argv)
    for internal in ("split_target", "TabularEncoder", "fit_table", "read_table", "load:"):
        assert internal not in err


def test_evaluate_without_the_target_names_flags_that_exist(tmp_path, model, capsys):
    path = _csv(tmp_path, _table().drop(columns=["y"]))
    err = _error(capsys, "evaluate", model, path)
    assert "has no column 'y', the target the model was trained to predict" in err
    assert "--target" not in err


def test_predict_refuses_a_table_without_the_training_columns(tmp_path, model, capsys):
    err = _error(capsys, "predict", model, _csv(tmp_path, _table().drop(columns=["b"])))
    assert "losskit predict: error: DATA lacks the column(s) 'b'" in err


# ---------------------------------------------------------------------------- resume


@pytest.fixture
def interrupted(tmp_path, data):
    """An SGD run stopped after 2 of 4 epochs (as a kill leaves it)."""
    out = tmp_path / "run"
    argv = ["fit", str(data), "--target", "y", "--optimizer", "sgd", "--learning-rate",
            "0.01", "--no-early-stopping", "--seed", "4", "--out", str(out)]
    assert main([*argv, "--epochs", "2"]) == 0
    return out, argv


def test_resume_takes_the_runs_settings(tmp_path, data, interrupted, capsys):
    out, argv = interrupted
    code, _, err = _run(capsys, "fit", data, "--target", "y", "--epochs", "4", "--resume",
                        "--out", out)
    assert code == 0 and "continues to epoch 4" in err
    assert main([*argv[:-1], str(tmp_path / "whole"), "--epochs", "4"]) == 0
    a = _strict_load((out / "metrics.json").read_text())
    b = _strict_load((tmp_path / "whole" / "metrics.json").read_text())
    assert a["train"] == b["train"] and a["epochs"] == 4
    config = json.loads((out / "config.json").read_text())
    assert config["params"]["optimizer"] == "sgd" and config["params"]["learning_rate"] == 0.01


@pytest.mark.parametrize(("option", "fragment"), [
    (["--optimizer", "adam"], "--optimizer is adam (the run used sgd)"),
    (["--learning-rate", "0.5"], "--learning-rate is 0.5 (the run used 0.01)"),
    (["--hidden", "8"], "--hidden is 8 (the run used 64)"),
    (["--early-stopping"], "--early-stopping is True (the run used False)"),
])
def test_resume_refuses_settings_it_cannot_honour(data, interrupted, capsys, option,
                                                  fragment):
    out, _ = interrupted
    before = (out / "config.json").read_bytes()
    err = _error(capsys, "fit", data, "--target", "y", "--epochs", "4", "--resume", *option,
                 "--out", out)
    assert "--resume cannot change the settings of the run it continues" in err
    assert fragment in err
    assert (out / "config.json").read_bytes() == before  # nothing written


def test_resume_refuses_fewer_epochs_than_the_run(data, interrupted, capsys):
    # lowering --epochs trained nothing but wrote the lower count into run.json and
    # config.json, and warned "training continues to epoch 1"
    out, _ = interrupted
    before = (out / "config.json").read_bytes()
    err = _error(capsys, "fit", data, "--target", "y", "--epochs", "1", "--resume", "--out",
                 out)
    assert "--epochs is 1 (the run was set to 2; --resume can only raise it)" in err
    assert (out / "config.json").read_bytes() == before


def test_resume_refuses_another_target(data, interrupted, capsys):
    out, _ = interrupted
    err = _error(capsys, "fit", data, "--target", "label", "--resume", "--out", out)
    assert "--target is 'label' but the run in" in err


def test_resume_from_a_truncated_checkpoint(data, interrupted, capsys):
    out, _ = interrupted
    ckpt = out / "checkpoint" / "checkpoint.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    err = _error(capsys, "fit", data, "--target", "y", "--epochs", "4", "--resume", "--out",
                 out)
    assert "--resume cannot use" in err and "is truncated" in err
    assert "to start over" in err


# ---------------------------------------------------------------------------- CSV


def test_csv_cells_cannot_run_as_formulas(tmp_path, capsys):
    df = _table()
    df["label"] = np.where(df.a > 0, '=HYPERLINK("http://evil","x")', "@SUM(A1)")
    path = _csv(tmp_path, df)
    assert _run(capsys, "fit", path, "--target", "label", "--epochs", "2", "--drop", "y",
                "--out", tmp_path / "m")[0] == 0
    assert _run(capsys, "predict", tmp_path / "m", path, "--out", tmp_path / "p.csv")[0] == 0
    with open(tmp_path / "p.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    cells = [c for row in rows for c in row]
    assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells)
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in cells or "'@SUM(A1)" in cells
    assert "probability_'@SUM(A1)" not in cells[0]  # headers start with "probability_"


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("-1.5", "-1.5"),
    ("+3", "+3"), (-2, -2), (np.float64(-0.5), -0.5), ("plain", "plain"),
])
def test_csv_cell(value, expected):
    assert csv_cell(value) == expected


def test_modes_of_written_files_are_ordinary(tmp_path, data, capsys):
    assert _run(capsys, "fit", data, "--target", "y", "--epochs", "2", "--out",
                tmp_path / "m")[0] == 0
    umask = os.umask(0)
    os.umask(umask)
    # the staging folder is made private by mkdtemp; the model folder gets ordinary rights
    assert stat.S_IMODE(os.stat(tmp_path / "m").st_mode) == 0o777 & ~umask


def test_advise_json_nulls_an_infinite_statistic(data, capsys, monkeypatch):
    import importlib

    advise_module = importlib.import_module("losskit.advise")

    real = advise_module.Advice.to_dict

    def with_inf(self):
        return {**real(self), "dispersion": float("inf")}

    monkeypatch.setattr(advise_module.Advice, "to_dict", with_inf)
    code, out, _ = _run(capsys, "advise", data, "--target", "y", "--json")
    assert code == 0
    result = _strict_load(out)
    assert result["dispersion"] is None
    assert result["null_reasons"]["dispersion"] == "was inf"


def test_a_boolean_column_read_back_as_text_still_matches_its_categories(tmp_path, capsys):
    # one bad cell makes pandas read a True/False column as text at predict: the other rows
    # must still encode as their categories (before: every row unseen, garbage predictions)
    df = _table()
    df["flag"] = df.a > 0
    path = _csv(tmp_path, df)
    assert main(["fit", str(path), "--target", "y", "--epochs", "3", "--drop", "label",
                 "--out", str(tmp_path / "m")]) == 0
    code, clean, _ = _run(capsys, "predict", tmp_path / "m", path)
    assert code == 0
    bad = df.astype({"flag": object})
    bad.loc[0, "flag"] = "maybe"
    code, out, err = _run(capsys, "predict", tmp_path / "m", _csv(tmp_path, bad, "bad.csv"))
    assert code == 0
    assert "1 row(s) have categories not seen in training ('flag': 1 (e.g. 'maybe'))" in err
    assert out.splitlines()[2:] == clean.splitlines()[2:]


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--resume", "--force"], "argument --force: not allowed with argument --resume"),
    (["--ep", "4"], "unrecognized arguments: --ep"),
])
def test_contradictory_or_abbreviated_flags_are_refused(tmp_path, data, capsys, argv, fragment):
    with pytest.raises(SystemExit) as stop:  # argparse's own exit, status 2
        main(["fit", str(data), "--target", "y", "--out", str(tmp_path / "m"), *argv])
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and out == ""
    assert err.splitlines()[-1].startswith("losskit fit: error: ") and fragment in err
    assert not (tmp_path / "m").exists()
