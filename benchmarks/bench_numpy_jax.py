"""The NumPy and JAX value + gradient rows of ``bench_catalogue.py``, checks on and off.

Run: ``python benchmarks/bench_numpy_jax.py [--repeats R] [--small-calls K] [--only NAME ...]``.

Same rows, inputs and references as :mod:`bench_catalogue` (imported from it), timed
interleaved in one process, the **median** of ``R`` repeats (steadier than the minimum when
other jobs hold the cores for long stretches). Columns, each losskit's time over the
reference's:

- ``np L`` / ``np L off``: ``losskit.value_and_gradient`` on NumPy (1e6 elements of raw output),
  checks on / ``check_values=False``, against PyTorch eager forward + backward;
- ``np S`` / ``np S off``: the same on a 64-row batch, per call;
- ``jax L`` / ``jax S``: ``jax.jit(jax.value_and_grad(...))`` of losskit (``check_values=False``)
  against the same of optax or the plain ``jax.numpy`` formula;
- ``ref ms``: the PyTorch reference at 1e6 elements, for scale.

PyTorch runs on one thread by default (``--torch-threads``): NumPy's element-wise passes are
single-threaded too, and on a shared 2-core machine a two-thread reference's time swung by
10x from row to row (25 ms to 1.3 s for the same size).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Any

import numpy as np

import losskit as lk
from bench_catalogue import SMALL, _inputs, _numpy_reference, _Ops, _reference, _rows

COLUMNS = ("np L", "np L off", "np S", "np S off", "jax L", "jax S")


def _median_times(contenders: dict[str, Any], repeats: int, calls: int,
                  clock: Any = time.perf_counter) -> dict[str, float]:
    """Each contender's median time per call over ``repeats`` interleaved rounds (each timed
    block preceded by an untimed call)."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():
        fn()
    for _ in range(repeats):
        for name, fn in contenders.items():
            fn()
            start = clock()
            for _ in range(calls):
                fn()
            times[name].append((clock() - start) / calls)
    return {name: statistics.median(v) for name, v in times.items()}


def _contenders(row: Any, y: np.ndarray, raw: np.ndarray) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import torch

    t_ref = _reference(_Ops("torch"), row.name, row.opts)
    j_ref = _reference(_Ops("jax"), row.name, row.opts)
    ty = torch.from_numpy(y if y.dtype.kind in "iu" else y.astype(np.float32))
    tz = torch.from_numpy(raw)
    jy = jnp.asarray(y if y.dtype.kind in "iu" else y.astype(np.float32))
    jz = jnp.asarray(raw)

    def torch_ref() -> object:
        leaf = tz.detach().requires_grad_()
        t_ref(ty, leaf).backward()
        return leaf.grad

    def lk_off(a: Any, b: Any) -> Any:
        return row.losskit(a, b, check_values=False)

    lk_jg = jax.jit(jax.value_and_grad(lk_off, argnums=1))
    rf_jg = jax.jit(jax.value_and_grad(j_ref, argnums=1))
    if row.is_family:
        def np_vg(**extra: Any) -> object:
            return row.fn(y, raw, **extra), row.fn.__self__.gradient(y, raw)
    else:
        def np_vg(**extra: Any) -> object:
            return lk.value_and_gradient(row.fn, y, raw, **row.opts, **extra)
    return {
        "np lk": np_vg,
        "np lk off": lambda: np_vg(check_values=False),
        "np ref": torch_ref,
        "jax lk": lambda: jax.block_until_ready(lk_jg(jy, jz)),
        "jax ref": lambda: jax.block_until_ready(rf_jg(jy, jz)),
    }


def run_row(row: Any, large: int, repeats: int, small_calls: int,
            clock: Any = time.perf_counter) -> dict[str, float]:
    rng = np.random.default_rng(0)
    y, raw = _inputs(row.case, large, rng, row.labels)
    out: dict[str, float] = {}
    sizes = [("L", y, raw, 1)]
    if small_calls:
        ys, raws = _inputs(row.case, SMALL * raw[0].size, rng, row.labels)
        sizes.append(("S", ys[:SMALL], raws[:SMALL], small_calls))
    for size, yy, rr, calls in sizes:
        times = _median_times(_contenders(row, yy, rr), repeats, calls, clock)
        out[f"np {size}"] = times["np lk"] / times["np ref"]
        out[f"np {size} off"] = times["np lk off"] / times["np ref"]
        out[f"jax {size}"] = times["jax lk"] / times["jax ref"]
        if size == "L":
            out["ref ms"] = times["np ref"] * 1e3
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--small-calls", type=int, default=100)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", default=None, help="row names to run")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="PyTorch's threads (1: like NumPy, and steady on a busy machine)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the process CPU time (steadier on a shared machine; "
                             "run JAX on one thread: XLA_FLAGS="
                             "--xla_cpu_multi_thread_eigen=false "
                             "intra_op_parallelism_threads=1)")
    args = parser.parse_args(argv)
    clock = time.process_time if args.cpu_time else time.perf_counter
    import torch
    torch.set_num_threads(args.torch_threads)
    warnings.simplefilter("ignore")
    head = ["row", *COLUMNS, "ref ms"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in _rows():
        label = row.name + (" (family)" if row.is_family else "")
        if args.only and row.name not in args.only and label not in args.only:
            continue
        try:
            _reference(_Ops("jax"), row.name, row.opts)
            _numpy_reference(row.name, row.opts)
        except KeyError:  # no reference written for this loss
            continue
        r = run_row(row, args.large, args.repeats, args.small_calls, clock)
        cells = [label, *(f"{r[c]:.2f}" if c in r else "—" for c in COLUMNS),
                 f"{r['ref ms']:.1f}"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
