"""``losskit demo``: the classic loss-comparison study, reproduced on generated data.

Three problems, three losses each, trained ``repeats`` times with different seeds, with the
study's set-up: a 500/500 train/test split; an MLP with one hidden ReLU layer, He-uniform
initialisation; SGD with learning rate 0.01, momentum 0.9, batch 32.

* ``regression``: ``make_regression(n_samples=1000, n_features=20, noise=0.1,
  random_state=1)``, X and y standardised, 25 hidden units, linear output, 100 epochs; losses
  mean squared error, mean squared logarithmic error (Keras' definition, which clips
  ``y + 1`` at ``eps``: the standardised targets are negative half of the time), mean absolute
  error; metric MSE.
* ``binary``: ``make_circles(n_samples=1000, noise=0.1, random_state=1)``, 50 hidden units, 200
  epochs; binary cross-entropy (sigmoid output), hinge and squared hinge (a tanh output on
  labels ±1: written as the difference of a two-class softmax, ``p1 - p0 = tanh((z1 - z0)/2)``,
  which is a tanh unit on a linear layer); metric accuracy.
* ``multiclass``: ``make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2,
  random_state=2)``, 50 hidden units, softmax output, 100 epochs; categorical cross-entropy
  (one-hot targets, softmax probabilities), sparse categorical cross-entropy (integer labels,
  from the logits), KL divergence; metric accuracy.

Losses are reported as losskit computes them after training (final train and test loss and
metric), the curves are the exact per-epoch losses and metrics of the trainer (test set as
validation data), and the conclusions are computed from the numbers.
"""

from __future__ import annotations

import base64
import html
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import losskit as lk
from losskit._io import atomic_write_bytes, write_json
from losskit._parallel import freeze_imports
from losskit._validation import fail

__all__ = ["PROBLEMS", "STUDY", "conclusions", "run_demo", "significance", "write_report"]

#: the study's single-run test results (its article's figures), for comparison
STUDY: dict[str, dict[str, float]] = {
    "regression": {"mean_squared_error": 0.001, "mean_squared_log_error": 0.184,
                   "mean_absolute_error": 0.002},
    "binary": {"binary_cross_entropy": 0.852, "hinge_loss": 0.740,
               "squared_hinge_loss": 0.646},
    "multiclass": {"categorical_cross_entropy": 0.822,
                   "sparse_categorical_cross_entropy": 0.818, "kl_divergence": 0.822},
}


# ----------------------------------------------------------------- losses on the network output
# Callables receive (y_true, y_pred) as the network gives them: regression outputs, or one-hot
# targets and softmax probabilities (see losskit.nn.Head). The network's outputs are valid by
# construction, so the per-batch value checks are off.

def _msle_keras(y: Any, pred: Any) -> Any:
    return lk.mean_squared_log_error(y, pred, reduction="none", convention="keras",
                                     check_values=False)


def _margin(p: Any) -> Any:
    return p[:, 1] - p[:, 0]  # = tanh((z1 - z0) / 2): a tanh output unit


def _hinge(y: Any, p: Any) -> Any:
    return lk.hinge_loss(y[:, 1], _margin(p), reduction="none", check_values=False)


def _squared_hinge(y: Any, p: Any) -> Any:
    return lk.squared_hinge_loss(y[:, 1], _margin(p), reduction="none", check_values=False)


def _categorical(y: Any, p: Any) -> Any:
    return lk.categorical_cross_entropy(y, p, reduction="none", check_values=False)


def _kl(y: Any, p: Any) -> Any:
    return lk.kl_divergence(y, p, reduction="none", check_values=False)


@dataclass(frozen=True)
class Problem:
    """One problem of the study: data, network size, epochs, losses and metric."""

    task: str
    hidden: int
    epochs: int
    losses: dict[str, Any]  # losskit function name -> what losskit.nn.Head takes
    metric: str  # "mse" (minimised) or "accuracy" (maximised)

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "accuracy"


PROBLEMS: dict[str, Problem] = {
    "regression": Problem("regression", 25, 100, {
        "mean_squared_error": "mean_squared_error",
        "mean_squared_log_error": _msle_keras,
        "mean_absolute_error": "mean_absolute_error"}, "mse"),
    "binary": Problem("classification", 50, 200, {
        "binary_cross_entropy": "binary_cross_entropy",
        "hinge_loss": _hinge,
        "squared_hinge_loss": _squared_hinge}, "accuracy"),
    "multiclass": Problem("classification", 50, 100, {
        "categorical_cross_entropy": _categorical,
        "sparse_categorical_cross_entropy": "sparse_categorical_cross_entropy",
        "kl_divergence": _kl}, "accuracy"),
}


