"""Targets of every kind ``lk.advise`` tells apart (shared by the advise, families and nn
tests): name -> a function of a NumPy random generator."""

import numpy as np

TARGETS = {
    "real": lambda r: r.normal(size=300),
    "heavy": lambda r: r.standard_t(1.5, size=500),
    "ages": lambda r: r.integers(18, 91, size=300),
    "poisson": lambda r: r.poisson(3.0, size=300),
    "negative_binomial": lambda r: r.negative_binomial(2, 0.1, size=500),
    "positive_skewed": lambda r: r.gamma(1.5, 2.0, size=300),
    "proportion": lambda r: r.beta(2, 5, size=300),
    "binary": lambda r: r.integers(0, 2, size=300),
    "imbalanced": lambda r: (r.uniform(size=600) < 0.05).astype(int),
    "strings": lambda r: r.choice(["cat", "dog"], size=300),
    "multiclass": lambda r: r.integers(0, 4, size=300),
    "one_hot": lambda r: np.eye(3)[r.integers(0, 3, size=300)],
    "multilabel": lambda r: r.integers(0, 2, size=(300, 5)),
}
