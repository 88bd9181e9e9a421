"""Back-propagation by hand, with losskit's gradients: a NumPy network, every step written out.

The article's readers asked for the back-propagation equations of a network with several hidden
layers ("I used dL/dA = 2(A - Y) with tanh ... but get the same prediction for all data points")
and how to update a multi-class logistic regression with the categorical cross-entropy's error.
This example answers both:

* a network ``x -> tanh -> tanh -> linear`` trained by minibatch SGD in NumPy, whose
  output-layer error is ``lk.gradient`` of the loss: ``2 (yhat - y) / n`` for the mean squared
  error, ``(p - onehot(y)) / n`` for the softmax cross-entropy from the logits (the error is
  the *gradient*, never the loss value times something);
* every layer's gradient written out (:func:`backward`), and checked against PyTorch autograd
  on the same weights (:func:`autograd_gradients`);
* why the reader's network predicted a constant, measured: inputs on a large scale and a large
  initialisation saturate the tanh units (their derivative ``1 - a**2`` is ~0, so nothing
  reaches the first layers and the hidden activations are the same ±1 pattern for every
  input), and too large a learning rate drives the units into saturation during training.

Run: ``python examples/backprop_by_hand.py`` (a few seconds).

The equations, for a minibatch of ``n`` rows, layers ``l = 1..L`` with
``z_l = a_{l-1} W_l + b_l``, ``a_l = tanh(z_l)`` (``a_0 = X``, the last layer linear):

.. code-block:: text

    delta_L = dLoss/dz_L                    = lk.gradient(loss, y, z_L)   (n x k)
    dW_l    = a_{l-1}^T delta_l,  db_l = sum over rows of delta_l
    delta_{l-1} = (delta_l W_l^T) * (1 - a_{l-1}**2)                       (tanh' = 1 - tanh^2)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

import losskit as lk

Params = list[tuple[np.ndarray, np.ndarray]]

#: a tanh unit counts as saturated beyond this |activation| (its derivative is below 0.02)
SATURATED = 0.99


# ------------------------------------------------------------------------------- the network


def init(sizes: tuple[int, ...], *, scale: float | None = None, seed: int = 0) -> Params:
    """Weights and biases; ``scale=None`` is Glorot's ``sqrt(2 / (fan_in + fan_out))``, a
    number is a fixed standard deviation (the reader's ``np.random.randn``: ``scale=1``)."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        std = np.sqrt(2.0 / (fan_in + fan_out)) if scale is None else scale
        params.append((rng.normal(scale=std, size=(fan_in, fan_out)), np.zeros(fan_out)))
    return params


def forward(params: Params, X: np.ndarray) -> list[np.ndarray]:
    """The activations ``[a_0 = X, a_1, ..., a_{L-1}, z_L]`` (tanh hidden, linear output)."""
    activations = [X]
    for i, (W, b) in enumerate(params):
        z = activations[-1] @ W + b
        activations.append(z if i == len(params) - 1 else np.tanh(z))
    return activations


def output_error(task: str, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``delta_L``: the gradient of the mean loss with respect to the output layer's ``z``,
    from losskit: ``2 (yhat - y) / n`` (MSE), ``(softmax(z) - onehot(y)) / n`` (classes)."""
    if task == "regression":
        return lk.gradient(lk.mean_squared_error, y, out)
    return lk.gradient(lk.sparse_categorical_cross_entropy, y, out, from_logits=True)


def loss(task: str, y: np.ndarray, out: np.ndarray) -> float:
    if task == "regression":
        return float(lk.mean_squared_error(y, out))
    return float(lk.sparse_categorical_cross_entropy(y, out, from_logits=True))


def backward(params: Params, activations: list[np.ndarray], delta: np.ndarray) -> Params:
    """Every layer's ``(dW, db)`` from the output error ``delta`` (the chain rule, written out)."""
    grads: Params = []
    for layer in range(len(params) - 1, -1, -1):
        a_prev = activations[layer]
        grads.append((a_prev.T @ delta, delta.sum(axis=0)))
        if layer > 0:
            W = params[layer][0]
            delta = (delta @ W.T) * (1.0 - a_prev**2)  # tanh'(z) = 1 - tanh(z)^2
    return grads[::-1]


def gradients(task: str, params: Params, X: np.ndarray, y: np.ndarray) -> Params:
    """The loss's gradient for every weight and bias, by hand."""
    activations = forward(params, X)
    return backward(params, activations, output_error(task, y, activations[-1]))


def autograd_gradients(task: str, params: Params, X: np.ndarray, y: np.ndarray) -> Params:
    """The same gradients from PyTorch autograd on the same weights (float64), with the loss
    computed by losskit on torch tensors."""
    import torch

    tensors = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
               for W, b in params]
    a = torch.tensor(X)
    for i, (W, b) in enumerate(tensors):
        a = a @ W + b
        if i < len(tensors) - 1:
            a = torch.tanh(a)
    if task == "regression":
        value = lk.mean_squared_error(torch.tensor(y), a)
    else:
        value = lk.sparse_categorical_cross_entropy(torch.tensor(y), a, from_logits=True)
    value.backward()
    return [(W.grad.numpy(), b.grad.numpy()) for W, b in tensors]


def max_difference(a: Params, b: Params) -> float:
    """The largest absolute difference between two sets of gradients."""
    return max(float(np.max(np.abs(x - y))) for pa, pb in zip(a, b, strict=True)
               for x, y in zip(pa, pb, strict=True))


# ------------------------------------------------------------------------------- training


@dataclass
class Run:
    """One training run, measured."""

    losses: list[float]
    #: std of the predictions over the data / std of the target (0: a constant prediction);
    #: for classes the mean std of the predicted probabilities
    spread: float
    #: share of hidden tanh units saturated (|a| > SATURATED) over the data, at the end
    saturated: float
    #: share at initialisation
    saturated_at_init: float
    #: R² of the final predictions (regression) or accuracy (classes); NaN if diverged
    score: float
    #: the epoch in which the weights overflowed (``None``: trained to the end)
    diverged_at: int | None = None


def saturation(params: Params, X: np.ndarray) -> float:
    hidden = forward(params, X)[1:-1]
    return float(np.mean(np.concatenate([np.abs(h).ravel() for h in hidden]) > SATURATED))


def train(task: str, X: np.ndarray, y: np.ndarray, *, hidden: int = 16, scale: float | None = None,
          lr: float = 0.05, epochs: int = 100, batch: int = 32, seed: int = 0) -> Run:
    """Minibatch SGD on the two-tanh-layer network; returns the measured run."""
    k = 1 if task == "regression" else int(y.max()) + 1
    params = init((X.shape[1], hidden, hidden, k), scale=scale, seed=seed)
    at_init = saturation(params, X)
    rng = np.random.default_rng(seed + 1)
    target = y[:, None] if task == "regression" else y
    losses: list[float] = []
    for epoch in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch):
            rows = order[start:start + batch]
            with np.errstate(over="ignore", invalid="ignore"):
                grads = gradients(task, params, X[rows], target[rows])
                new = [(W - lr * dW, b - lr * db)
                       for (W, b), (dW, db) in zip(params, grads, strict=True)]
                out = forward(new, X)[-1]
            if not np.all(np.isfinite(out)):  # diverged: report it, keep the last finite net
                return Run(losses, float("nan"), saturation(params, X), at_init, float("nan"),
                           diverged_at=epoch)
            params = new
        losses.append(loss(task, target, out))
    if task == "regression":
        pred = out[:, 0]
        spread = float(np.std(pred) / np.std(y))
        score = float(lk.metrics.r2_score(y, pred))
    else:
        probabilities = np.exp(out - out.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        spread = float(np.mean(np.std(probabilities, axis=0)))
        score = float(np.mean(out.argmax(axis=1) == y))
    return Run(losses, spread, saturation(params, X), at_init, score)


# ---------------------------------------------------------------------------------- data


def regression_data(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two inputs in the units a reader might have (hundreds), a smooth target."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = np.sin(2.0 * X[:, 0]) + X[:, 1] ** 2 + 0.05 * rng.normal(size=n)
    return 100.0 * X + 500.0, y  # e.g. a temperature in K and a pressure in hPa


def class_data(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes in two standardised inputs (three blobs)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.5]])
    return centres[y] + 0.5 * rng.normal(size=(n, 2)), y