def make_data(problem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The study's data set: ``(X_train, y_train, X_test, y_test)``, 500 samples each."""
    from sklearn.datasets import make_blobs, make_circles, make_regression

    if problem == "regression":
        X, y = make_regression(n_samples=1000, n_features=20, noise=0.1, random_state=1)
        # the study standardises X and y with scalers fitted on the whole set
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        y = ((y - y.mean()) / y.std())[:, None]
    elif problem == "binary":
        X, y = make_circles(n_samples=1000, noise=0.1, random_state=1)
    elif problem == "multiclass":
        X, y = make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2,
                          random_state=2)
    else:
        fail("make_data", "problem", f"is {problem!r}",
             f"Pass one of {', '.join(PROBLEMS)}")
    X = X.astype(np.float32)
    y = y.astype(np.float32) if problem == "regression" else y.astype(np.int64)
    return X[:500], y[:500], X[500:], y[500:]


def _member(problem: str, loss_name: str, seed: int, epochs: int,
            data: tuple[np.ndarray, ...] | None = None) -> Any:
    """One network of the study, untrained: a :class:`losskit.nn._batched.Member`
    (``data``: :func:`make_data`'s arrays, made here if not given)."""
    from losskit.nn import MLP, Head, Member, Trainer

    spec = PROBLEMS[problem]
    X_train, y_train, X_test, y_test = make_data(problem) if data is None else data
    n_classes = None if spec.task == "regression" else int(y_train.max()) + 1
    head = Head(spec.losses[loss_name], task=spec.task, n_classes=n_classes)
    model = MLP(X_train.shape[1], head, hidden_layer_sizes=(spec.hidden,), activation="relu",
                init="he_uniform", random_state=seed)
    trainer = Trainer(optimizer="sgd", learning_rate=0.01, momentum=0.9, batch_size=32,
                      epochs=epochs, metrics=[_metric_name(problem)], random_state=seed,
                      verbose=False)
    return Member(model, trainer, X_train, y_train, validation_data=(X_test, y_test))


def _metric_name(problem: str) -> str:
    return "root_mean_squared_error" if PROBLEMS[problem].metric == "mse" else "accuracy"


def _result(problem: str, member: Any, history: Any, seconds: float) -> dict[str, Any]:
    """Final losses and metrics of a trained network, and its per-epoch curves."""
    import torch

    spec = PROBLEMS[problem]
    model = member.model
    head = next(iter(model.head_specs.values()))
    X_test, y_test = member.validation_data
    result: dict[str, Any] = {"seconds": seconds}
    model.eval()
    with torch.no_grad():
        for split, X, y in (("train", member.X, member.y), ("test", X_test, y_test)):
            raw = model(torch.from_numpy(X))["output"]
            target = head.target(torch.from_numpy(y), raw.dtype)
            result[f"{split}_loss"] = float(head.batch_loss(target, raw, None))
            pred = head.activate(raw).numpy()
            if spec.metric == "mse":
                result[f"{split}_metric"] = float(lk.mean_squared_error(y, pred))
            else:
                labels = (pred[:, 0] > 0.5).astype(np.int64) if pred.shape[1] == 1 \
                    else pred.argmax(axis=1)
                result[f"{split}_metric"] = float(lk.metrics.accuracy_score(y, labels))
    metric = _metric_name(problem)
    square = spec.metric == "mse"  # curves record RMSE; the study's metric is its square
    result["curves"] = {
        "loss": history["loss"], "val_loss": history["val_loss"],
        "metric": [v * v if square else v for v in history[metric]],
        "val_metric": [v * v if square else v for v in history[f"val_{metric}"]],
    }
    return result


def _train(problem: str, loss_name: str, seed: int, epochs: int,
           dispatcher_pid: int | None = None, data: tuple[np.ndarray, ...] | None = None
           ) -> dict[str, Any]:
    """Train one network; return final metrics/losses and the per-epoch curves."""
    import torch

    if dispatcher_pid is not None:
        freeze_imports(dispatcher_pid)
    torch.set_num_threads(1)  # runs are parallel over processes, not threads
    member = _member(problem, loss_name, seed, epochs, data)
    started = time.perf_counter()
    history = member.trainer.fit(member.model, member.X, member.y,
                                 validation_data=member.validation_data)
    return _result(problem, member, history, time.perf_counter() - started)


