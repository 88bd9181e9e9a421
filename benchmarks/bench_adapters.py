"""losskit.torch criteria vs the matching PyTorch criteria: time per training step.

Run: ``python benchmarks/bench_adapters.py [--repeats R] [--steps S] [--no-compile]``. One
training step is the forward pass of a small MLP (32 -> 64 -> k, batch 256, float32, one
thread), the criterion, ``backward`` and an SGD step: what a user's loop pays. Each pair runs
interleaved in the same process, R blocks of S steps; the table shows the process CPU time per
step of the fastest block (on a shared machine other jobs add wall time, not this process's CPU
time) and the ratio losskit / PyTorch.
With compile, the forward function (model and criterion) is ``torch.compile``-d (inductor,
which also compiles its backward) for both; losskit's criterion with ``check_values=False``
(``fullgraph=True``), as the docs advise for compiled steps.

Pairs: ``MeanSquaredErrorLoss`` / ``nn.MSELoss``; ``BinaryCrossEntropyLoss(from_logits=True)``
/ ``nn.BCEWithLogitsLoss``; ``SparseCategoricalCrossEntropyLoss(from_logits=True)`` /
``nn.CrossEntropyLoss``; ``HuberLoss(delta=1.0)`` / ``nn.HuberLoss``; ``BinaryFocalLoss(gamma=2.0,
from_logits=True)`` / the textbook focal loss on ``F.binary_cross_entropy_with_logits`` (as
torchvision's ``sigmoid_focal_loss`` writes it; PyTorch has no focal criterion). Eager losskit
runs with its default value checks (a host read of a CPU scalar each) and with
``check_values=False``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import torch

import losskit.torch as lkt

BATCH, FEATURES, HIDDEN, CLASSES = 256, 32, 64, 10


class TextbookFocalLoss(torch.nn.Module):
    """The binary focal loss in PyTorch's own ops, as torchvision's ``sigmoid_focal_loss``
    computes it (no alpha), mean over the entries."""

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = torch.nn.functional.binary_cross_entropy_with_logits(input, target,
                                                                  reduction="none")
        p = torch.sigmoid(input)
        p_t = p * target + (1 - p) * (1 - target)
        return (ce * (1 - p_t) ** self.gamma).mean()


def _pairs() -> list[tuple[str, int, Callable, Callable, Callable]]:
    """(name, outputs, target maker, losskit criterion(**kw), torch criterion)."""
    return [
        ("mean_squared_error", 1, lambda: torch.randn(BATCH, 1),
         lambda **kw: lkt.MeanSquaredErrorLoss(**kw), torch.nn.MSELoss),
        ("binary_cross_entropy (logits)", 1,
         lambda: torch.randint(0, 2, (BATCH, 1)).float(),
         lambda **kw: lkt.BinaryCrossEntropyLoss(from_logits=True, **kw),
         torch.nn.BCEWithLogitsLoss),
        ("sparse_categorical_cross_entropy (logits)", CLASSES,
         lambda: torch.randint(0, CLASSES, (BATCH,)),
         lambda **kw: lkt.SparseCategoricalCrossEntropyLoss(from_logits=True, **kw),
         torch.nn.CrossEntropyLoss),
        ("huber_loss", 1, lambda: torch.randn(BATCH, 1),
         lambda **kw: lkt.HuberLoss(delta=1.0, **kw), lambda: torch.nn.HuberLoss(delta=1.0)),
        ("binary_focal_loss (logits, γ = 2)", 1,
         lambda: torch.randint(0, 2, (BATCH, 1)).float(),
         lambda **kw: lkt.BinaryFocalLoss(gamma=2.0, from_logits=True, **kw),
         TextbookFocalLoss),
    ]


def _step(criterion: torch.nn.Module, outputs: int, target: torch.Tensor,
          compiled: bool) -> Callable[[], None]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, outputs))
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(BATCH, FEATURES)

    def forward() -> torch.Tensor:
        return criterion(model(x), target)

    # compiled: the forward graph (model and criterion) and, through AOT autograd, its backward
    run = torch.compile(forward, fullgraph=True) if compiled else forward

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        run().backward()
        optimiser.step()

    return step


def _per_step(steps: dict[str, Callable[[], None]], repeats: int, n: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up (and compilation)
        for _ in range(20):
            step()
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.process_time()
            for _ in range(n):
                step()
            times[name].append((time.process_time() - start) / n)
    # CPU time of this process (one thread), fastest block: other jobs on a shared machine
    # would add wall time that is not the contender's
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--only", help="run the pairs whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"torch {torch.__version__}, batch {BATCH}, MLP {FEATURES}-{HIDDEN}-k, one thread, "
          f"fastest of {args.repeats} blocks of {args.steps} steps\n")
    print("| loss | mode | PyTorch µs/step | losskit µs/step | extra µs | ratio | goal |")
    print("|---|---|---|---|---|---|---|")
    for name, outputs, target, ours, theirs in _pairs():
        if args.only and args.only not in name:
            continue
        y = target()
        modes = [("eager, checks on", {}, False, 1.10),
                 ("eager, check_values=False", {"check_values": False}, False, 1.10)]
        if not args.no_compile:
            modes.append(("torch.compile, check_values=False", {"check_values": False}, True,
                          1.05))
        for mode, options, compiled, goal in modes:
            # every pair compiles the same code object (``forward``): start each with an empty
            # cache, or dynamo's recompile limit is reached after four pairs
            torch._dynamo.reset()
            steps = {"torch": _step(theirs(), outputs, y, compiled),
                     "losskit": _step(ours(**options), outputs, y, compiled)}
            t = _per_step(steps, args.repeats, args.steps)
            ratio = t["losskit"] / t["torch"]
            print(f"| {name} | {mode} | {1e6 * t['torch']:.0f} | {1e6 * t['losskit']:.0f} | "
                  f"{1e6 * (t['losskit'] - t['torch']):+.0f} | {ratio:.2f} | "
                  f"{'✓' if ratio <= goal else '✗'} (≤ {goal:.2f}) |", flush=True)


if __name__ == "__main__":
    main()
