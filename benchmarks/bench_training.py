"""Epoch time of losskit.nn.MLPClassifier (or MLPRegressor) vs a hand-written PyTorch loop and
scikit-learn.

All three train the same network (one hidden ReLU layer, softmax/sigmoid output), with the same
minibatch size and optimiser (SGD with momentum 0.9, no Nesterov, constant learning rate),
float32, for the same number of epochs, on the same data. The hand-written loop is what one
would write in plain PyTorch: shuffle indices with a generator, index the batch, forward,
``F.cross_entropy``, backward, step, and keep a running loss (``loss.item() * batch``); a
second variant of the same loop calls losskit's loss instead of ``F.cross_entropy``, which
separates the cost of the trainer from the cost of the loss function.
losskit's epoch additionally records the exact epoch loss and accuracy with accumulators (one
pass over the epoch's outputs) and shuffles with a seeded generator.

Run:  .venv/bin/python benchmarks/bench_training.py [--n 20000] [--epochs 5] [--threads 1]
      [--classes 3 | 2 | 0]   (0: regression, MSE against ``F.mse_loss``)

Reports the median and minimum epoch time of each and the ratios (target: losskit / PyTorch
<= 1.10). The minimum is the steadier figure on a shared machine.

``--fits`` (issue 13) times whole single fits with torch's *default* threads instead, as a user
gets them: breast cancer (569 x 30, standardised; 200 epochs, binary cross-entropy) and digits
(1797 x 64, 10 classes; 50 epochs), hidden (100,), batch 32, SGD 0.01 with momentum 0.9, no
validation split, losskit ``MLPClassifier`` against scikit-learn's; the same with the other
core kept busy by a spinning process (bounded in time); and binary focal loss against binary
cross-entropy per epoch (40-epoch fits of each, interleaved, at least 5 pairs: the median epoch
and the median fit's CPU time; ``--focal`` runs this line alone). Goals: losskit <= 1.2x
scikit-learn, busy <= 2x quiet, focal <= 1.3x BCE. The first fit of the process is timed
separately (it pays torch's lazy imports).

``--stacked`` times one SGD step of M stacked small networks three ways (``torch.func`` vmap,
batched products through autograd, batched products with the backward pass written out).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

import losskit as lk
from losskit.nn import MLPClassifier, MLPRegressor


def make_data(n: int, d: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    W = rng.normal(size=(d, classes))
    y = np.argmax(X @ W + rng.gumbel(size=(n, classes)), axis=1)
    return X, y


def torch_loop(X: np.ndarray, y: np.ndarray, hidden: int, classes: int, batch: int,
               epochs: int, lr: float, use_losskit: bool = False) -> list[float]:
    torch.manual_seed(0)
    out = 1 if classes in (0, 2) else classes
    model = torch.nn.Sequential(torch.nn.Linear(X.shape[1], hidden), torch.nn.ReLU(),
                                torch.nn.Linear(hidden, out))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    x = torch.as_tensor(X)
    t = torch.as_tensor(y, dtype=torch.float32 if classes in (0, 2) else torch.int64)
    if classes == 0:
        t = t[:, None]
    gen = torch.Generator().manual_seed(0)
    times = []
    n = x.shape[0]
    for _ in range(epochs):
        t0 = time.perf_counter()
        running = 0.0
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            z = model(x[idx])
            if use_losskit:  # the same loss call as losskit.nn makes
                if classes == 0:
                    loss = lk.mean_squared_error(t[idx], z, check_values=False)
                elif classes == 2:
                    loss = lk.binary_cross_entropy(t[idx][:, None], z, from_logits=True,
                                                   check_values=False)
                else:
                    loss = lk.sparse_categorical_cross_entropy(t[idx], z, from_logits=True,
                                                               check_values=False)
            elif classes == 0:
                loss = torch.nn.functional.mse_loss(z, t[idx])
            elif classes == 2:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], t[idx])
            else:
                loss = torch.nn.functional.cross_entropy(z, t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.item() * idx.shape[0]
        times.append(time.perf_counter() - t0)
    return times


def losskit_epochs(X: np.ndarray, y: np.ndarray, hidden: int, batch: int, epochs: int,
                   lr: float, regression: bool = False) -> list[float]:
    cls = MLPRegressor if regression else MLPClassifier
    clf = cls(hidden_layer_sizes=(hidden,), batch_size=batch, epochs=epochs,
              optimizer="sgd", learning_rate=lr, momentum=0.9, early_stopping=False,
              validation_fraction=0.0, random_state=0, verbose=False)
    clf.fit(X, y)
    return clf.history_["time"]


def sklearn_epochs(X: np.ndarray, y: np.ndarray, hidden: int, batch: int, epochs: int,
                   lr: float, regression: bool = False) -> float:
    cls = SkMLPRegressor if regression else SkMLPClassifier
    clf = cls(hidden_layer_sizes=(hidden,), solver="sgd", momentum=0.9,
              nesterovs_momentum=False, learning_rate_init=lr, batch_size=batch,
              max_iter=epochs, tol=0.0, n_iter_no_change=10 ** 9, alpha=0.0,
              shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(X, y)
        return (time.perf_counter() - t0) / clf.n_iter_


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _fit_seconds(cls: Any, X: np.ndarray, y: np.ndarray, epochs: int, loss: str = "",
                 ) -> tuple[float, Any]:
    if cls is SkMLPClassifier:
        model = cls(hidden_layer_sizes=(100,), solver="sgd", momentum=0.9,
                    nesterovs_momentum=False, learning_rate_init=0.01, batch_size=32,
                    max_iter=epochs, tol=0.0, n_iter_no_change=10**9, alpha=0.0,
                    random_state=0)
    else:
        model = cls(loss or "cross_entropy", hidden_layer_sizes=(100,), batch_size=32,
                    epochs=epochs, optimizer="sgd", learning_rate=0.01, momentum=0.9,
                    early_stopping=False, validation_fraction=0.0, random_state=0,
                    verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(X, y)
        _CPU.append(time.process_time() - c0)  # the fit's CPU seconds, all threads
        return time.perf_counter() - t0, model


#: CPU seconds of each fit timed by _fit_seconds, in order
_CPU: list[float] = []


def single_fits(repeats: int) -> None:
    """Issue 13's single-fit rows (see the module docstring)."""
    import multiprocessing as mp

    from sklearn.datasets import load_breast_cancer, load_digits

    def standardised(X: np.ndarray) -> np.ndarray:
        return ((X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12)).astype(np.float32)

    Xb, yb = load_breast_cancer(return_X_y=True)
    Xd, yd = load_digits(return_X_y=True)
    problems = {"breast cancer, 200 epochs": (standardised(Xb), yb, 200),
                "digits, 50 epochs": (standardised(Xd), yd, 50)}
    first, _ = _fit_seconds(MLPClassifier, problems["breast cancer, 200 epochs"][0][:100],
                            yb[:100], 1)
    print(f"torch {torch.__version__}, default threads {torch.get_num_threads()}; the "
          f"first fit of the process (1 epoch, 100 rows): {first:.2f} s")
    for busy in (False, True):
        spinner = None
        if busy:
            spinner = mp.get_context("spawn").Process(target=_spin, args=(600.0,))
            spinner.start()
        try:
            for name, (X, y, epochs) in problems.items():
                ours, sk, ours_cpu, sk_cpu = [], [], [], []
                for _ in range(repeats):  # interleaved
                    ours.append(_fit_seconds(MLPClassifier, X, y, epochs)[0])
                    ours_cpu.append(_CPU[-1])
                    sk.append(_fit_seconds(SkMLPClassifier, X, y, epochs)[0])
                    sk_cpu.append(_CPU[-1])
                a, b = statistics.median(ours), statistics.median(sk)
                ac, bc = statistics.median(ours_cpu), statistics.median(sk_cpu)
                print(f"{name:<26} {'other core busy' if busy else 'quiet':<16} losskit "
                      f"{a:6.2f} s   scikit-learn {b:6.2f} s   ratio {a / b:5.2f}x "
                      f"(goal <= 1.2x); CPU {ac:6.2f} s vs {bc:6.2f} s: {ac / bc:5.2f}x")
        finally:
            if spinner is not None:
                spinner.terminate()
                spinner.join()
    focal_vs_bce(repeats, *problems["breast cancer, 200 epochs"][:2])