def standardise(X: np.ndarray) -> np.ndarray:
    return (X - X.mean(axis=0)) / X.std(axis=0)


def diagnosis(epochs: int = 60, n: int = 256) -> dict[str, Run]:
    """The reader's constant prediction and its three causes, each measured on the same data."""
    X, y = regression_data(n)
    Z = standardise(X)
    return {
        "reader: raw inputs, N(0, 1) init, lr 0.05": train("regression", X, y, scale=1.0,
                                                          epochs=epochs),
        "raw inputs, Glorot init": train("regression", X, y, epochs=epochs),
        "standardised inputs, N(0, 1) init": train("regression", Z, y, scale=1.0,
                                                   epochs=epochs),
        "standardised inputs, Glorot init, lr 0.5": train("regression", Z, y, lr=0.5,
                                                          epochs=epochs),
        "standardised inputs, Glorot init, lr 0.05": train("regression", Z, y, epochs=epochs),
    }


def main() -> None:
    X, y = regression_data(64)
    Z = standardise(X)
    Xc, yc = class_data(60)
    print("hand-written gradients against PyTorch autograd (float64, max |difference|)")
    for task, inputs, target in (("regression", Z, y[:, None]), ("classes", Xc, yc)):
        k = 1 if task == "regression" else 3
        params = init((2, 16, 16, k), seed=3)
        diff = max_difference(gradients(task, params, inputs, target),
                              autograd_gradients(task, params, inputs, target))
        print(f"  {task:<10} {diff:.2e}")
    print("\nwhy the network predicted a constant (regression, 60 epochs of minibatch SGD)")
    print(f"  {'setup':<44} {'saturated at init':>17} {'at end':>7} {'spread':>7} {'R2':>7}")
    for name, run in diagnosis().items():
        end = (f"diverged in epoch {run.diverged_at + 1}" if run.diverged_at is not None
               else f"{run.spread:>7.3f} {run.score:>7.3f}")
        print(f"  {name:<44} {run.saturated_at_init:>17.0%} {run.saturated:>7.0%} {end}")
    run = train("classes", Xc, yc, epochs=60)
    print(f"\nthree classes, error p - y per sample / n: accuracy {run.score:.2f}, loss "
          f"{run.losses[0]:.3f} -> {run.losses[-1]:.3f}")


if __name__ == "__main__":
    main()
