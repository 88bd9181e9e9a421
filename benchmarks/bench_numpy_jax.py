"""The NumPy and JAX value + gradient rows of ``bench_catalogue.py``, checks on and off.

Run: ``python benchmarks/bench_numpy_jax.py [--repeats R] [--small-calls K] [--only NAME ...]``.

Same rows, inputs and references as :mod:`bench_catalogue` (imported from it; real targets
in float32 for both sides, as the references take them), timed interleaved in one process,
the **median** of ``R`` repeats of the process's CPU time (``--wall``: wall clock; steadier
than the minimum when other jobs hold the cores for long stretches). Columns, each
losskit's time over the reference's:

- ``np L`` / ``np L off``: ``losskit.value_and_gradient`` on NumPy (1e6 elements of raw output),
  checks on / ``check_values=False``, against PyTorch eager forward + backward;
- ``np S`` / ``np S off``: the same on a 64-row batch, per call;
- ``val L`` / ``val L off``: the NumPy value alone (1e6 elements), checks on / off, against
  scikit-learn / SciPy where they have the loss, else PyTorch eager without autograd (the
  ``np value`` reference of ``bench_catalogue.py``);
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

COLUMNS = ("np L", "np L off", "val L", "val L off", "np S", "np S off", "jax L", "jax S")


#: the clock: the process's CPU time (user + system, every thread: XLA's too) by default,
#: steady on a machine shared with other jobs, where wall-clock cells swung by 2-3x between
#: runs (``--wall`` for wall-clock time)
_CLOCK = time.process_time


def _median_times(contenders: dict[str, Any], repeats: int, calls: int) -> dict[str, float]:
    """Each contender's median time per call over ``repeats`` interleaved rounds (each timed
    block preceded by an untimed call)."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    clock = _CLOCK
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


def _contenders(row: Any, y: np.ndarray, raw: np.ndarray, values: bool = False,
                jax_rows: bool = True) -> dict[str, Any]:
    import torch

    t_ref = _reference(_Ops("torch"), row.name, row.opts)
    ty = torch.from_numpy(y if y.dtype.kind in "iu" else y.astype(np.float32))
    tz = torch.from_numpy(raw)

    def torch_ref() -> object:
        leaf = tz.detach().requires_grad_()
        t_ref(ty, leaf).backward()
        return leaf.grad

    def lk_off(a: Any, b: Any) -> Any:
        return row.losskit(a, b, check_values=False)

    if row.is_family:
        def np_vg(**extra: Any) -> object:
            return row.fn(y, raw, **extra), row.fn.__self__.gradient(y, raw)
    else:
        def np_vg(**extra: Any) -> object:
            return lk.value_and_gradient(row.fn, y, raw, **row.opts, **extra)
    out = {
        "np lk": np_vg,
        "np lk off": lambda: np_vg(check_values=False),
        "np ref": torch_ref,
    }
    if values:
        np_ref = _numpy_reference(row.name, row.opts)

        def torch_value() -> object:
            with torch.no_grad():
                return t_ref(ty, tz)

        out.update({
            "val lk": lambda: row.losskit(y, raw),
            "val lk off": lambda: lk_off(y, raw),
            "val ref": (lambda: np_ref(y, raw)) if np_ref is not None else torch_value,
        })
    if jax_rows:
        import jax
        import jax.numpy as jnp

        j_ref = _reference(_Ops("jax"), row.name, row.opts)
        jy = jnp.asarray(y if y.dtype.kind in "iu" else y.astype(np.float32))
        jz = jnp.asarray(raw)
        lk_jg = jax.jit(jax.value_and_grad(lk_off, argnums=1))
        rf_jg = jax.jit(jax.value_and_grad(j_ref, argnums=1))
        out["jax lk"] = lambda: jax.block_until_ready(lk_jg(jy, jz))
        out["jax ref"] = lambda: jax.block_until_ready(rf_jg(jy, jz))
    return out


def _same_targets(y: np.ndarray) -> np.ndarray:
    """Real targets in float32, as the references get them (``bench_catalogue`` builds them
    in float64): both sides time the loss, not a cast of the targets."""
    return y if y.dtype.kind in "iu" else y.astype(np.float32)


def run_row(row: Any, large: int, repeats: int, small_calls: int,
            jax_rows: bool = True) -> dict[str, float]:
    rng = np.random.default_rng(0)
    y, raw = _inputs(row.case, large, rng, row.labels)
    y = _same_targets(y)
    out: dict[str, float] = {}
    sizes = [("L", y, raw, 1)]
    if small_calls:
        ys, raws = _inputs(row.case, SMALL * raw[0].size, rng, row.labels)
        sizes.append(("S", _same_targets(ys[:SMALL]), raws[:SMALL], small_calls))
    for size, yy, rr, calls in sizes:
        contenders = _contenders(row, yy, rr, values=size == "L", jax_rows=jax_rows)
        times = _median_times(contenders, repeats, calls)
        out[f"np {size}"] = times["np lk"] / times["np ref"]
        out[f"np {size} off"] = times["np lk off"] / times["np ref"]
        if jax_rows:
            out[f"jax {size}"] = times["jax lk"] / times["jax ref"]
        if size == "L":
            out["val L"] = times["val lk"] / times["val ref"]
            out["val L off"] = times["val lk off"] / times["val ref"]
            out["ref ms"] = times["np ref"] * 1e3
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--small-calls", type=int, default=100)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", default=None, help="row names to run")
    parser.add_argument("--no-jax", action="store_true", help="NumPy columns only")
    parser.add_argument("--wall", action="store_true",
                        help="wall-clock time instead of the process's CPU time")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="PyTorch's threads (1: like NumPy, and steady on a busy machine)")
    args = parser.parse_args(argv)
    global _CLOCK
    _CLOCK = time.perf_counter if args.wall else time.process_time
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
            _reference(_Ops("torch"), row.name, row.opts)
        except KeyError:  # no reference written for this loss
            continue
        r = run_row(row, args.large, args.repeats, args.small_calls, jax_rows=not args.no_jax)
        cells = [label, *(f"{r[c]:.2f}" if c in r else "—" for c in COLUMNS),
                 f"{r['ref ms']:.1f}"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