def focal_vs_bce(repeats: int, X: np.ndarray | None = None, y: np.ndarray | None = None
                 ) -> None:
    """Binary focal loss against BCE per epoch, breast cancer (the last line of ``--fits``;
    alone with ``--focal``)."""
    if X is None or y is None:
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
        X = ((X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12)).astype(np.float32)
        _fit_seconds(MLPClassifier, X[:100], y[:100], 1)  # the process's first fit
    losses = ("binary_cross_entropy", "binary_focal_loss")
    epochs: dict[str, list[float]] = {loss: [] for loss in losses}
    cpu: dict[str, list[float]] = {loss: [] for loss in losses}
    for _ in range(max(repeats, 5)):
        for loss in losses:  # interleaved
            _, model = _fit_seconds(MLPClassifier, X, y, 40, loss)
            epochs[loss] += model.history_["time"]
            cpu[loss].append(_CPU[-1])
    per_epoch = {loss: statistics.median(epochs[loss]) for loss in losses}
    fit_cpu = {loss: statistics.median(cpu[loss]) for loss in losses}
    ratio = per_epoch["binary_focal_loss"] / per_epoch["binary_cross_entropy"]
    print(f"epoch time, breast cancer: BCE {per_epoch['binary_cross_entropy'] * 1e3:.1f} ms, "
          f"binary focal {per_epoch['binary_focal_loss'] * 1e3:.1f} ms: {ratio:.2f}x "
          f"(goal <= 1.3x); 40-epoch fits, CPU: {fit_cpu['binary_cross_entropy']:.3f} s vs "
          f"{fit_cpu['binary_focal_loss']:.3f} s: "
          f"{fit_cpu['binary_focal_loss'] / fit_cpu['binary_cross_entropy']:.2f}x")


