"""Categorical cross-entropy, value and gradient from float32 logits: losskit vs the frameworks.

Run: ``python benchmarks/bench_cross_entropy.py [--repeats R] [--quick]``. Every contender runs
in the same process, interleaved, R times; the table shows the median time and its ratio to
PyTorch eager (forward + backward of ``F.cross_entropy``). Peak extra memory of the NumPy path is
measured with ``tracemalloc`` (NumPy reports its allocations to it) relative to the logits.

Contenders, at each size (n samples x C classes):

- ``torch eager``: ``F.cross_entropy(z, y)`` then ``.backward()`` (PyTorch's own threads).
- ``losskit numpy``: ``lk.value_and_gradient(lk.sparse_categorical_cross_entropy, y, z,
  from_logits=True)`` with the default value checks, and with ``check_values=False``.
- ``losskit numpy one-hot``: the same through ``categorical_cross_entropy`` and one-hot targets.
- ``losskit on torch``: ``lk.sparse_categorical_cross_entropy(y, z, from_logits=True)`` on
  tensors, then ``.backward()`` (autograd through losskit), with and without checks.
- ``losskit numpy value only, probabilities``: ``lk.sparse_categorical_cross_entropy(y, p)``
  on the softmax probabilities, value checks on: the same input and output as ``log_loss``.
- ``sklearn log_loss``: value only, from the softmax probabilities (its input convention).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import losskit as lk


def _median_times(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in contenders.items():
            # an untimed call first: whichever contender runs right after another library's
            # large allocations pays for fresh memory pages (measured: +40 ms at 38 MiB,
            # whoever it is), which is the order of the run, not the contender
            fn()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _peak_extra_memory(fn: Callable[[], object], nbytes: int) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / nbytes


def run(n: int, c: int, repeats: int) -> None:
    import torch
    import torch.nn.functional as F
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, c)).astype(np.float32) * 3
    y = rng.integers(0, c, size=n)
    one_hot = np.eye(c, dtype=np.float32)[y]
    tz, ty = torch.from_numpy(z), torch.from_numpy(y)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    sparse = lk.sparse_categorical_cross_entropy

    def torch_eager():
        leaf = tz.detach().requires_grad_()
        F.cross_entropy(leaf, ty).backward()

    def losskit_on_torch(check: bool) -> Callable[[], None]:
        def fn():
            leaf = tz.detach().requires_grad_()
            sparse(ty, leaf, from_logits=True, check_values=check).backward()
        return fn

    contenders = {
        "torch eager (forward+backward)": torch_eager,
        "losskit numpy (value+gradient)": lambda: lk.value_and_gradient(
            sparse, y, z, from_logits=True),
        "losskit numpy, check_values=False": lambda: lk.value_and_gradient(
            sparse, y, z, from_logits=True, check_values=False),
        "losskit numpy one-hot targets": lambda: lk.value_and_gradient(
            lk.categorical_cross_entropy, one_hot, z, from_logits=True),
        "losskit on torch (autograd)": losskit_on_torch(True),
        "losskit on torch, check_values=False": losskit_on_torch(False),
        "losskit numpy value only, probabilities": lambda: sparse(y, p),
        "sklearn log_loss (value only)": lambda: log_loss(y, p, labels=np.arange(c)),
    }
    # the contenders must agree before they are timed
    value, grad = lk.value_and_gradient(sparse, y, z, from_logits=True)
    leaf = tz.detach().requires_grad_()
    reference = F.cross_entropy(leaf.double(), ty)
    reference.backward()
    assert abs(float(value) - reference.item()) <= 1e-5 * reference.item()
    assert np.allclose(grad, leaf.grad.numpy(), rtol=1e-4, atol=1e-9)

    medians = _median_times(contenders, repeats)
    base = medians["torch eager (forward+backward)"]
    print(f"\n{n:g} x {c} float32 logits ({z.nbytes / 2**20:.0f} MiB), "
          f"median of {repeats}, torch threads {torch.get_num_threads()}")
    for name, seconds in medians.items():
        print(f"  {name:<40} {seconds * 1e3:9.2f} ms  {seconds / base:6.2f}x torch eager")
    print(f"  losskit on torch / torch eager: {medians['losskit on torch (autograd)'] / base:.3f}"
          f" (checks off {medians['losskit on torch, check_values=False'] / base:.3f})")
    sk = medians["sklearn log_loss (value only)"]
    print(f"  sklearn log_loss / losskit on the same input (probabilities, value, checks on): "
          f"{sk / medians['losskit numpy value only, probabilities']:.1f}x; / losskit "
          f"value+gradient from logits: {sk / medians['losskit numpy (value+gradient)']:.1f}x")
    memory = _peak_extra_memory(lambda: lk.value_and_gradient(sparse, y, z, from_logits=True),
                                z.nbytes)
    print(f"  losskit numpy peak extra memory: {memory:.2f}x the logits (gradient included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    sizes = [(10_000, 10), (100, 100)] if args.quick else [(1_000_000, 10), (10_000, 1000)]
    for n, c in sizes:
        run(n, c, args.repeats)


if __name__ == "__main__":
    main()
