"""The article's three losses done right, on generated data (the quick start's main job).

Generates a regression, a binary and a three-class problem from a fixed seed, computes each
loss with losskit on NumPy (and on PyTorch and JAX when they are installed), checks them against
scikit-learn and PyTorch, and shows the pitfalls the article's loop pseudo-code falls into.
Run: ``python examples/losses_on_generated_data.py``.
"""

from __future__ import annotations

import importlib.util

import numpy as np

import losskit as lk


def generated_data(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 1000
    y_reg = rng.normal(size=n)
    logits = rng.normal(size=n) * 2.5
    y_bin = (rng.uniform(size=n) < 1 / (1 + np.exp(-logits))).astype(float)
    z3 = rng.normal(size=(n, 3)) * 2
    p3 = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p3 /= p3.sum(axis=1, keepdims=True)
    y3 = np.array([rng.choice(3, p=row) for row in p3])
    return {"y_reg": y_reg, "pred_reg": y_reg + rng.normal(scale=0.3, size=n),
            "y_bin": y_bin, "logits": logits, "y3": y3, "z3": z3, "p3": p3}


def main() -> None:
    d = generated_data()
    p_bin = 1 / (1 + np.exp(-d["logits"]))
    rows = [
        ("mean_squared_error", lk.mean_squared_error(d["y_reg"], d["pred_reg"])),
        ("binary_cross_entropy (probabilities)", lk.binary_cross_entropy(d["y_bin"], p_bin)),
        ("binary_cross_entropy (logits)",
         lk.binary_cross_entropy(d["y_bin"], d["logits"], from_logits=True)),
        ("categorical_cross_entropy (one-hot, logits)",
         lk.categorical_cross_entropy(np.eye(3)[d["y3"]], d["z3"], from_logits=True)),
        ("sparse_categorical_cross_entropy (labels, probabilities)",
         lk.sparse_categorical_cross_entropy(d["y3"], d["p3"])),
    ]
    print("losskit on 1000 generated samples (nats)")
    for name, value in rows:
        print(f"  {name:<58} {float(value):.6f}")

    references = []
    if importlib.util.find_spec("sklearn"):
        from sklearn.metrics import log_loss, mean_squared_error

        references += [
            ("scikit-learn mean_squared_error", mean_squared_error(d["y_reg"], d["pred_reg"]),
             rows[0][1]),
            ("scikit-learn log_loss (binary)", log_loss(d["y_bin"], p_bin), rows[1][1]),
            ("scikit-learn log_loss (3 classes)", log_loss(d["y3"], d["p3"]), rows[4][1]),
        ]
    if importlib.util.find_spec("torch"):
        import torch
        import torch.nn.functional as F

        references += [
            ("torch binary_cross_entropy_with_logits",
             float(F.binary_cross_entropy_with_logits(torch.from_numpy(d["logits"]),
                                                      torch.from_numpy(d["y_bin"]))),
             rows[2][1]),
            ("torch cross_entropy",
             float(F.cross_entropy(torch.from_numpy(d["z3"]), torch.from_numpy(d["y3"]))),
             rows[3][1]),
        ]
        z = torch.tensor(d["z3"], requires_grad=True)
        lk.sparse_categorical_cross_entropy(torch.from_numpy(d["y3"]), z,
                                            from_logits=True).backward()
        analytic = lk.gradient(lk.sparse_categorical_cross_entropy, d["y3"], d["z3"],
                               from_logits=True)
        print(f"\nanalytic gradient vs torch autograd: max |difference| = "
              f"{np.abs(analytic - z.grad.numpy()).max():.2e}")
    if references:
        print("\nagreement with the frameworks (relative difference)")
        for name, theirs, ours in references:
            print(f"  {name:<58} {abs(float(ours) - theirs) / abs(theirs):.1e}")

    print("\nthe article's pitfalls")
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=float)
    p = np.array([0.8, 0.9, 0.9, 0.6, 0.8, 0.1, 0.4, 0.2, 0.1, 0.3])
    one_term = -np.mean(y * np.log(p + 1e-15))
    print(f"  BCE without the (1-y)·log(1-p) term: {one_term:.3f} nats; "
          f"with it: {float(lk.binary_cross_entropy(y, p)):.3f} nats")
    with np.errstate(all="ignore"):
        z16 = np.float16(1e4)
        naive = -np.log(np.float16(1) - np.float16(1) / (np.float16(1) + np.exp(-z16)))
    ours = lk.binary_cross_entropy(np.float16([0.0]), np.float16([1e4]), from_logits=True)
    print(f"  BCE of logit 1e4 for y=0 in float16: naive {naive}, losskit {float(ours):g} "
          f"(exact: 1e4)")
    try:
        lk.categorical_cross_entropy(np.eye(3)[[0]], [[0.5, 0.5, 0.5]])
    except ValueError as error:
        print(f"  rows not summing to 1 are refused:\n    {error}")


if __name__ == "__main__":
    main()