def stacked_steps(members: tuple[int, ...] = (1, 50), steps: int = 200) -> None:
    """One SGD step of M stacked 30-100-1 ReLU networks (batch 32, BCE from logits), three
    ways: ``torch.func`` (``stack_module_state`` + ``vmap(grad(functional_call))``), batched
    products through autograd, and batched products with the backward pass written out (as
    ``losskit.nn._backprop``). Microseconds per step, one thread."""
    torch.set_num_threads(1)
    for M in members:
        _stacked(M, steps)


def _stacked(M: int, steps: int) -> None:
    import copy

    from torch.func import functional_call, grad, stack_module_state, vmap

    f, h, bs = 30, 100, 32
    gen = torch.Generator().manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(f, h), torch.nn.ReLU(),
                                torch.nn.Linear(h, 1)) for _ in range(M)]
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")
    x = torch.randn(M, bs, f, generator=gen)
    t = (torch.rand(M, bs, 1, generator=gen) > 0.5).float()

    def one_loss(p, b, xm, tm):
        z = functional_call(base, (p, b), (xm,))
        return torch.nn.functional.softplus((1 - 2 * tm) * z).mean()

    def vmap_step():
        g = vmap(grad(one_loss))(params, buffers, x, t)
        with torch.no_grad():
            for k in params:
                params[k].sub_(0.01 * g[k])

    stacked = [params["0.weight"].transpose(1, 2).contiguous(),
               params["0.bias"].unsqueeze(1).clone(),
               params["2.weight"].transpose(1, 2).contiguous(),
               params["2.bias"].unsqueeze(1).clone()]
    P = [p.clone().requires_grad_(True) for p in stacked]
    Q = [p.clone() for p in stacked]

    def autograd_step():
        z = torch.baddbmm(P[3], torch.relu(torch.baddbmm(P[1], x, P[0])), P[2])
        loss = torch.nn.functional.softplus((1 - 2 * t) * z).mean(dim=(1, 2)).sum()
        with torch.no_grad():
            torch._foreach_add_(P, torch.autograd.grad(loss, P), alpha=-0.01)

    def by_hand_step():
        a = torch.relu(torch.baddbmm(Q[1], x, Q[0]))
        d = (torch.sigmoid(torch.baddbmm(Q[3], a, Q[2])) - t) / bs
        dz = torch.ops.aten.threshold_backward(torch.bmm(d, Q[2].transpose(1, 2)), a, 0)
        torch._foreach_add_(Q, [torch.bmm(x.transpose(1, 2), dz), dz.sum(1, keepdim=True),
                                torch.bmm(a.transpose(1, 2), d), d.sum(1, keepdim=True)],
                            alpha=-0.01)

    for name, step in (("torch.func vmap", vmap_step), ("baddbmm + autograd", autograd_step),
                       ("baddbmm, backward by hand", by_hand_step)):
        for _ in range(steps // 10):
            step()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        print(f"M={M:<3d} {name:<26s} {(time.perf_counter() - t0) / steps * 1e6:8.0f} us "
              "per step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", action="store_true",
                        help="issue 13's whole single fits, default threads (see above)")
    parser.add_argument("--focal", action="store_true",
                        help="only --fits' last line: binary focal vs BCE per epoch")
    parser.add_argument("--stacked", action="store_true",
                        help="one step of M stacked networks: torch.func vmap vs baddbmm")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--classes", type=int, default=3,
                        help="number of classes; 0 for regression (MLPRegressor, MSE)")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.fits:
        single_fits(args.repeats)
        return
    if args.focal:
        focal_vs_bce(args.repeats)
        return
    if args.stacked:
        stacked_steps()
        return
    torch.set_num_threads(args.threads)
    regression = args.classes == 0
    X, y = make_data(args.n, args.features, max(args.classes, 2))
    if regression:  # a smooth target with noise, standardised
        y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.3 * np.random.default_rng(1).normal(
            size=len(y))
        y = ((y - y.mean()) / y.std()).astype(np.float32)
    # warm-up (imports, allocator, first-call overheads)
    torch_loop(X[:2000], y[:2000], args.hidden, args.classes, args.batch, 1, args.lr)
    losskit_epochs(X[:2000], y[:2000], args.hidden, args.batch, 1, args.lr, regression)

    ours, hand, hand_lk, sk = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits all of them
        hand += torch_loop(X, y, args.hidden, args.classes, args.batch, args.epochs, args.lr)
        hand_lk += torch_loop(X, y, args.hidden, args.classes, args.batch, args.epochs,
                              args.lr, use_losskit=True)
        ours += losskit_epochs(X, y, args.hidden, args.batch, args.epochs, args.lr,
                               regression)
        sk.append(sklearn_epochs(X, y, args.hidden, args.batch, args.epochs, args.lr,
                                 regression))
    print(f"n={args.n} features={args.features} classes={args.classes} "
          f"hidden=({args.hidden},) batch={args.batch} SGD(momentum=0.9, lr={args.lr}) "
          f"float32, torch threads={torch.get_num_threads()}, torch {torch.__version__}")
    print(f"{'epoch time (s)':28s}{'median':>10s}{'min':>10s}{'ratio (median)':>16s}"
          f"{'ratio (min)':>13s}")
    kind = "MLPRegressor" if regression else "MLPClassifier"
    rows = [(f"losskit {kind}", ours, ""),
            ("hand-written PyTorch loop", hand, "losskit / PyTorch, target <= 1.10"),
            ("same loop, losskit loss", hand_lk, "losskit.nn's own overhead"),
            (f"scikit-learn {kind}", sk, "losskit / scikit-learn")]
    for name, times, note in rows:
        med, low = statistics.median(times), min(times)
        print(f"{name:28s}{med:10.4f}{low:10.4f}{statistics.median(ours) / med:16.2f}"
              f"{min(ours) / low:13.2f}   {note}")


if __name__ == "__main__":
    main()
