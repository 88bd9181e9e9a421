"""Fused linear + cross-entropy, forward and backward: peak memory and time against the naive
``logits = h @ W.T`` then ``F.cross_entropy`` (PyTorch, CPU, float32).

Run: ``python benchmarks/bench_linear_cross_entropy.py [--tokens N] [--hidden H] [--vocab V]
[--chunk C] [--repeats R]``. Each contender runs in its own process (so that one's memory cannot
count against another): it makes the inputs, then runs forward + backward (gradients of the
hidden states and the weight) once to measure the peak resident memory above what the inputs
took (``ru_maxrss``), then R more times for the median time.

Contenders: ``naive`` (the whole logits), ``losskit`` (``lk.linear_cross_entropy``, chunks of C
tokens, logits recomputed in the backward pass) and ``torch chunked``
(``F.linear_cross_entropy`` with ``LinearCrossEntropyOptions()``), where PyTorch has it.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def _run(name: str, tokens: int, hidden: int, vocab: int, chunk: int, repeats: int) -> dict:
    import torch

    import losskit as lk

    torch.manual_seed(0)
    F = torch.nn.functional

    def inputs(n: int, d: int, v: int) -> tuple:
        return (torch.randn(n, d, requires_grad=True),
                (torch.randn(v, d) / d**0.5).requires_grad_(True), torch.randint(0, v, (n,)))

    # the code paths once on tiny inputs (imports, first-call set-up), not counted
    h, w, y = inputs(8, 4, 16)
    step = _step(name, h, w, y, chunk, lk, F, torch)
    step()
    h, w, y = inputs(tokens, hidden, vocab)
    step = _step(name, h, w, y, chunk, lk, F, torch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    value = step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"name": name, "value": value, "peak_mib": peak / 1024,
            "seconds": statistics.median(times)}


def _step(name, h, w, y, chunk, lk, F, torch):
    def step() -> float:
        h.grad = w.grad = None
        if name == "naive":
            loss = F.cross_entropy(h @ w.T, y)
        elif name == "losskit":
            loss = lk.linear_cross_entropy(y, h, weight=w, chunk_size=chunk,
                                           check_values=False)
        else:
            loss = F.linear_cross_entropy(h, w, y,
                                          options=torch.nn.LinearCrossEntropyOptions())
        loss.backward()
        return float(loss.detach())

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=32768)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", default=None)
    args = parser.parse_args()
    sizes = (args.tokens, args.hidden, args.vocab, args.chunk, args.repeats)
    if args.child:
        print(json.dumps(_run(args.child, *sizes)))
        return
    rows = []
    for name in ("naive", "losskit", "torch chunked"):
        out = subprocess.run([sys.executable, __file__, "--child", name,
                              *[f"--{k}={v}" for k, v in zip(
                                  ("tokens", "hidden", "vocab", "chunk", "repeats"), sizes,
                                  strict=True)]],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]
    logits_mib = args.tokens * args.vocab * 4 / 2**20
    print(f"{args.tokens} tokens x {args.hidden} hidden x {args.vocab} vocabulary "
          f"(logits {logits_mib:.0f} MiB), chunks of {args.chunk} tokens, median of "
          f"{args.repeats}")
    print("| contender | peak memory above inputs | vs naive | time (s) | vs naive | loss |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['name']} | {row['peak_mib']:.0f} MiB | "
              f"{row['peak_mib'] / base['peak_mib']:.1%} | {row['seconds']:.2f} | "
              f"{row['seconds'] / base['seconds']:.2f}x | {row['value']:.6f} |")


if __name__ == "__main__":
    main()
