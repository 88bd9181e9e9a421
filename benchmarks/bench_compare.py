"""``lk.compare`` batched vs one network at a time vs a scikit-learn loop, in one run.

The issue-13 row: breast cancer (569 x 30), binary cross-entropy vs binary focal loss,
5 folds x 5 repeats, 200 epochs, batch 32, one hidden layer of 100 ReLU units, SGD with
momentum 0.9 at learning rate 0.01, ``n_jobs=1``:

- losskit batched (``compare(..., batched=True)``, the default): the 50 networks trained as
  one model with stacked weights;
- losskit one at a time (``batched=False``);
- the scikit-learn loop: ``cross_val_score`` over the same folds with
  ``sklearn.neural_network.MLPClassifier(solver="sgd")`` at the same settings, once per loss
  (scikit-learn has one loss, so it runs twice: the same amount of training).

Each contender runs in a fresh child process (its wall time includes nothing but the call:
the libraries, torch included, are imported before the clock starts;
its peak resident memory, ``ru_maxrss``, is the whole process's, torch included). Prints the
times, the ratios to the scikit-learn loop (goal: batched <= 0.25x) and the largest difference
between the batched and the one-at-a-time fold scores (goal: within run-to-run noise).

``--demo`` times ``losskit demo`` (45 networks, the study's epochs) batched and with
``--no-batch`` instead, in one run (goal: batched <= 0.2x), and prints each problem's test
metric (mean over the 5 seeds) from both, which must agree within the run-to-run spread. Each
is timed in wall seconds and in CPU seconds of the run and its worker processes (psutil; the
steadier figure on a shared machine).

Run: ``python benchmarks/bench_compare.py [--quick] [--demo]`` (``--quick``: 2 x 2 folds,
20 epochs; with ``--demo``: a tenth of the epochs).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
import warnings
from typing import Any

import numpy as np


def _data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X, y


def _losskit(batched: bool, splits: int, repeats: int, epochs: int, queue: Any) -> None:
    import losskit as lk

    # torch imported before the clock, as scikit-learn is in _sklearn
    import losskit.nn.estimators

    X, y = _data()
    params = {"epochs": epochs, "batch_size": 32, "hidden_layer_sizes": (100,)}
    start = time.perf_counter()
    result = lk.compare(X, y, ["binary_cross_entropy", "binary_focal_loss"],
                        metric="accuracy", n_splits=splits, n_repeats=repeats,
                        estimator_params=params, n_jobs=1, batched=batched)
    seconds = time.perf_counter() - start
    queue.put({"seconds": seconds, "scores": result.scores.tolist(),
               "failures": len(result.failures),
               "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _sklearn(splits: int, repeats: int, epochs: int, queue: Any) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _data()
    cv = RepeatedStratifiedKFold(n_splits=splits, n_repeats=repeats, random_state=0)
    start = time.perf_counter()
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(2):  # one run per loss compared
            model = make_pipeline(StandardScaler(), MLPClassifier(
                hidden_layer_sizes=(100,), solver="sgd", learning_rate_init=0.01,
                momentum=0.9, nesterovs_momentum=False, batch_size=32, max_iter=epochs,
                alpha=0.0, tol=0.0, n_iter_no_change=10**9, random_state=0))
            scores.append(cross_val_score(model, X, y, cv=cv).tolist())
    queue.put({"seconds": time.perf_counter() - start, "scores": scores,
               "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _demo(batched: bool, scale: float, queue: Any) -> None:
    # torch imported before the clock
    import losskit.nn.estimators  # noqa: F401
    from losskit.demo import run_demo

    start = time.perf_counter()
    cpu = time.process_time()
    run = run_demo(5, epochs_scale=scale, batched=batched)
    seconds = time.perf_counter() - start
    queue.put({"seconds": seconds, "cpu": time.process_time() - cpu + _workers_cpu(),
               "results": {
        problem: {loss: (r["test_metric"]["mean"], r["test_metric"]["std"])
                  for loss, r in losses.items()}
        for problem, losses in run["results"].items()},
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _workers_cpu() -> float:
    """CPU seconds (user + system) of this process's children so far (the demo's worker
    processes, alive in joblib's reusable pool), or NaN without psutil."""
    try:
        import psutil
    except ImportError:
        return float("nan")
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def demo(scale: float) -> None:
    runs = {"batched": _child(_demo, True, scale), "--no-batch": _child(_demo, False, scale)}
    for name, run in runs.items():
        print(f"losskit demo {name:<11} {run['seconds']:7.1f} s   CPU {run['cpu']:7.1f} s "
              f"(the run and its workers)   peak RSS {run['peak_mb']:5.0f} MB")
    print(f"batched / --no-batch: {runs['batched']['seconds'] / runs['--no-batch']['seconds']:.2f}"
          f"x wall, {runs['batched']['cpu'] / runs['--no-batch']['cpu']:.2f}x CPU (goal <= 0.2x "
          "of the one-at-a-time time)")
    for problem, losses in runs["batched"]["results"].items():
        for loss, (mean, std) in losses.items():
            ref_mean, ref_std = runs["--no-batch"]["results"][problem][loss]
            print(f"  {problem:<11} {loss:<34} test metric {mean:.4f} ± {std:.4f}  vs  "
                  f"{ref_mean:.4f} ± {ref_std:.4f}")


