"""Tabular features as a network's input: numeric columns standardised, the others one-hot.

The encoder is fitted on the training rows and stored as plain JSON (means, scales, categories),
so a saved model needs no pickle to turn a new table into inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from losskit._validation import fail

__all__ = ["FAR_SD", "TabularEncoder"]

#: a numeric value this many training standard deviations from the training mean is reported
#: by ``transform`` (:attr:`TabularEncoder.far_`): the network never saw anything like it
FAR_SD = 5.0


class TabularEncoder:
    """Standardise numeric columns (mean 0, standard deviation 1; a constant column is centred
    only) and one-hot encode the other columns (strings, categories, booleans) over the
    categories seen in training (an unseen category encodes as all zeros).

    Examples
    --------
    >>> import pandas as pd
    >>> enc = TabularEncoder().fit(pd.DataFrame({"x": [1.0, 3.0], "c": ["a", "b"]}))
    >>> enc.transform(pd.DataFrame({"x": [2.0], "c": ["b"]})).tolist()
    [[0.0, 0.0, 1.0]]
    >>> enc.feature_names
    ['x', 'c=a', 'c=b']
    """

    def __init__(self) -> None:
        self.numeric: dict[str, tuple[float, float]] = {}
        self.categorical: dict[str, list[Any]] = {}
        self.columns: list[str] = []
        #: after :meth:`transform`: {column: (rows with a category unseen in training, example)}
        self.unseen_: dict[str, tuple[int, Any]] = {}

    def fit(self, table: Any, *, command: str | None = None) -> TabularEncoder:
        """Learn the columns' encodings from ``table`` (numeric values must be finite)."""
        import pandas as pd

        func, arg = (command, "DATA") if command else ("TabularEncoder", "table")

        self.columns = [str(c) for c in table.columns]
        for name in table.columns:
            col = table[name]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                values = col.to_numpy(dtype=np.float64)
                _check_finite(func, arg, str(name), values)
                sd = float(np.std(values))
                self.numeric[str(name)] = (float(np.mean(values)), sd if sd > 0 else 1.0)
            else:
                cats = sorted({_plain(v) for v in col.tolist()}, key=lambda v: (str(type(v)),
                                                                                 str(v)))
                self.categorical[str(name)] = cats
        if not self.columns:
            fail(func, arg, "has no feature columns",
                 "Pass a table with at least one column besides the target")
        return self

    @property
    def feature_names(self) -> list[str]:
        names: list[str] = []
        for name in self.columns:
            if name in self.numeric:
                names.append(name)
            else:
                names += [f"{name}={c}" for c in self.categorical[name]]
        return names

    @property
    def n_features(self) -> int:
        """Number of network inputs the encoding makes."""
        return len(self.numeric) + sum(len(c) for c in self.categorical.values())

    def transform(self, table: Any, *, command: str | None = None) -> np.ndarray:
        """The float32 network inputs of ``table``; :attr:`unseen_` counts unseen categories and
        :attr:`far_` the numeric values more than :data:`FAR_SD` training standard deviations
        from the training mean (per column: the count and the farthest value)."""
        func, arg = (command, "DATA") if command else ("TabularEncoder", "table")
        missing = [c for c in self.columns if c not in {str(k) for k in table.columns}]
        if missing:
            fail(func, arg, f"lacks the column(s) {', '.join(map(repr, missing))}"
                 " the model was trained with", "Pass a table with the training columns")
        table = table.rename(columns=str)
        if table[self.columns].isna().to_numpy().any():
            counts = table[self.columns].isna().sum()
            listed = ", ".join(f"{c!r} ({int(n)})" for c, n in counts.items() if n)
            fail(func, arg, f"has missing values: {listed}", "Drop or impute them first")
        self.unseen_ = {}
        self.far_ = {}
        blocks = []
        for name in self.columns:
            col = table[name]
            if name in self.numeric:
                mean, sd = self.numeric[name]
                try:
                    values = col.to_numpy(dtype=np.float64)
                except (TypeError, ValueError):
                    fail(func, arg, f"column {name!r} is not numeric (it was in training)",
                         "Pass the same column types as in training")
                _check_finite(func, arg, name, values)
                with np.errstate(over="ignore", invalid="ignore"):
                    scaled = (values - mean) / sd
                too_far = ~(np.abs(scaled) <= 1e30)  # beyond what the float32 network can take
                if too_far.any():
                    rows = ", ".join(str(int(r) + 1) for r in np.flatnonzero(too_far)[:5])
                    fail(func, arg, f"column {name!r} has {int(too_far.sum())} value(s) too far "
                         f"outside the training range to encode (rows {rows}: more than 1e30 "
                         f"training standard deviations ({sd:.3g}) from the mean)",
                         "Check those values (units, typos)")
                far = int(np.sum(np.abs(scaled) > FAR_SD))
                if far:  # outside what the network saw: its output there is an extrapolation
                    self.far_[name] = (far, float(values[np.argmax(np.abs(scaled))]))
                blocks.append(scaled[:, None])
            else:
                cats = self.categorical[name]
                values = [_plain(v) for v in col.tolist()]
                onehot = np.zeros((len(values), len(cats)), dtype=np.float32)
                index = {c: i for i, c in enumerate(cats)}
                # a column read back as text (one bad cell turns True/False or 1/2 into
                # strings): its cells still match the training categories by their text
                strings = {c for c in cats if isinstance(c, str)}
                by_text = {str(c): i for i, c in enumerate(cats)
                           if not isinstance(c, str) and str(c) not in strings}
                unseen, example = 0, None
                for row, v in enumerate(values):
                    if v in index:
                        onehot[row, index[v]] = 1.0
                    elif isinstance(v, str) and v in by_text:
                        onehot[row, by_text[v]] = 1.0
                    else:
                        unseen += 1
                        example = v if example is None else example
                if unseen:
                    self.unseen_[name] = (unseen, example)
                blocks.append(onehot)
        return np.concatenate(blocks, axis=1, dtype=np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns,
                "numeric": {k: list(v) for k, v in self.numeric.items()},
                "categorical": self.categorical}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TabularEncoder:
        enc = cls()
        enc.columns = list(d["columns"])
        enc.numeric = {k: (float(v[0]), float(v[1])) for k, v in d["numeric"].items()}
        enc.categorical = {k: list(v) for k, v in d["categorical"].items()}
        return enc


def _check_finite(func: str, arg: str, name: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        rows = ", ".join(str(int(r) + 1) for r in np.flatnonzero(bad)[:5])
        fail(func, arg, f"column {name!r} has {int(bad.sum())} infinite value(s) (rows {rows})",
             "Replace or drop them")
    if np.abs(values).max(initial=0.0) > 1e30:
        fail(func, arg, f"column {name!r} has values as large as {np.abs(values).max():.3g}",
             "Rescale the column (float32 networks overflow beyond about 1e38)")


def _plain(v: Any) -> Any:
    """A JSON-friendly Python scalar (numpy scalars to Python; others to str)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (bool, int, float, str)):
        return v
    return str(v)