def _train_batch(jobs: list[tuple[str, str, int, int]], dispatcher_pid: int | None = None,
                 data: dict[str, tuple[np.ndarray, ...]] | None = None
                 ) -> list[dict[str, Any]]:
    """Train several networks as one batch (:func:`losskit.nn._batched.fit_batched`: each
    as it trains alone, to float32 rounding); the results of :func:`_train`, in order
    (``data``: each problem's :func:`make_data` arrays, made here if not given)."""
    import torch

    from losskit.nn import fit_batched

    if dispatcher_pid is not None:
        freeze_imports(dispatcher_pid)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: one thread is the fastest
    try:
        data = data or {}
        members = [_member(*job, data.get(job[0])) for job in jobs]
        started = time.perf_counter()
        histories = fit_batched(members)
        seconds = (time.perf_counter() - started) / max(1, len(jobs))
    finally:
        torch.set_num_threads(previous)
    out = []
    for (problem, *_), member, history in zip(jobs, members, histories, strict=True):
        if isinstance(history, Exception):
            raise history
        out.append(_result(problem, member, history, seconds))
    return out


def _summary(values: list[float]) -> dict[str, Any]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)),
            "values": [float(v) for v in values]}


def run_demo(repeats: int = 5, *, n_jobs: int | None = None, epochs_scale: float = 1.0,
             problems: tuple[str, ...] = tuple(PROBLEMS), progress: Callable[[str], None]
             | None = None, batched: bool = True) -> dict[str, Any]:
    """Train every (problem, loss) ``repeats`` times; return results and curves.

    Parameters
    ----------
    repeats : int
        Runs per (problem, loss), seeds ``0 .. repeats - 1``.
    n_jobs : int, optional
        Parallel worker processes (-1: one per CPU core). Default: this process when
        ``batched`` (the batches are small: a worker's imports cost about as much as its
        share of the training), else one per CPU core, at most the runs.
    epochs_scale : float in (0, 1]
        Fraction of the study's epochs (1 = the study; smaller only for smoke tests).
    problems : tuple of str
        Which of ``"regression"``, ``"binary"``, ``"multiclass"``.
    batched : bool
        Train each problem's networks as one batch with stacked weights
        (:func:`losskit.nn._batched.fit_batched`: every network starts from the same weights
        and sees the same minibatches as alone, so the results agree to float32 rounding);
        the problems are spread over the workers. ``False`` trains one network at a time
        (``losskit demo --no-batch``).

    Returns
    -------
    dict
        ``{"results": {problem: {loss: {"train_metric": {"mean", "std", "values"},
        "test_metric": ..., "train_loss": ..., "test_loss": ...}}}, "curves": ...,
        "settings": ...}``
    """
    from joblib import Parallel, delayed

    if not (isinstance(repeats, int) and repeats >= 1):
        fail("run_demo", "repeats", f"is {repeats!r}", "Pass a positive integer")
    if not (0 < epochs_scale <= 1):
        fail("run_demo", "epochs_scale", f"is {epochs_scale!r}", "Pass a number in (0, 1]")
    unknown = [p for p in problems if p not in PROBLEMS]
    if unknown or not problems:
        fail("run_demo", "problems", f"is {problems!r}", f"Pass some of {', '.join(PROBLEMS)}")
    jobs = [(p, loss, seed, max(1, round(PROBLEMS[p].epochs * epochs_scale)))
            for p in problems for loss in PROBLEMS[p].losses for seed in range(repeats)]
    if batched:
        # one batch per problem and number of epochs; the batches spread over the workers
        batches: dict[tuple[str, int], list[tuple[str, str, int, int]]] = {}
        for job in jobs:
            batches.setdefault((job[0], job[3]), []).append(job)
        tasks = list(batches.values())
    else:
        tasks = [[job] for job in jobs]
    # batched, the default is this process: a worker's imports (torch, losskit) cost about as
    # much as its share of the training (measured: 45 networks in one process 10-11 s of CPU
    # and 30-34 s wall, on two workers 14-15 s and 40-44 s, the machine loaded)
    workers = n_jobs or (1 if batched else min(os.cpu_count() or 1, len(tasks)))
    if workers < 0:
        workers = max(1, min(os.cpu_count() or 1, len(tasks)))
    workers = max(1, min(workers, len(tasks)))
    if progress:
        progress(f"training {len(jobs)} networks on {workers} worker(s)"
                 + (f", as {len(tasks)} batches" if batched else ""))
    started = time.perf_counter()
    dispatcher = os.getpid() if workers > 1 else None
    # each problem's data made once, here: the workers then do not import scikit-learn (its
    # import cost each worker about as much CPU as its share of a batched run's training)
    data = {p: make_data(p) for p in problems}
    if batched:
        parts = Parallel(n_jobs=workers)(
            delayed(_train_batch)(task, dispatcher_pid=dispatcher,
                                  data={task[0][0]: data[task[0][0]]}) for task in tasks)
        by_job = {job: out for task, part in zip(tasks, parts, strict=True)
                  for job, out in zip(task, part, strict=True)}
        outputs = [by_job[job] for job in jobs]
    else:
        outputs = Parallel(n_jobs=workers)(
            delayed(_train)(*job, dispatcher_pid=dispatcher, data=data[job[0]])
            for job in jobs)
    results: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    for (problem, loss, _, _), out in zip(jobs, outputs, strict=True):
        results.setdefault(problem, {}).setdefault(loss, []).append(out)
    for problem, losses in results.items():
        for loss, runs in losses.items():
            losses[loss] = {key: _summary([r[key] for r in runs])
                            for key in ("train_metric", "test_metric", "train_loss",
                                        "test_loss")}
            curves.setdefault(problem, {})[loss] = {
                key: np.mean([r["curves"][key] for r in runs], axis=0).tolist()
                for key in ("loss", "val_loss", "metric", "val_metric")}
            curves[problem][loss].update({
                f"{key}_std": np.std([r["curves"][key] for r in runs], axis=0).tolist()
                for key in ("loss", "val_loss", "metric", "val_metric")})
    return {"results": results, "curves": curves,
            "settings": {"repeats": repeats, "epochs_scale": epochs_scale, "workers": workers,
                         "batched": bool(batched), "seconds": time.perf_counter() - started}}


