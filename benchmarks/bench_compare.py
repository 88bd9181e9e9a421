"""``lk.compare`` in parallel: 2 joblib workers against 1, on 2 cores.

Run: ``python benchmarks/bench_compare.py [--rounds R] [--quick]``. The process is pinned to
2 cores (``os.sched_setaffinity`` where the OS has it) and each round times the same
comparison (4 losses x 5 folds x 1 repeat = 20 small MLP fits on 600 samples) with
``n_jobs=1`` and with ``n_jobs=2``, interleaved. The loky worker pool is started and warmed up
once before timing (it is reused across calls, as in a session that compares several times);
the cold start of the pool is printed separately. With ``n_jobs=2`` each worker gets one
torch thread (``joblib.cpu_count() // 2``), so the cores are never oversubscribed; ``n_jobs=1``
is timed with torch's default threads (what a user gets) and with one thread (the per-fit
cost without intra-op parallelism). The ratios printed are median(1 job) / median(2 jobs);
the target is >= 1.7x. The scores of every run must be identical (checked).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

import losskit as lk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller problem, 1 round")
    args = parser.parse_args()
    affinity = "?"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
        affinity = str(sorted(os.sched_getaffinity(0)))
    print(f"cores in the machine: {os.cpu_count()}, this process pinned to {affinity}; "
          f"load average before: {os.getloadavg()[0]:.1f}")

    n, epochs, rounds = (300, 10, 1) if args.quick else (600, 25, args.rounds)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 8))
    y = X @ rng.normal(size=8) + 0.5 * rng.standard_t(3, size=n)
    losses = ["mse", "mae", "huber_loss", "log_cosh_loss"]
    params = {"epochs": epochs, "hidden_layer_sizes": (32,), "batch_size": 32}

    fit_seconds: dict[tuple[int, int | None], list[float]] = {}

    def run(jobs: int, torch_threads: int | None = None) -> tuple[float, np.ndarray]:
        previous = torch.get_num_threads()
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        start = time.perf_counter()
        result = lk.compare(X, y, losses, n_splits=5, n_repeats=1, estimator_params=params,
                            n_jobs=jobs)
        seconds = time.perf_counter() - start
        torch.set_num_threads(previous)
        fit_seconds.setdefault((jobs, torch_threads), []).append(float(result.fit_seconds.sum()))
        return seconds, result.scores

    cold, _ = run(2)  # starts the loky pool (workers import torch) and warms it
    print(f"first 2-job call including the worker pool start: {cold:.2f} s")
    run(1)  # warm the main process too
    variants = {"n_jobs=1 (torch's default threads)": (1, None),
                "n_jobs=1 (torch.set_num_threads(1))": (1, 1), "n_jobs=2": (2, None)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    reference = None
    for _ in range(rounds):
        for name, (jobs, threads) in variants.items():
            seconds, scores = run(jobs, threads)
            times[name].append(seconds)
            if reference is None:
                reference = scores
            elif not np.array_equal(scores, reference):
                raise SystemExit(f"{name} gave different scores")
    print(f"{len(losses)} losses x 5 folds = {5 * len(losses)} fits of {epochs} epochs on "
          f"{n * 4 // 5} samples; torch default threads {torch.get_num_threads()}; "
          f"median of {rounds} round(s)")
    median = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name:<38} {median[name]:7.2f} s   (rounds: {', '.join(f'{x:.2f}' for x in t)})")
    for name, key in variants.items():
        print(f"{name:<38} sum of the fits' own times: "
              f"{statistics.median(fit_seconds[key]):.2f} s (the rest is dispatch and set-up)")
    two = median["n_jobs=2"]
    for name in list(variants)[:2]:
        print(f"speed-up n_jobs=2 vs {name}: {median[name] / two:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
