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
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