# ----------------------------------------------------------------------------- conclusions


def significance(results: dict[str, Any]) -> dict[str, Any]:
    """Per problem: the best loss by mean test metric and Welch's t-test of it against each
    other loss over the runs (JSON-ready; ``p_value`` None when the runs have no spread)."""
    from scipy import stats

    out: dict[str, Any] = {}
    for problem, losses in results.items():
        spec = PROBLEMS[problem]
        ranked = sorted(losses, key=lambda k: losses[k]["test_metric"]["mean"],
                        reverse=spec.higher_is_better)
        best = ranked[0]
        best_values = losses[best]["test_metric"]["values"]
        rows = []
        for other in ranked[1:]:
            values = losses[other]["test_metric"]["values"]
            same = bool(np.allclose(values, best_values, rtol=1e-6, atol=0))
            p = math.nan
            if not same and len(values) > 1:
                with warnings.catch_warnings():  # constant samples: Welch's test still holds
                    warnings.simplefilter("ignore", RuntimeWarning)
                    p = float(stats.ttest_ind(best_values, values, equal_var=False).pvalue)
            rows.append({"loss": other, "test": "welch_ttest",
                         "p_value": None if math.isnan(p) else p,
                         "same_in_every_run": same,
                         "mean_difference": float(np.mean(best_values) - np.mean(values))})
        out[problem] = {"best": best, "metric": "test " + spec.metric,
                        "higher_is_better": spec.higher_is_better, "versus": rows}
    return out