def _child(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--demo", action="store_true", help="time losskit demo instead")
    args = parser.parse_args()
    if args.demo:
        demo(0.1 if args.quick else 1.0)
        return
    splits, repeats, epochs = (2, 2, 20) if args.quick else (5, 5, 200)
    print(f"breast cancer 569 x 30, BCE vs binary focal, {splits} x {repeats} folds, "
          f"{epochs} epochs, batch 32, hidden (100,), SGD(0.01, momentum 0.9), n_jobs=1")
    runs = {"losskit batched": _child(_losskit, True, splits, repeats, epochs),
            "losskit one at a time (batched=False)": _child(_losskit, False, splits, repeats,
                                                            epochs),
            "scikit-learn cross_val_score loop x 2": _child(_sklearn, splits, repeats,
                                                            epochs)}
    sk = runs["scikit-learn cross_val_score loop x 2"]["seconds"]
    for name, run in runs.items():
        print(f"{name:<40} {run['seconds']:8.1f} s   {run['seconds'] / sk:5.2f}x the "
              f"scikit-learn loop   peak RSS {run['peak_mb']:6.0f} MB")
    a = np.asarray(runs["losskit batched"]["scores"])
    b = np.asarray(runs["losskit one at a time (batched=False)"]["scores"])
    seq = runs["losskit one at a time (batched=False)"]["seconds"]
    print(f"batched speed-up over one at a time: {seq / runs['losskit batched']['seconds']:.1f}x"
          f"; failures: {runs['losskit batched']['failures']} batched, "
          f"{runs['losskit one at a time (batched=False)']['failures']} one at a time")
    diff = np.abs(a - b)
    print(f"fold scores, batched vs one at a time: {int((diff > 0).sum())} of {diff.size} "
          f"differ, largest difference {np.nanmax(diff):.4f} (one test sample is "
          f"{1 / (569 // splits):.4f}); mean accuracy {np.nanmean(a, axis=1).round(4).tolist()}"
          f" vs {np.nanmean(b, axis=1).round(4).tolist()}")
    sk_scores = np.asarray(runs["scikit-learn cross_val_score loop x 2"]["scores"])
    print(f"scikit-learn mean accuracy: {sk_scores.mean(axis=1).round(4).tolist()}")
    print(json.dumps({k: {"seconds": round(v["seconds"], 2), "peak_mb": round(v["peak_mb"])}
                      for k, v in runs.items()}))


if __name__ == "__main__":
    main()
