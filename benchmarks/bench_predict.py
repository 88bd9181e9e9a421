"""Whole-process time of ``losskit predict`` and ``losskit evaluate`` on a saved model (issue 13:
goal <= 2 s on the project's 2-core machine).

Fits the model once (``losskit fit bc.csv --target target --epochs 5``: scikit-learn's breast
cancer table, 569 x 30, a float32 MLP with hidden (100,)), then runs each command ``--repeats``
times as a fresh ``python -m losskit.cli`` process and reports the median wall time and the
median CPU time (user + system, of the child process: steadier than wall time on a shared
machine). With ``--before SRC`` the same commands run from another checkout's ``src`` folder
too (e.g. the main branch), interleaved with this one, run by run, so that both see the same
load.

Run:  .venv/bin/python benchmarks/bench_predict.py [--repeats 5] [--before /path/to/other/src]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _run(src: str, args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``python -m losskit.cli *args`` importing from ``src``."""
    env = {**os.environ, "PYTHONPATH": src}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "losskit.cli", *args], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"losskit {args[0]} failed ({src}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", metavar="SRC", help="another checkout's src folder")
    args = parser.parse_args()
    from sklearn.datasets import load_breast_cancer

    folder = Path(tempfile.mkdtemp())
    data = folder / "bc.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    _run(SRC, ["fit", str(data), "--target", "target", "--out", str(folder / "m"),
               "--epochs", "5"])
    sources = {"this": SRC} if args.before is None else {"before": args.before, "this": SRC}
    print(f"load average {os.getloadavg()[0]:.2f} at the start")
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.repeats):
        for command in ("predict", "evaluate"):
            for label, src in sources.items():
                times.setdefault((command, label), []).append(_run(src, [
                    command, str(folder / "m"), str(data), "--out",
                    str(folder / f"{command}.out")]))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    print(f"{'command':<10}{'code':<8}{'wall median':>12}{'CPU median':>12}{'CPU min':>10}")
    for (command, label), runs in times.items():
        walls, cpus = zip(*runs, strict=True)
        print(f"{command:<10}{label:<8}{statistics.median(walls):>11.2f}s"
              f"{statistics.median(cpus):>11.2f}s{min(cpus):>9.2f}s")


if __name__ == "__main__":
    main()