def conclusions(results: dict[str, Any]) -> list[str]:
    """Plain-language conclusions computed from the results (never hard-coded)."""
    from losskit.compare import mean_spread

    lines = []
    for problem, t in significance(results).items():
        losses = results[problem]
        spec = PROBLEMS[problem]
        metric = "test MSE" if spec.metric == "mse" else "test accuracy"
        best = t["best"]
        parts = []
        for row in t["versus"]:
            other, p = row["loss"], row["p_value"]
            if row["same_in_every_run"]:
                parts.append(f"the same as {other} in every run")
            elif p is None:
                parts.append(f"ahead of {other} (no spread over the runs to test)")
            elif p < 0.05:
                parts.append(f"clearly ahead of {other} (Welch t-test p = {p:.2g})")
            else:
                parts.append(f"not distinguishable from {other} over these runs (p = {p:.2g})")
        m = losses[best]["test_metric"]
        study = STUDY[problem].get(best)
        versus = "" if study is None else f" (the study's single run: {study:g})"
        mean, std = mean_spread(m["mean"], m["std"])
        lines.append(f"{problem}: {best} gives the best {metric}, {mean} ± {std}{versus}; "
                     + "; ".join(parts) + ".")
        likelihood = [loss for loss in MAXIMUM_LIKELIHOOD[problem] if loss in losses]
        if likelihood and best not in likelihood:
            nll = likelihood[0]
            verdict = next(part for part in parts if part.endswith(f"{nll} in every run")
                           or f" {nll} " in part + " ")
            behind = verdict.startswith(("clearly", "ahead"))
            lines.append(
                f"{problem}: the maximum-likelihood loss ({nll}) "
                + ("is behind the best here, beyond the run-to-run spread."
                   if behind else "is within the run-to-run spread of the best: the data do "
                                  "not favour another loss."))
    return lines


def _settings(run: dict[str, Any]) -> dict[str, Any]:
    """The run's settings and each problem's set-up (JSON-ready)."""
    problems = {name: {"task": spec.task, "hidden_units": spec.hidden, "epochs": spec.epochs,
                       "epochs_run": max(1, round(spec.epochs
                                                  * run["settings"].get("epochs_scale", 1.0))),
                       "losses": list(spec.losses), "metric": spec.metric}
                for name, spec in PROBLEMS.items() if name in run["results"]}
    return {**run["settings"], "seeds": list(range(run["settings"]["repeats"])),
            "network": "MLP, one hidden ReLU layer, He-uniform initialisation",
            "optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9, "batch_size": 32,
            "n_train": 500, "n_test": 500, "problems": problems}


#: the losses of each problem that are its target distribution's negative log-likelihood
#: (KL divergence from a one-hot target is the cross-entropy)
MAXIMUM_LIKELIHOOD: dict[str, tuple[str, ...]] = {
    "regression": ("mean_squared_error",),
    "binary": ("binary_cross_entropy",),
    "multiclass": ("categorical_cross_entropy", "sparse_categorical_cross_entropy",
                   "kl_divergence"),
}


# --------------------------------------------------------------------------------- writing


