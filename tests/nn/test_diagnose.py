"""losskit diagnose / lk.diagnose_log on logs written by really training: Keras' CSVLogger,
torch's SummaryWriter (TensorBoard), Lightning's CSVLogger and losskit's own history.csv."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import losskit as lk
from adapter_cases import doc_example
from keras_runs import keras_runs
from losskit.cli import main
from losskit.nn.diagnosis import diagnose_curves

KERAS_BACKENDS = ("jax", "torch")  # the same call as test_keras_adapter: one run per session


@pytest.fixture(scope="module")
def keras_logs():
    run = keras_runs(KERAS_BACKENDS, logs="jax")["jax"]
    if "skipped" in run:
        pytest.skip(run["skipped"])
    return run["folder"]


def _columns(path):
    import csv

    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {k: [r[k] for r in rows] for k in rows[0]}


def test_a_real_keras_overfitting_run(keras_logs, tmp_path, capsys):
    log = f"{keras_logs}/overfit.csv"
    val = [float(v) for v in _columns(log)["val_loss"]]
    best = int(np.argmin(val))  # Keras counts epochs from 0, as its CSV does
    assert 0 < best < len(val) - 5  # the run really improved, then overfitted

    result = lk.diagnose_log(log)
    assert result.kinds[0] == "overfitting"
    finding = result.diagnosis.findings[0]
    assert abs(finding.epoch - best) <= 2
    assert finding.numbers["best_val_loss"] == pytest.approx(min(val))

    out = tmp_path / "d"
    assert main(["diagnose", log, "--out", str(out), "--fail-on", "divergence,overfitting"]) == 1
    printed = capsys.readouterr()
    assert f"Overfitting from epoch {finding.epoch}" in printed.out
    assert "failing: overfitting found (--fail-on)" in printed.err
    saved = json.loads((out / "diagnosis.json").read_text())
    assert saved["verdict"] == "overfitting" and saved["findings"][0]["epoch"] == finding.epoch
    assert saved["curves"]["val_loss"] == pytest.approx(val)
    assert (out / "curves.png").stat().st_size > 1000
    assert main(["diagnose", log, "--out", str(out), "--fail-on", "divergence"]) == 0


def test_a_real_keras_diverging_run(keras_logs, tmp_path, capsys):
    log = f"{keras_logs}/diverge.csv"
    losses = [float(v) for v in _columns(log)["loss"]]
    first_bad = next(i for i, v in enumerate(losses)
                     if not math.isfinite(v) or v > 10 * losses[0])
    result = lk.diagnose_log(log)
    assert result.kinds == ["diverged"]
    assert result.diagnosis.findings[0].epoch == first_bad
    assert main(["diagnose", log, "--out", str(tmp_path), "--fail-on", "divergence"]) == 1
    assert f"Diverged at epoch {first_bad}" in capsys.readouterr().out
    saved = json.loads((tmp_path / "diagnosis.json").read_text())  # strict JSON: inf -> null
    assert None in saved["curves"]["loss"]


def test_tensorboard_events_from_torch_summary_writer(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (test extra)")
    torch = pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter

    import losskit.torch as lkt

    torch.manual_seed(0)
    X, y = torch.randn(30, 20), torch.randn(30, 1)
    Xv, yv = torch.randn(200, 20), torch.randn(200, 1)  # pure noise: it can only overfit
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 1))
    criterion = lkt.MeanSquaredErrorLoss()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    train, val = [], []
    with SummaryWriter(str(tmp_path / "run")) as writer:
        for epoch in range(25):
            optimiser.zero_grad()
            loss = criterion(model(X), y)
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                val_loss = criterion(model(Xv), yv).item()
            train.append(loss.item())
            val.append(val_loss)
            writer.add_scalar("Loss/train", loss.item(), epoch)
            writer.add_scalar("Loss/val", val_loss, epoch)

    result = lk.diagnose_log(tmp_path)  # the folder: event files are found inside
    assert result.curves.format == "TensorBoard events"
    assert (result.curves.loss_name, result.curves.val_loss_name) == ("run/Loss/train",
                                                                      "run/Loss/val")
    np.testing.assert_allclose(result.curves.loss, train, rtol=1e-6)
    np.testing.assert_allclose(result.curves.val_loss, val, rtol=1e-6)
    assert result.kinds == diagnose_curves(train, val, epochs=range(25)).kinds
    assert result.kinds[0] == "overfitting"


def test_lightning_metrics_csv_with_step_and_epoch_rows(tmp_path):
    pl = pytest.importorskip("pytorch_lightning",
                             reason="pytorch-lightning is not installed (test extra)")
    torch = pytest.importorskip("torch")
    import losskit.torch as lkt

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(3, 1)
            self.criterion = lkt.HuberLoss(delta=1.0)

        def training_step(self, batch, _):
            loss = self.criterion(self.net(batch[0]), batch[1])
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch, _):
            self.log("val_loss", self.criterion(self.net(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    torch.manual_seed(0)
    x = torch.randn(96, 3)
    y = x @ torch.tensor([[1.0], [-1.0], [0.5]]) + 0.1 * torch.randn(96, 1)
    data = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(data, batch_size=16)
    logger = pl.loggers.CSVLogger(str(tmp_path), name="run")
    trainer = pl.Trainer(max_epochs=6, logger=logger, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         log_every_n_steps=2, accelerator="cpu", num_sanity_val_steps=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice on num_workers
        trainer.fit(Model(), loader, loader)
    log = next(tmp_path.rglob("metrics.csv"))
    columns = _columns(log)
    assert "step" in columns and "train_loss_step" in columns  # step rows and epoch rows
    result = lk.diagnose_log(log)
    assert result.curves.format == "Lightning metrics.csv"
    assert result.curves.epochs == list(range(6))
    assert result.curves.loss_name == "train_loss_epoch"
    assert result.curves.val_loss_name == "val_loss"
    epoch_rows = [float(v) for v in columns["train_loss_epoch"] if v != ""]
    np.testing.assert_allclose(result.curves.loss, epoch_rows)
    assert result.curves.val_loss[-1] == pytest.approx(trainer.callback_metrics["val_loss"])
    assert result.kinds[0] in ("converged", "still_improving")
    assert result.curves.loss[-1] < result.curves.loss[0]


def test_losskit_history_csv(tmp_path):
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    data = tmp_path / "d.csv"
    x = rng.normal(size=(80, 2))
    rows = [f"{a},{b},{2 * a - b + 0.1 * e}" for (a, b), e in zip(x, rng.normal(size=80),
                                                                   strict=True)]
    data.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    assert main(["fit", str(data), "--target", "y", "--epochs", "6", "--out",
                 str(tmp_path / "m")]) == 0
    history = _columns(tmp_path / "m" / "history.csv")
    result = lk.diagnose_log(tmp_path / "m" / "history.csv")
    assert result.curves.epochs == [int(e) for e in history["epoch"]]
    np.testing.assert_allclose(result.curves.loss, [float(v) for v in history["loss"]])
    assert result.curves.val_loss_name == "val_loss"


def test_any_csv_with_named_columns_and_empty_cells(tmp_path, capsys):
    log = tmp_path / "mine.csv"
    log.write_text("it,train_objective,held_out\n1,0.9,1.0\n2,0.5,0.7\n3,0.4,0.6\n4,,0.6\n")
    with pytest.raises(ValueError, match=r"diagnose: LOG .* has no training-loss column"):
        lk.diagnose_log(log)
    result = lk.diagnose_log(log, loss="train_objective", val_loss="held_out")
    assert result.kinds == ["diverged"]  # an empty training-loss cell: not finite
    assert "the training loss was nan" in str(result)
    assert main(["diagnose", str(log), "--loss", "objective", "--out", str(tmp_path)]) == 2
    assert "losskit diagnose: error: --loss names 'objective'" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"diagnose: --val-loss names 'held_ot', which .* "
                                         r"\(it has 'it', 'train_objective', 'held_out'\)\. "
                                         r"Did you mean 'held_out'\? Pass one of its columns"):
        lk.diagnose_log(log, loss="train_objective", val_loss="held_ot")
    assert main(["diagnose", str(log), "--loss", "train_objective", "--fail-on", "boredom",
                 "--out", str(tmp_path)]) == 2
    assert "--fail-on names 'boredom'" in capsys.readouterr().err
    assert main(["diagnose", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_diagnose_curves_is_diagnose_on_plain_curves():
    loss = [1.0, 0.6, 0.45, 0.41, 0.4, 0.4, 0.4, 0.4]
    result = diagnose_curves(loss)
    assert result.kinds == ["converged"]
    with pytest.raises(ValueError, match=r"diagnose_curves: val_loss has a different length"):
        diagnose_curves(loss, [1.0])


def test_the_docs_example_runs(capsys):
    pytest.importorskip("torch")
    exec(compile(doc_example("diagnose.md"), "docs/diagnose.md", "exec"), {})
    assert "Overfitting from epoch" in capsys.readouterr().out
