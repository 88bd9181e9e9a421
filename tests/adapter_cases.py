"""One valid call per catalogue loss on *raw* model outputs (any real numbers), for the framework
adapter tests: a linear layer can produce every ``raw`` array, so each loss can be trained."""

from __future__ import annotations

import numpy as np

from losskit._adapters import catalogue
from losskit.losses import loss_specs

N, C = 16, 3


def adapter_cases(rng: np.random.Generator, n: int = N) -> dict[str, tuple]:
    """``{loss name: (y_true, raw, options)}``; ``raw`` has shape ``(n, k)``."""
    normal = rng.normal(size=(n, 1))
    binary = rng.integers(0, 2, size=(n, 1)).astype(float)
    labels = rng.integers(0, C, size=n)
    onehot = np.eye(C)[labels]
    counts = rng.poisson(2.0, size=(n, 1)).astype(float)
    z = rng.normal(size=(n, C))
    soft = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    unit = rng.normal(size=(n, 3))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)

    def raw(k: int = 1) -> np.ndarray:
        return rng.normal(size=(n, k))

    cases = {
        "mean_squared_error": (normal, raw(), {}),
        "mean_absolute_error": (normal, raw(), {}),
        "log_cosh_loss": (normal, raw(), {}),
        "huber_loss": (normal, raw(), {"delta": 0.5}),
        "pinball_loss": (normal, raw(), {"quantile": 0.9}),
        "laplace_nll": (normal, raw(), {}),
        "student_t_nll": (normal, raw(), {"df": 3.0}),
        "gaussian_nll": (normal, raw(), {"var": 2.0}),
        "mean_absolute_percentage_error": (rng.uniform(1, 2, (n, 1)), raw(), {}),
        "mean_squared_log_error": (rng.uniform(0, 2, (n, 1)), raw(), {"convention": "keras"}),
        "binary_cross_entropy": (binary, raw(), {"from_logits": True}),
        "binary_focal_loss": (binary, raw(), {"from_logits": True, "gamma": 2.0}),
        "hinge_loss": (2 * binary - 1, raw(), {}),
        "squared_hinge_loss": (2 * binary - 1, raw(), {}),
        "categorical_cross_entropy": (onehot, raw(C), {"from_logits": True,
                                                       "label_smoothing": 0.1}),
        "categorical_focal_loss": (onehot, raw(C), {"from_logits": True, "gamma": 2.0}),
        "categorical_hinge_loss": (onehot, raw(C), {}),
        "kl_divergence": (soft, raw(C), {"from_logits": True}),
        "sparse_categorical_cross_entropy": (labels, raw(C), {"from_logits": True}),
        "generalized_cross_entropy": (labels, raw(C), {"from_logits": True, "q": 0.7}),
        "poisson_nll": (counts, raw(), {}),
        "gamma_nll": (rng.uniform(0.5, 3, (n, 1)), raw(), {"log_input": True}),
        "tweedie_deviance": (counts, raw(), {"power": 1.5, "log_input": True}),
        "negative_binomial_nll": (counts[:, 0], raw(2), {}),
        "gaussian_mixture_nll": (normal[:, 0], raw(6), {}),
        "von_mises_nll": (rng.uniform(-np.pi, np.pi, n), raw(2), {}),
        "von_mises_fisher_nll": (unit, raw(3), {}),
    }
    # the other catalogue losses: their declared worked example, n times
    for name, spec in loss_specs().items():
        if name not in cases and name in catalogue():
            case = spec.explanation.case
            y, x = case.batch(case.y_true)
            cases[name] = (None if y is None else np.repeat(y, n, axis=0),
                           np.repeat(x, n, axis=0), dict(case.options))
    return cases


def doc_example(page: str) -> str:
    """The ```python blocks of ``docs/<page>``, joined: the page's complete example (blocks
    fenced as ```py are fragments shown in the text, tested elsewhere)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / page).read_text()
    blocks = [part.split("```", 1)[0] for part in text.split("```python\n")[1:]]
    assert blocks, f"docs/{page} has no python example"
    return "\n".join(blocks)