def _plot_curves(problem: str, curves: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    spec = PROBLEMS[problem]
    losses = list(curves)
    fig, axes = plt.subplots(2, len(losses), figsize=(4.2 * len(losses), 6.4), squeeze=False)
    metric = "MSE" if spec.metric == "mse" else "accuracy"
    for j, loss in enumerate(losses):
        c = curves[loss]
        epochs = np.arange(1, len(c["loss"]) + 1)
        for i, key in enumerate(("loss", "metric")):
            ax = axes[i][j]
            for prefix, name, colour in (("", "train", "tab:blue"), ("val_", "test",
                                                                     "tab:orange")):
                mean = np.asarray(c[prefix + key])
                std = np.asarray(c[prefix + key + "_std"])
                ax.plot(epochs, mean, color=colour, label=name)
                ax.fill_between(epochs, mean - std, mean + std, color=colour, alpha=0.2)
            ax.set_title(f"{loss}" if i == 0 else f"{metric} ({loss})", fontsize=9)
            ax.set_xlabel("epoch")
            ax.legend(fontsize=8)
            if key == "loss" and np.nanmin(c["loss"]) > 0 and \
                    np.nanmax(c["loss"]) / np.nanmin(c["loss"]) > 50:
                ax.set_yscale("log")
    fig.suptitle(f"{problem}: mean over runs ± 1 std (train and test)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _pm(summary: dict[str, Any]) -> str:
    """"mean ± std" with the mean to the decimal place of the std's two significant digits."""
    from losskit.compare import mean_spread

    mean, std = mean_spread(summary["mean"], summary["std"])
    return f"{mean} ± {std}"


def write_report(run: dict[str, Any], out: str | os.PathLike) -> dict[str, Path]:
    """Write ``results.json``, one learning-curve PNG per problem and ``report.html``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = run["results"]
    # a diverged study run is a finding, not an error: its non-finite numbers are null, with
    # the reason beside them (strict JSON)
    payload: dict[str, Any] = {"settings": _settings(run) if "settings" in run else {},
                               "results": results}
    write_json(out / "results.json", payload, where="demo", nonfinite="null")  # first
    lines = conclusions(results)
    payload.update({"tests": significance(results), "conclusions": lines})
    write_json(out / "results.json", payload, where="demo", nonfinite="null")
    files = {"results": out / "results.json"}
    images = {}
    for problem in results:
        path = out / f"curves_{problem}.png"
        _plot_curves(problem, run["curves"][problem], path)
        files[f"curves_{problem}"] = path
        images[problem] = base64.b64encode(path.read_bytes()).decode()
    rows = []
    for problem, losses in results.items():
        spec = PROBLEMS[problem]
        for loss, r in losses.items():
            study = STUDY[problem].get(loss)
            cells = [problem, loss, _pm(r["train_metric"]), _pm(r["test_metric"]),
                     "—" if study is None else f"{study:g}",
                     _pm(r["train_loss"]), _pm(r["test_loss"]),
                     "MSE" if spec.metric == "mse" else "accuracy"]
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    settings = run["settings"]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>losskit demo: choosing the loss</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:nth-child(-n+2){{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>Choosing the loss: the study, reproduced</h1>
<p>{settings['repeats']} run(s) per loss with different seeds ({settings['workers']} worker(s),
{settings['seconds']:.0f} s). MLP, one hidden ReLU layer, He-uniform initialisation, SGD
(learning rate 0.01, momentum 0.9), batch 32, 500 training and 500 test samples. The metric is
what you report; the loss is what the optimiser minimises — the two are shown separately.</p>
<h2>Results (mean ± std over runs)</h2>
<table><tr><th>problem</th><th>loss</th><th>train metric</th><th>test metric</th>
<th>study (test)</th><th>train loss</th><th>test loss</th><th>metric</th></tr>
{''.join(rows)}</table>
<h2>Conclusions</h2><ul>{''.join(f'<li>{html.escape(line)}</li>' for line in lines)}</ul>
<h2>Learning curves</h2>
{''.join(f'<h3>{html.escape(p)}</h3><img alt="learning curves, {html.escape(p)}" '
         f'src="data:image/png;base64,{img}">' for p, img in images.items())}
</body></html>
"""
    atomic_write_bytes(out / "report.html", page.encode())
    files["report"] = out / "report.html"
    return files


# -------------------------------------------------------------------------------- command


def _demo_arguments(parser: Any) -> None:
    parser.add_argument("--out", default="losskit-demo",
                        help="folder for results.json, the learning curves and report.html "
                             "(default: losskit-demo)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="runs per loss with different seeds (default 5)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes (-1: one per CPU core; default: this process "
                             "when batched, one per CPU core with --no-batch)")
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the study's epochs: a smoke test, not the study")
    parser.add_argument("--no-batch", dest="batched", action="store_false",
                        help="train the networks one at a time instead of as one batch per "
                             "problem with stacked weights (same results to float32 "
                             "rounding, several times slower)")


def _demo(args: Any) -> int:
    from losskit._io import check_output_path
    from losskit._validation import fail

    if args.jobs is not None and args.jobs == 0:
        fail("demo", "--jobs", "is 0", "Pass a number of worker processes (1 or more; -1 for "
             "one per CPU core), or leave it out")
    if args.repeats < 1:
        fail("demo", "--repeats", f"is {args.repeats}", "Pass 1 or more")
    check_output_path("demo", "--out", args.out, kind="folder")
    run = run_demo(args.repeats, n_jobs=args.jobs, epochs_scale=0.1 if args.quick else 1.0,
                   progress=print, batched=args.batched)
    files = write_report(run, args.out)
    for problem, losses in run["results"].items():
        metric = "MSE" if PROBLEMS[problem].metric == "mse" else "accuracy"
        print(f"\n{problem} (test {metric}, mean ± std over {args.repeats} runs; the study)")
        for loss, r in losses.items():
            m = r["test_metric"]
            print(f"  {loss:<34} {m['mean']:.3f} ± {m['std']:.3f}   "
                  f"{STUDY[problem].get(loss, float('nan')):g}")
    print()
    for line in conclusions(run["results"]):
        print("- " + line)
    print(f"\nwrote {', '.join(str(p) for p in files.values())}")
    return 0


def _register() -> None:
    from losskit._commands import command

    command("demo", "reproduce the loss-comparison study on generated data",
            _demo_arguments)(_demo)


_register()
