"""`losskit demo`: the study's data and set-up, results.json's schema, the report, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

import losskit as lk
from losskit import demo
from losskit.cli import main


@pytest.fixture(scope="module")
def tiny_run():
    # a few epochs per network: checks the plumbing, not the study's numbers
    return demo.run_demo(2, n_jobs=1, epochs_scale=0.02)


def test_the_study_data():
    X, y, Xt, _ = demo.make_data("regression")
    assert X.shape == (500, 20) and y.shape == (500, 1) and Xt.shape == (500, 20)
    both = np.concatenate([X, Xt])
    np.testing.assert_allclose(both.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(both.std(axis=0), 1, atol=1e-5)
    X, y, _, _ = demo.make_data("binary")
    assert X.shape == (500, 2) and set(np.unique(y)) == {0, 1}
    X, y, _, _ = demo.make_data("multiclass")
    assert X.shape == (500, 2) and set(np.unique(y)) == {0, 1, 2}
    with pytest.raises(ValueError, match="make_data: problem is 'images'"):
        demo.make_data("images")


def test_every_study_loss_is_a_losskit_function():
    for problem, spec in demo.PROBLEMS.items():
        assert set(spec.losses) == set(demo.STUDY[problem])
        for name in spec.losses:
            assert callable(getattr(lk, name))


def test_results_schema(tiny_run):
    results = tiny_run["results"]
    assert set(results) == {"regression", "binary", "multiclass"}
    for problem, losses in results.items():
        assert set(losses) == set(demo.STUDY[problem])
        for summary in losses.values():
            assert set(summary) == {"train_metric", "test_metric", "train_loss", "test_loss"}
            for stats in summary.values():
                assert set(stats) == {"mean", "std", "values"} and len(stats["values"]) == 2
                assert stats["mean"] == pytest.approx(np.mean(stats["values"]))
                assert np.isfinite(stats["values"]).all()
    accuracy = results["binary"]["binary_cross_entropy"]["test_metric"]["mean"]
    assert 0 <= accuracy <= 1


def test_runs_are_deterministic_and_seeds_differ():
    a = demo._train("binary", "binary_cross_entropy", 3, 2)
    b = demo._train("binary", "binary_cross_entropy", 3, 2)
    c = demo._train("binary", "binary_cross_entropy", 4, 2)
    assert a["test_loss"] == b["test_loss"] and a["curves"] == b["curves"]
    assert a["test_loss"] != c["test_loss"]


def test_one_hot_and_sparse_cross_entropy_and_kl_agree_on_the_same_seed():
    runs = [demo._train("multiclass", loss, 0, 2)
            for loss in ("categorical_cross_entropy", "kl_divergence")]
    # KL(one-hot || p) is the cross-entropy: the same seed trains the same network
    assert runs[0]["test_loss"] == pytest.approx(runs[1]["test_loss"], rel=1e-5)


def test_report_files(tiny_run, tmp_path):
    files = demo.write_report(tiny_run, tmp_path)
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["results"] == json.loads(json.dumps(tiny_run["results"]))
    # like compare's: the settings, the tests' p-values and the conclusions
    assert payload["conclusions"] == demo.conclusions(tiny_run["results"])
    assert payload["settings"]["repeats"] == tiny_run["settings"]["repeats"]
    assert payload["settings"]["problems"]["binary"]["losses"] == list(
        demo.PROBLEMS["binary"].losses)
    for problem in ("regression", "binary", "multiclass"):
        versus = payload["tests"][problem]["versus"]
        assert len(versus) == 2 and all("p_value" in row for row in versus)
    for problem in ("regression", "binary", "multiclass"):
        png = (tmp_path / f"curves_{problem}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
    page = files["report"].read_text()
    assert page.count('src="data:image/png;base64,') == 3
    for line in demo.conclusions(tiny_run["results"]):
        assert line.split(":")[0] in page
    assert "0.852" in page  # the study's figure beside ours
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_conclusions_are_computed_from_the_numbers():
    def summary(values):
        return {"mean": float(np.mean(values)), "std": float(np.std(values)),
                "values": list(values)}

    def results(a, b, c):
        return {"binary": {"binary_cross_entropy": {"test_metric": summary(a)},
                           "hinge_loss": {"test_metric": summary(b)},
                           "squared_hinge_loss": {"test_metric": summary(c)}}}

    clear = demo.conclusions(results([0.90, 0.91, 0.92], [0.60, 0.61, 0.62], [0.70, 0.69, 0.71]))
    assert clear[0].startswith("binary: binary_cross_entropy gives the best test accuracy, "
                               "0.9100 ± 0.0082")
    assert "clearly ahead of squared_hinge_loss" in clear[0]
    tied = demo.conclusions(results([0.80, 0.90, 0.85], [0.86, 0.84, 0.79], [0.5, 0.5, 0.5]))
    assert "not distinguishable from hinge_loss" in tied[0]
    flipped = demo.conclusions(results([0.60, 0.61, 0.62], [0.90, 0.91, 0.92], [0.5, 0.5, 0.5]))
    assert flipped[0].startswith("binary: hinge_loss gives the best")
    assert "maximum-likelihood loss (binary_cross_entropy) is behind the best here" in flipped[1]
    close = demo.conclusions(results([0.85, 0.84, 0.86], [0.86, 0.84, 0.87], [0.5, 0.5, 0.5]))
    assert close[0].startswith("binary: hinge_loss gives the best")
    assert "(binary_cross_entropy) is within the run-to-run spread" in close[1]
    assert len(tied) == 1  # the likelihood loss is the best: nothing more to say


def test_parallel_workers_give_the_same_numbers():
    one = demo.run_demo(1, n_jobs=1, epochs_scale=0.01, problems=("multiclass",))
    two = demo.run_demo(1, n_jobs=2, epochs_scale=0.01, problems=("multiclass",))
    assert one["results"] == two["results"]


def test_batched_networks_give_the_numbers_of_one_at_a_time():
    batched = demo.run_demo(2, n_jobs=1, epochs_scale=0.02, problems=("binary",))
    alone = demo.run_demo(2, n_jobs=1, epochs_scale=0.02, problems=("binary",), batched=False)
    assert batched["settings"]["batched"] and not alone["settings"]["batched"]
    for loss, result in batched["results"]["binary"].items():
        for key in ("train_loss", "test_loss", "test_metric"):
            np.testing.assert_allclose(result[key]["values"],
                                       alone["results"]["binary"][loss][key]["values"],
                                       rtol=1e-4, atol=1e-5)
        curves, ref = batched["curves"]["binary"][loss], alone["curves"]["binary"][loss]
        np.testing.assert_allclose(curves["val_loss"], ref["val_loss"], rtol=1e-4)
        np.testing.assert_allclose(curves["val_metric"], ref["val_metric"], atol=1e-6)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"repeats": 0}, "run_demo: repeats is 0"),
    ({"epochs_scale": 2.0}, "run_demo: epochs_scale is 2.0"),
    ({"problems": ("vision",)}, "run_demo: problems is"),
])
def test_bad_arguments(kwargs, message):
    args = {"repeats": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        demo.run_demo(args.pop("repeats"), **args)


def test_cli_wires_the_arguments(tiny_run, tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_run(repeats, **kwargs):
        seen.update(repeats=repeats, **kwargs)
        return tiny_run

    monkeypatch.setattr(demo, "run_demo", fake_run)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--repeats", "2", "--jobs", "1", "--quick"]) == 0
    assert seen["repeats"] == 2 and seen["n_jobs"] == 1 and seen["epochs_scale"] == 0.1
    assert seen["batched"] is True
    assert (out / "results.json").is_file() and (out / "report.html").is_file()
    printed = capsys.readouterr().out
    assert "binary_cross_entropy" in printed and "wrote" in printed
    assert main(["demo", "--out", str(out), "--quick", "--no-batch"]) == 0
    assert seen["batched"] is False


@pytest.mark.parametrize("batched", [True, False])
def test_the_data_are_made_once_per_problem_by_the_dispatcher(monkeypatch, batched):
    made = []
    real = demo.make_data

    def counted(problem):
        made.append(problem)
        return real(problem)

    monkeypatch.setattr(demo, "make_data", counted)
    run = demo.run_demo(2, n_jobs=1, epochs_scale=0.01, problems=("multiclass", "binary"),
                        batched=batched)
    assert sorted(made) == ["binary", "multiclass"]  # not once per network
    assert set(run["results"]) == {"binary", "multiclass"}


def test_a_worker_given_the_data_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from losskit import demo\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(1000, 2)).astype(np.float32)\n"
        "y = (X[:, 0] > 0).astype(np.int64)\n"
        "data = {'binary': (X[:500], y[:500], X[500:], y[500:])}\n"
        "out = demo._train_batch([('binary', 'hinge_loss', 0, 1)], data=data)\n"
        "assert 0 <= out[0]['test_metric'] <= 1\n"
        "print('sklearn' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_batched_runs_train_in_this_process_unless_workers_are_asked_for(monkeypatch):
    monkeypatch.setattr(demo.os, "cpu_count", lambda: 4)
    run = demo.run_demo(1, epochs_scale=0.01, problems=("multiclass", "binary"))
    assert run["settings"]["batched"] and run["settings"]["workers"] == 1
