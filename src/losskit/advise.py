"""Which loss should I use? Advice from the data, in maximum-likelihood terms.

:func:`advise` looks at the target (and, optionally, the inputs), decides the task and the
distribution the target plausibly follows, and returns that likelihood family
(:func:`losskit.family`) with everything it implies, read from the family so that nothing can
drift apart: the output layer, the loss (the family's negative log-likelihood, ``loss_name``
with ``loss_options``) and the metrics to report (``default_metrics``); with warnings backed by
measured numbers, and alternatives.

The thresholds (each documented where it is used):

* a float target strictly inside (0, 1) is a proportion;
* non-negative whole numbers are *counts* only when their small values are there: zeros, or a
  smallest value of at most :data:`SMALL_COUNT`. Whole numbers that stay far from zero (a
  diabetes score of 25-346, ages 18-90, whole-dollar prices, body weights) are measurements on
  a scale whose unit steps are small against the spread, modelled as continuous; Poisson and
  the negative binomial are then named as alternatives. Small integers 0..K-1 (or 1..K) with at
  most :data:`MAX_LABELS` values are class labels unless their histogram looks like counts
  (skewed, or at least :data:`MIN_COUNT_VALUES` values falling away from a single mode);
* counts are over-dispersed, and get the negative binomial rather than the Poisson, when the
  dispersion index (variance / mean; with inputs ``X``, the Pearson statistic of a Poisson
  regression on them) exceeds :data:`OVERDISPERSED` and the dispersion test (under the
  Poisson, (n - p) times the dispersion is chi-squared with n - p degrees of freedom) rejects
  at p < :data:`DISPERSION_P`;
* positive values with sample skewness above :data:`SKEWED` are positive-skewed;
* a regression target is heavy-tailed when more than :data:`OUTLIER_SHARE` of it lies beyond
  :data:`OUTLIER_Z` robust standard deviations (median / MAD) from the median;
* a value of a numeric target (regression, counts, positive-skewed) is *extreme*, and named by
  its row however few they are, when it lies more than :data:`EXTREME_Z` robust standard
  deviations from the median, and, for a non-negative target, also more than
  :data:`OUTLIER_Z` of them on the log scale (``log y``, or ``log(1 + y)`` with zeros), so
  that the long tail of a log-normal, Gamma or count target is not called extreme: a single
  1e30 (or a missing-value code like 99999) then dominates the mean, the squared error and
  the skewness the advice reads;
* classes are imbalanced when the rarest holds less than :data:`IMBALANCED` of the most common
  (the balanced accuracy is then listed first);
* fewer than :data:`FEW_PER_CLASS` samples in a class is too few;
* with inputs ``X``, the Breusch–Pagan test (squared least-squares residuals regressed on X)
  flags variance growing with the inputs at p < :data:`HETEROSCEDASTIC_P`.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from losskit._validation import fail
from losskit.families import Family, family

__all__ = ["Advice", "Alternative", "Finding", "advise", "as_target"]

MAX_LABELS = 20
MIN_COUNT_VALUES = 6
SMALL_COUNT = 2
OVERDISPERSED = 2.0
DISPERSION_P = 0.01
SKEWED = 1.0
OUTLIER_Z = 5.0
OUTLIER_SHARE = 0.005
EXTREME_Z = 20.0
IMBALANCED = 0.2
FEW_PER_CLASS = 10
HETEROSCEDASTIC_P = 0.01


@dataclass(frozen=True)
class Finding:
    """A warning about the data, with the numbers behind it."""

    code: str
    message: str
    numbers: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Alternative:
    """Another loss worth trying, and when."""

    loss: str
    when: str


@dataclass(frozen=True)
class Advice:
    """The advised task, distribution, output layer, loss and metrics, and why."""

    task: str
    family: str
    output_layer: str
    loss: str
    loss_options: dict[str, Any]
    metrics: tuple[str, ...]
    rationale: str
    warnings: tuple[Finding, ...]
    alternatives: tuple[Alternative, ...]
    stats: dict[str, Any]
    #: parameters for ``lk.family(family, **family_options)`` (e.g. soft targets)
    family_options: dict[str, Any] = field(default_factory=dict)
    #: the family itself (``lk.family(family, **family_options)``; ``None`` for a constant
    #: target), from which ``output_layer``, ``loss``, ``loss_options`` and ``metrics`` are read
    family_object: Family | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the family by its name and options)."""
        fields = {k: v for k, v in asdict(replace(self, family_object=None)).items()
                  if k != "family_object"}
        return json.loads(json.dumps(fields, default=_jsonable))

    def __str__(self) -> str:
        rows = [
            ("task", self.task),
            ("distribution (family)", self.family + "".join(
                f", {k}={v!r}" for k, v in self.family_options.items())),
            ("output layer", self.output_layer),
            ("loss", self.loss + "".join(f", {k}={v!r}" for k, v in self.loss_options.items())),
            ("metrics to report", ", ".join(self.metrics)),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        lines += ["", "why: " + self.rationale]
        if self.warnings:
            lines += ["", "warnings:"] + [f"  - {w.message}" for w in self.warnings]
        if self.alternatives:
            lines += ["", "alternatives:"] + [f"  - {a.loss}: {a.when}" for a in self.alternatives]
        return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ------------------------------------------------------------------------------- the target


def as_target(y: Any, func: str = "advise") -> np.ndarray:
    """A target column as a NumPy array: pandas objects, torch tensors, JAX arrays and lists
    alike (what :func:`advise` and :func:`losskit.compare` read a target with; ``func`` names
    the caller in the messages).

    >>> as_target([1, 2, 3]).tolist()
    [1, 2, 3]
    """
    if hasattr(y, "to_numpy"):  # pandas Series / DataFrame
        y = y.to_numpy()
    elif hasattr(y, "detach"):  # torch tensor
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim == 0 or y.size == 0:
        fail(func, "y", "is empty" if y.size == 0 else "is a scalar",
             "Pass the target column: one value (or one row of labels) per sample")
    if y.ndim > 2:
        fail(func, "y", f"has {y.ndim} dimensions", "Pass a 1-D target or a 2-D label matrix")
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        bad = int(np.sum(~np.isfinite(y)))
        fail(func, "y", f"has {bad} missing or infinite values",
             "Drop or impute them before choosing a loss")
    if y.dtype.kind == "O":
        missing = sum(v is None or (isinstance(v, float) and math.isnan(v)) for v in y.ravel())
        if missing:
            fail(func, "y", f"has {missing} missing values", "Drop or impute them first")
    return y


def _is_integral(y: np.ndarray) -> bool:
    if y.dtype.kind in "iu":
        return True
    return y.dtype.kind == "f" and bool(np.all(y == np.round(y)))


def _robust_outliers(y: np.ndarray) -> tuple[float, float]:
    """Share of values beyond OUTLIER_Z robust SDs of the median, and the excess kurtosis."""
    median = np.median(y)
    mad = np.median(np.abs(y - median)) * 1.4826
    share = float(np.mean(np.abs(y - median) > OUTLIER_Z * mad)) if mad > 0 else 0.0
    centred = y - y.mean()
    var = np.mean(centred**2)
    kurtosis = float(np.mean(centred**4) / var**2 - 3.0) if var > 0 else 0.0
    return share, kurtosis


def _robust_z(y: np.ndarray) -> np.ndarray:
    """``|y - median| / (1.4826 MAD)``; zeros where the MAD is 0 (half the values equal)."""
    median = np.median(y)
    deviation = np.abs(y - median)
    mad = np.median(deviation) * 1.4826
    return deviation / mad if mad > 0 else np.zeros_like(y)


def _extreme_rows(y: np.ndarray) -> np.ndarray:
    """Positions of the extreme values of a numeric target (see the module docstring)."""
    with np.errstate(all="ignore"):
        extreme = _robust_z(y) > EXTREME_Z
        if extreme.any() and y.min() >= 0:
            logs = np.log(y) if y.min() > 0 else np.log1p(y)
            extreme &= _robust_z(logs) > OUTLIER_Z
    return np.flatnonzero(extreme)


def _extreme_values(y: np.ndarray, X: Any, advice: Advice) -> Advice:
    """``advice`` with a warning naming the extreme values' rows (if any), and the advice
    the target would get without them where it differs."""
    rows = _extreme_rows(y)
    if rows.size == 0 or rows.size == y.size:
        return advice
    z = _robust_z(y)
    shown = ", ".join(f"{y[r]:.4g} in row {r + 1} (index {r})" for r in rows[:5])
    more = f" and {rows.size - 5} more" if rows.size > 5 else ""
    keep = np.ones(y.size, dtype=bool)
    keep[rows] = False
    without = ""
    try:
        X_keep = None if X is None else (X.iloc[keep] if hasattr(X, "iloc")
                                          else np.asarray(X)[keep])
        clean = _advise(y[keep], X_keep)
    except (ValueError, TypeError):  # pragma: no cover - the rest is a valid target
        clean = None
    if clean is not None and clean.family != advice.family:
        without = (f" Without {'it' if rows.size == 1 else 'them'} the advice would be the "
                   f"{clean.family} family ({clean.loss}), not {advice.family}.")
    message = (f"{rows.size} extreme value{'s' if rows.size > 1 else ''}: {shown}{more}, "
               f"{'up to ' if rows.size > 1 else ''}{float(z[rows].max()):.3g} robust "
               f"standard deviations from the median {float(np.median(y)):.4g}: "
               f"{'it dominates' if rows.size == 1 else 'they dominate'} the mean, the squared "
               "error and the skewness (a data-entry error, or a missing-value code such as "
               "99999?). Check, correct or drop "
               f"{'it' if rows.size == 1 else 'them'}, or use a robust loss (huber_loss, "
               f"laplace_nll).{without}")
    finding = Finding("extreme_values", message,
                      {"n_extreme": int(rows.size), "rows": rows.tolist(),
                       "max_robust_z": float(z[rows].max())})
    stats = {**advice.stats, "extreme_rows": rows.tolist()}
    return replace(advice, warnings=(finding, *advice.warnings), stats=stats)


def _skewness(y: np.ndarray) -> float:
    centred = y - y.mean()
    var = np.mean(centred**2)
    return float(np.mean(centred**3) / var**1.5) if var > 0 else 0.0


def _looks_like_counts(y: np.ndarray) -> bool:
    """Small non-negative integers are counts rather than class labels when there are at least
    :data:`MIN_COUNT_VALUES` of them and their histogram is unimodal (frequencies fall away
    from the mode, allowing Poisson noise of two standard deviations, to a last value below
    half the mode's frequency), or when they are skewed
    (skewness above :data:`SKEWED`)."""
    if _skewness(y) > SKEWED:
        return True
    _, counts = np.unique(y, return_counts=True)
    if len(counts) < MIN_COUNT_VALUES:
        return False
    mode = int(np.argmax(counts))

    def falls(seq: np.ndarray) -> bool:
        return all(b <= a + 2 * math.sqrt(a) + 1 for a, b in itertools.pairwise(seq))

    tail_falls = counts[-1] < 0.5 * counts[mode]  # uniform class labels do not fall away
    return tail_falls and falls(counts[mode:]) and falls(counts[:mode + 1][::-1])


def _numeric_inputs(X: Any, n: int) -> np.ndarray:
    """The numeric columns of ``X`` as a float ``(n, d)`` array (missing values kept)."""
    if hasattr(X, "select_dtypes"):
        X = X.select_dtypes("number").to_numpy()
    elif hasattr(X, "to_numpy"):
        X = X.to_numpy()
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[0] != n:
        fail("advise", "X", f"has {X.shape[0]} rows but y has {n}",
             "Pass one row of inputs per target value")
    return X


def _breusch_pagan(y: np.ndarray, X: Any) -> tuple[float, float] | None:
    """(LM statistic, p-value) of the Breusch–Pagan test, or None if X cannot be used."""
    from scipy import stats

    X = _numeric_inputs(X, len(y))
    keep = np.all(np.isfinite(X), axis=1)
    X, y = X[keep], y[keep]
    design = np.column_stack([np.ones(len(y)), X])
    if len(y) <= design.shape[1] + 2:
        return None
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    squared = (y - design @ coef) ** 2
    aux, *_ = np.linalg.lstsq(design, squared, rcond=None)
    fitted = design @ aux
    total = np.sum((squared - squared.mean()) ** 2)
    if total == 0:
        return None
    r2 = 1.0 - np.sum((squared - fitted) ** 2) / total
    lm = len(y) * r2
    return float(lm), float(stats.chi2.sf(lm, design.shape[1] - 1))


# --------------------------------------------------------------------------------- advisers


def _output_layer(fam: Family, n_outputs: int) -> str:
    """The last layer a family needs, in words, from its activation and link."""
    units = f"{n_outputs} unit{'s' if n_outputs > 1 else ''}"
    act = fam.activation_name
    if act == "identity":
        return f"{units}, linear (identity) activation"
    if act == "sigmoid":
        return f"{units}, sigmoid activation{' each' if n_outputs > 1 else ''}"
    if act == "softmax":
        return f"{units}, softmax activation"
    if act == "exp":
        return f"{units}, exponential activation (the raw output is the log-mean)"
    if act == "exp,exp":
        return (f"{units}, exponential activations (the raw outputs are the log-mean and the "
                "log-dispersion)")
    return f"{units}, {act} activations"  # pragma: no cover - every advised family is above


def _advice(task: str, fam: Family, *, rationale: str, findings: list[Finding],
            alternatives: list[Alternative] | tuple[Alternative, ...], stats: dict[str, Any],
            n_classes: int | None = None, first_metric: str | None = None,
            family_options: dict[str, Any] | None = None) -> Advice:
    """An :class:`Advice` whose output layer, loss, options and metrics come from ``fam``.

    The metrics are ``fam.default_metrics``, as a set exactly; their order puts
    ``first_metric`` (the one the data calls for, e.g. balanced accuracy for imbalanced
    classes) first."""
    metrics = list(fam.default_metrics)
    if first_metric is not None:  # the same metrics; the one the data calls for first
        metrics.remove(first_metric)
        metrics.insert(0, first_metric)
    options = fam.loss_options
    if options is None:  # pragma: no cover - advise never picks a split-output family
        raise AssertionError(fam)
    return Advice(task=task, family=fam.name, family_options=dict(family_options or {}),
                  family_object=fam,
                  output_layer=_output_layer(fam, fam.n_outputs(n_classes)),
                  loss=fam.loss_name, loss_options=options, metrics=tuple(metrics),
                  rationale=rationale, warnings=tuple(findings),
                  alternatives=tuple(alternatives), stats=stats)


def _classification(y: np.ndarray, labels: np.ndarray, counts: np.ndarray,
                    findings: list[Finding], stats: dict[str, Any]) -> Advice:
    k = len(labels)
    stats.update(n_classes=k, class_counts={str(c): int(n) for c, n in zip(labels, counts,
                                                                            strict=True)})
    ratio = float(counts.min() / counts.max())
    alternatives: list[Alternative] = []
    imbalanced = ratio < IMBALANCED
    if imbalanced:
        findings.append(Finding(
            "class_imbalance",
            f"classes are imbalanced: the rarest ({labels[counts.argmin()]!s}) has "
            f"{counts.min()} samples, {ratio:.1%} of the most common ({counts.max()}); pass "
            "class weights (inverse frequency) or use a focal loss, and report balanced "
            "accuracy rather than accuracy",
            {"minority_to_majority": ratio}))
    if counts.min() < FEW_PER_CLASS:
        findings.append(Finding(
            "few_samples_per_class",
            f"class {labels[counts.argmin()]!s} has only {counts.min()} samples (fewer than "
            f"{FEW_PER_CLASS}): its loss and metrics will be noisy; collect more or merge it",
            {"min_class_count": int(counts.min())}))
    first = "balanced_accuracy_score" if imbalanced else None
    if k == 2:
        pm1 = set(np.unique(y).tolist()) == {-1, 1}
        alternatives.append(Alternative("binary_focal_loss",
                                        "when the classes are imbalanced or easy examples "
                                        "dominate the loss"))
        if pm1:
            alternatives.append(Alternative("hinge_loss",
                                            "labels are ±1 and only the decision matters (a "
                                            "margin loss, tanh/linear output, no probabilities)"))
        return _advice(
            "binary", family("bernoulli"), first_metric=first,
            rationale=(f"two classes ({', '.join(map(str, labels))}): the target is Bernoulli "
                       "with the probability p of the positive class; its negative "
                       "log-likelihood -[y log p + (1-y) log(1-p)] is the binary cross-entropy, "
                       "and the sigmoid maps the unit's raw output to p (compute it from the "
                       "logit, from_logits=True, for stability)"),
            findings=findings, alternatives=alternatives, stats=stats)
    alternatives.append(Alternative("categorical_focal_loss",
                                    "when some classes are rare or easy examples dominate"))
    alternatives.append(Alternative("categorical_cross_entropy",
                                    "the same loss, when the targets are one-hot rows or soft "
                                    "labels instead of integers"))
    return _advice(
        "multiclass", family("categorical"), n_classes=k, first_metric=first,
        rationale=(f"{k} mutually exclusive classes: the target is Categorical with "
                   "probabilities p_1..p_K; its negative log-likelihood -log p_y is the "
                   "categorical cross-entropy, and the softmax maps the raw outputs to "
                   "probabilities summing to 1 (compute it from the logits, from_logits=True)"),
        findings=findings, alternatives=alternatives, stats=stats)


def _heavy_tails(y: np.ndarray, findings: list[Finding], stats: dict[str, Any]
                 ) -> list[Alternative]:
    share, kurtosis = _robust_outliers(y)
    stats.update(outlier_share=share, excess_kurtosis=kurtosis)
    if share > OUTLIER_SHARE:
        findings.append(Finding(
            "heavy_tails",
            f"heavy tails / outliers: {share:.1%} of the target lies more than {OUTLIER_Z:g} "
            f"robust standard deviations from the median (excess kurtosis {kurtosis:.1f}); "
            "squared error lets them dominate — consider Huber, Laplace (MAE) or Student-t",
            {"outlier_share": share, "excess_kurtosis": kurtosis}))
        return [Alternative("huber_loss", "outliers should count linearly, not squared"),
                Alternative("laplace_nll", "errors look Laplace: the median is the target "
                                           "(mean_absolute_error up to scale)"),
                Alternative("student_t_nll", "heavy tails with a learned degrees of freedom")]
    return [Alternative("huber_loss", "if outliers appear later")]


# ------------------------------------------------------------------ counts or measurements


def _whole_number_evidence(y: np.ndarray, integer_dtype: bool) -> dict[str, Any]:
    """What tells counts from whole-number measurements, measured (see the module docstring).

    Counts of events start at zero: their zeros and small values are where a count model
    (Poisson, negative binomial) differs from a continuous one. Whole numbers that stay far
    from zero, with unit steps small against their spread, carry no such information.
    """
    distinct = len(np.unique(y))
    mean, sd = float(y.mean()), float(y.std())
    return {
        "integer_dtype": integer_dtype,
        "zero_share": float(np.mean(y == 0)),
        "small_share": float(np.mean(y <= SMALL_COUNT)),
        "min": float(y.min()),
        "n_distinct": distinct,
        "min_in_sds": float(y.min() / sd) if sd > 0 else math.inf,  # 0 lies this far below
        "variance_to_mean": float(y.var() / mean) if mean > 0 else 0.0,
    }


def _describe_whole_numbers(ev: dict[str, Any], y: np.ndarray) -> str:
    dtype = "an integer column" if ev["integer_dtype"] else "floats holding whole numbers"
    return (f"whole numbers from {y.min():g} to {y.max():g} ({dtype}, "
            f"{ev['n_distinct']} distinct values in {len(y)}, mean {y.mean():.3g}, "
            f"sd {y.std():.3g})")


def _p(p_value: float) -> str:
    return f"p = {p_value:.2g}" if p_value >= 1e-300 else "p < 1e-300"


def _dispersion(y: np.ndarray, X: Any, stats: dict[str, Any]) -> tuple[float, float, str]:
    """(dispersion, p-value of the Poisson dispersion test, what it was measured on).

    Without inputs: the index of dispersion var/mean, with (n - 1) var/mean ~ chi2(n - 1)
    under the Poisson. With inputs: the Pearson statistic of a Poisson regression on the
    numeric inputs (the dispersion the inputs leave unexplained), ~ chi2(n - p)."""
    from scipy import stats as sstats

    n = len(y)
    fitted = _poisson_regression(y, X) if X is not None else None
    if fitted is None:
        phi = float(y.var(ddof=1) / y.mean()) if y.mean() > 0 and n > 1 else 0.0
        df, basis = n - 1, "variance / mean"
    else:
        used, mu, p = fitted
        df = len(used) - p
        phi = float(np.sum((used - mu) ** 2 / mu) / df)
        basis = f"Pearson dispersion of a Poisson regression on the {p - 1} numeric inputs"
    p_value = float(sstats.chi2.sf(phi * df, df)) if df > 0 else 1.0
    stats.update(dispersion=phi, dispersion_p=p_value)
    return phi, p_value, basis


def _poisson_regression(y: np.ndarray, X: Any
                        ) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(y, fitted means, number of coefficients)`` of a Poisson GLM (log link, IRLS) on the
    standardised numeric columns of ``X`` (rows with missing inputs left out); None without
    usable inputs, or if it does not converge to finite means."""
    X = _numeric_inputs(X, len(y))
    rows = np.all(np.isfinite(X), axis=1)
    X, y = X[rows], y[rows]
    if X.shape[1] == 0:
        return None
    sd = X.std(axis=0)
    keep = sd > 0
    if not np.any(keep):
        return None
    Z = (X[:, keep] - X[:, keep].mean(axis=0)) / sd[keep]
    design = np.column_stack([np.ones(len(y)), Z])
    if len(y) <= 2 * design.shape[1]:
        return None
    beta = np.zeros(design.shape[1])
    beta[0] = math.log(max(float(y.mean()), 1e-12))
    for _ in range(50):
        eta = np.clip(design @ beta, -30, 30)
        mu = np.exp(eta)
        # a Newton (IRLS) step with a tiny ridge for collinear inputs
        hess = design.T @ (design * mu[:, None]) + 1e-8 * np.eye(design.shape[1])
        step = np.linalg.solve(hess, design.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    mu = np.exp(np.clip(design @ beta, -30, 30))
    ok = np.all(np.isfinite(beta)) and np.all(mu > 0)
    return (y, mu, design.shape[1]) if ok else None


def _counts(y: np.ndarray, X: Any, ev: dict[str, Any], findings: list[Finding],
            stats: dict[str, Any]) -> Advice:
    phi, p_value, basis = _dispersion(y, X, stats)
    stats["variance_to_mean"] = ev["variance_to_mean"]
    small = (f"{ev['zero_share']:.0%} zeros" if ev["zero_share"] > 0
             else f"smallest value {ev['min']:g}")
    why = (f"{_describe_whole_numbers(ev, y)} with {small} and {ev['small_share']:.0%} of the "
           f"values at most {SMALL_COUNT}: counts, whose zeros and small values a continuous "
           "model gets wrong")
    over = phi > OVERDISPERSED and p_value < DISPERSION_P
    if phi > OVERDISPERSED:
        findings.append(Finding(
            "overdispersion", f"the counts are over-dispersed: {basis} is {phi:.1f} (the "
            f"Poisson has 1; dispersion test {_p(p_value)})"
            + (": the negative binomial models the extra variance" if over else
               ", but too few samples to be sure; the Poisson fits the mean regardless"),
            {"variance_to_mean": phi, "p_value": p_value}))
    if over:
        return _advice(
            "count", family("negative_binomial"),
            rationale=(f"{why}; over-dispersed ({basis} {phi:.1f}, {_p(p_value)} against "
                       "the Poisson's 1): the target is negative binomial with mean μ and "
                       "dispersion α (variance μ + αμ²); its negative log-likelihood is the "
                       "loss, with two raw outputs per target, log μ and log α, through exp. "
                       "The dispersion is learned: where the inputs explain the extra "
                       "variance it falls towards 0, the Poisson"),
            findings=findings, stats=stats,
            alternatives=[Alternative("poisson_nll", "if the inputs explain the extra "
                                      "variance (the same mean, fewer parameters)"),
                          Alternative("tweedie_deviance", "with power between 1 and 2: many "
                                      "exact zeros with a continuous positive part")])
    return _advice(
        "count", family("poisson"),
        rationale=(f"{why}; {basis} {phi:.2f} ({_p(p_value)}), consistent with the "
                   "Poisson's 1: the target is Poisson with rate λ; its negative "
                   "log-likelihood λ - y log λ + log y! is the Poisson loss, and exp maps the "
                   "raw output (log λ) to a positive rate"),
        findings=findings, stats=stats,
        alternatives=[Alternative("negative_binomial_nll", "if the variance turns out larger "
                                  "than the mean (a learned dispersion)"),
                      Alternative("tweedie_deviance",
                                  "many exact zeros with a continuous positive part")])


def advise(y: Any, X: Any = None) -> Advice:
    r"""Advise the likelihood family, output layer, loss and metrics for a target.

    Parameters
    ----------
    y : array_like, shape (n,) or (n, k)
        The target: real values, counts, proportions, class labels of any type (strings,
        booleans, ±1), or a 0/1 label matrix (multi-label); several columns that are a
        latitude/longitude pair (by name, or by range) or angles (by name) get the von
        Mises-Fisher or von Mises family.
    X : array_like of shape (n, d), optional
        The inputs. With them, the advice also tests whether the noise variance grows with the
        inputs (Breusch–Pagan), which calls for a Gaussian with learned variance, and measures
        the over-dispersion of counts that the inputs leave unexplained (a Poisson regression).

    Returns
    -------
    Advice
        ``task``, ``family`` (a :func:`losskit.family` name, with ``family_options``) and,
        read from that family, ``output_layer``, ``loss`` (its negative log-likelihood, a
        losskit function, with ``loss_options``: ``getattr(losskit, loss)(y, raw,
        **loss_options)`` equals ``family.loss(y, raw)``) and ``metrics``
        (``family.default_metrics``); ``rationale`` (the evidence that decided),
        ``warnings`` (with the measured numbers), ``alternatives`` and ``stats``.

    Examples
    --------
    >>> import losskit as lk
    >>> a = lk.advise(["spam", "ham", "ham", "spam"] * 30)
    >>> a.task, a.loss, a.output_layer
    ('binary', 'binary_cross_entropy', '1 unit, sigmoid activation')
    >>> lk.advise([0, 3, 1, 0, 2, 2, 0, 1, 1, 4, 0, 2, 5, 1, 3, 0, 2, 1, 1, 2, 3, 2]).loss
    'poisson_nll'
    >>> lk.advise([0, 3, 1, 0, 7, 2, 0, 1, 12, 4, 0, 2, 25, 1, 3, 0, 5, 22, 1, 9, 30, 2]).loss
    'negative_binomial_nll'
    >>> lk.advise([25, 151, 97, 141, 206, 310, 101, 69, 179, 185, 118, 171, 166, 144]).family
    'gaussian'
    """
    advice = _advise(y, X)
    values = as_target(y)
    if advice.task in ("regression", "count", "positive_skewed") and values.ndim == 1 \
            and values.dtype.kind in "iuf":
        advice = _extreme_values(values.astype(float), X, advice)
    return advice


def _advise(y: Any, X: Any = None) -> Advice:
    """:func:`advise` without the extreme-value check."""
    columns = [str(c) for c in getattr(y, "columns", ())]  # names of a DataFrame's columns
    y = as_target(y)
    n = int(y.shape[0])
    if X is not None and len(X) != n:
        fail("advise", "X", f"has {len(X)} rows but y has {n}",
             "Pass one row of inputs per target value")
    stats: dict[str, Any] = {"n_samples": n}
    findings: list[Finding] = []

    if y.ndim == 2:
        values = np.unique(y)
        if y.dtype.kind in "biuf" and set(values.tolist()) <= {0, 1}:
            if np.all(y.sum(axis=1) == 1):
                labels, counts = np.unique(y.argmax(axis=1), return_counts=True)
                advice = _classification(y.argmax(axis=1), labels, counts, findings, stats)
                # one-hot rows: the same Categorical NLL, from the rows rather than labels
                return replace(advice, loss="categorical_cross_entropy",
                               rationale=advice.rationale + " (one-hot rows given)")
            per_label = y.mean(axis=0)
            stats.update(n_labels=int(y.shape[1]), positive_rate=per_label.tolist())
            rare = float(per_label.min())
            if rare < 0.05:
                findings.append(Finding(
                    "rare_labels", f"label {int(per_label.argmin())} is positive in only "
                    f"{rare:.1%} of samples: pass pos_weight (negatives/positives) or use a "
                    "focal loss", {"min_positive_rate": rare}))
            return _advice(
                "multilabel", family("multilabel"), n_classes=int(y.shape[1]),
                rationale=("several labels can be on at once: each is an independent "
                           "Bernoulli, so the negative log-likelihood is the binary "
                           "cross-entropy summed (averaged) over the labels, with one sigmoid "
                           "unit per label"),
                findings=findings, stats=stats,
                alternatives=(Alternative("binary_focal_loss", "when labels are rare"),))
        directions = _directions(y, columns, stats)
        if directions is not None:
            return directions
        fail("advise", "y", f"has shape {y.shape} with values other than 0/1",
             "Pass one target column (multi-output regression: advise each column)")

    if y.dtype.kind in "OUSb" or (y.dtype.kind in "iuf" and len(np.unique(y)) == 2):
        labels, counts = np.unique(y.astype(str) if y.dtype.kind == "O" else y,
                                   return_counts=True)
        if len(labels) == 1:
            return _constant(y, stats)
        if y.dtype.kind in "OUS" and len(labels) > max(MAX_LABELS, n // 2):
            findings.append(_identifier(len(labels), n))
        return _classification(y, labels, counts, findings, stats)

    integer_dtype = y.dtype.kind in "iu"
    y = y.astype(float)
    distinct = np.unique(y)
    stats.update(mean=float(y.mean()), std=float(y.std()), min=float(y.min()),
                 max=float(y.max()), n_distinct=len(distinct))
    if len(distinct) == 1:
        return _constant(y, stats)
    integral = _is_integral(y)
    if integral and len(distinct) == n and n > 20 and np.all(np.diff(np.sort(y)) == 1):
        findings.append(_identifier(len(distinct), n))
    is_labels = (integral and len(distinct) <= MAX_LABELS
                 and np.array_equal(distinct, np.arange(distinct[0], distinct[0] + len(distinct)))
                 and distinct[0] in (0, 1) and not _looks_like_counts(y))
    if is_labels:
        labels, counts = np.unique(y.astype(int), return_counts=True)
        advice = _classification(y, labels, counts, findings, stats)
        return replace(advice, alternatives=(
            *advice.alternatives,
            Alternative("poisson_nll", "if these integers are counts, not classes")))
    measurement = ""  # why whole numbers are not counts, prefixed to the rationale
    count_alternatives: list[Alternative] = []
    if integral and y.min() >= 0:
        evidence = _whole_number_evidence(y, integer_dtype)
        stats["whole_numbers"] = evidence
        if evidence["min"] <= SMALL_COUNT:
            return _counts(y, X, evidence, findings, stats)
        measurement = (f"{_describe_whole_numbers(evidence, y)} with no zeros and nothing "
                       f"below {evidence['min']:g}: a measurement on a scale whose unit steps "
                       "are small against its spread, not a count of events (counts have "
                       f"their zeros and values up to {SMALL_COUNT}), so a continuous model; ")
        count_alternatives = [Alternative(
            "negative_binomial_nll" if evidence["variance_to_mean"] > OVERDISPERSED
            else "poisson_nll", "if these are counts of events after all: this far from "
            "zero a count is nearly continuous, and the continuous model fits about as well")]
    if y.min() > 0 and y.max() < 1:
        return _advice(
            "proportion", family("bernoulli", soft=True), family_options={"soft": True},
            rationale=("values strictly between 0 and 1: a proportion; the binary "
                       "cross-entropy with soft targets is the Bernoulli quasi-likelihood, "
                       "whose minimiser is the mean proportion, and the sigmoid keeps "
                       "predictions inside (0, 1)"),
            findings=findings, stats=stats,
            alternatives=(Alternative("mean_squared_error", "on the logit of y, if the "
                                      "proportions are not near 0 or 1"),))
    skew = _skewness(y)
    stats["skewness"] = skew
    if y.min() > 0 and skew > SKEWED:
        return _advice(
            "positive_skewed", family("gamma"),
            rationale=(f"{measurement}positive values with a long right tail (skewness "
                       f"{skew:.2f}): a Gamma target, whose spread grows with its mean; its "
                       "negative log-likelihood (the Gamma deviance, up to constants) is the "
                       "loss, and exp maps the raw output (the log-mean) to a positive mean"),
            findings=findings, stats=stats,
            alternatives=(Alternative("mean_squared_error", "on log(y): a log-normal target "
                                      "(predict exp of the output, times exp(σ²/2) for the "
                                      "mean)"),
                          Alternative("tweedie_deviance", "with power between 1 and 2 when "
                                      "exact zeros occur"), *count_alternatives))
    alternatives = [Alternative("mean_squared_error", "the same minimiser: the Gaussian NLL "
                                "is MSE / (2σ²) + log σ + log(2π)/2"),
                    *_heavy_tails(y, findings, stats)]
    if X is not None:
        test = _breusch_pagan(y, X)
        if test is not None:
            stats.update(breusch_pagan_lm=test[0], breusch_pagan_p=test[1])
            if test[1] < HETEROSCEDASTIC_P:
                findings.append(Finding(
                    "heteroscedastic", f"the noise variance grows with the inputs "
                    f"(Breusch–Pagan LM {test[0]:.1f}, p = {test[1]:.2g}): a Gaussian with "
                    "learned variance (gaussian_nll with a second output for log σ²) fits it and "
                    "gives honest uncertainty", {"lm": test[0], "p_value": test[1]}))
                alternatives.insert(0, Alternative("gaussian_nll", "learn the variance as a "
                                                   "second output (heteroscedastic Gaussian)"))
    return _advice(
        "regression", family("gaussian"),
        rationale=(f"{measurement}real-valued target: under Gaussian noise with variance σ², "
                   "the negative log-likelihood is (y - ŷ)²/(2σ²) + log σ + log(2π)/2, so "
                   "minimising it (the mean squared error up to scale and constants) is "
                   "maximum likelihood, with a linear output for the mean"),
        findings=findings, stats=stats, alternatives=[*alternatives, *count_alternatives])


# --------------------------------------------------------------- directions and locations

_LATITUDE_NAMES = ("lat", "latitude")
_LONGITUDE_NAMES = ("lon", "lng", "long", "longitude")
_ANGLE_WORDS = ("angle", "direction", "heading", "bearing", "azimuth", "course", "wind_dir",
                "winddir", "phase", "orientation")


def _directions(y: np.ndarray, columns: list[str], stats: dict[str, Any]) -> Advice | None:
    """Advice for several target columns that are a latitude/longitude pair or angles.

    A pair is recognised by its column names (``lat``/``latitude`` and
    ``lon``/``lng``/``long``/``longitude``, a DataFrame's), or, without names, as two columns
    with the first in [-90, 90] and the second in [-180, 360] reaching beyond ±90 (where
    latitudes cannot go). Angles are recognised by names (``angle``, ``direction``,
    ``heading``, ``bearing``, ...), in radians when every value is within [-2π, 2π] and else
    in degrees within [-360, 360]. ``None`` for anything else.
    """
    if y.dtype.kind not in "iuf" or y.shape[1] < 1:
        return None
    y = y.astype(float)
    names = [c.strip().lower() for c in columns] if len(columns) == y.shape[1] else []
    lat = [i for i, c in enumerate(names) if c in _LATITUDE_NAMES]
    lon = [i for i, c in enumerate(names) if c in _LONGITUDE_NAMES]
    if names and len(lat) == len(lon) == 1 and y.shape[1] == 2:
        pair, how = (lat[0], lon[0]), f"columns {columns[lat[0]]!r} and {columns[lon[0]]!r}"
    elif not names and y.shape[1] == 2 and np.all(np.abs(y[:, 0]) <= 90) and \
            np.all((y[:, 1] >= -180) & (y[:, 1] <= 360)) and np.any(np.abs(y[:, 1]) > 90):
        pair, how = (0, 1), "the value ranges (latitude within ±90, longitude beyond it)"
    else:
        pair = None
    if pair is not None:
        if not (np.all(np.abs(y[:, pair[0]]) <= 90) and np.all(np.abs(y[:, pair[1]]) <= 360)):
            return None
        spread = float(np.ptp(y[:, pair[1]]))
        stats.update(latitude_column=pair[0], longitude_column=pair[1],
                     longitude_spread=spread)
        finding = Finding(
            "locations_on_a_sphere",
            f"the targets are locations (recognised from {how}): a squared error on degrees "
            "is wrong across the date line (179.9 and -179.9 are 22 km apart at the equator, "
            "not 359.8 degrees) and near the poles (a degree of longitude shrinks to nothing); "
            "convert them with losskit.lat_lon_to_unit_vector",
            {"longitude_spread_degrees": spread})
        return _direction_advice(
            "location", "von_mises_fisher", finding, stats,
            rationale=("a location is a point on the sphere: as a unit vector x it follows a "
                       "von Mises-Fisher distribution around the predicted direction, whose "
                       "negative log-likelihood is von_mises_fisher_nll; the 3 raw outputs "
                       "are the mean direction scaled by the concentration"),
            squared_error_on="the unit vectors (not the degrees)",
            output_layer="3 units, linear (the raw outputs are the concentration times the "
                         "unit vector of the location)")
    angles = [i for i, c in enumerate(names) if any(w in c for w in _ANGLE_WORDS)]
    if not names or len(angles) != y.shape[1]:
        return None
    radians = bool(np.all(np.abs(y) <= 2 * np.pi + 1e-9))
    if not radians and not np.all(np.abs(y) <= 360):
        return None
    unit = "radians" if radians else "degrees"
    stats.update(angle_columns=[columns[i] for i in angles], angle_unit=unit)
    finding = Finding(
        "angles_wrap_around",
        f"the targets are angles in {unit} (columns {', '.join(map(repr, columns))}): a "
        "squared error on the numbers is wrong across the wrap-around (359 and 1 degrees are "
        "2 apart, not 358)" + ("" if radians else "; pass degrees=True to von_mises_nll or "
                               "convert with numpy.radians"),
        {"n_angles": len(angles)})
    return _direction_advice(
        "angle", "von_mises", finding, stats,
        rationale=("an angle lives on the circle: it follows a von Mises distribution around "
                   "the predicted direction, whose negative log-likelihood is von_mises_nll; "
                   "each angle's 2 raw outputs are (cos, sin) of the direction scaled by the "
                   "concentration"),
        squared_error_on="(cos, sin) of each angle",
        output_layer=f"{2 * len(angles)} units, linear (per angle, the concentration times "
                     "(cos, sin) of the direction)")


def _direction_advice(task: str, family_name: str, finding: Finding, stats: dict[str, Any], *,
                      rationale: str, squared_error_on: str, output_layer: str) -> Advice:
    """The advice for angles or locations: the family's, the squared error on the vectors as
    the alternative when no concentration is wanted, and the output layer in words."""
    advice = _advice(task, family(family_name), rationale=rationale, findings=[finding],
                     stats=stats, alternatives=(Alternative(
                         "mean_squared_error",
                         f"on {squared_error_on}, when no concentration is wanted"),))
    return replace(advice, output_layer=output_layer)


def _identifier(distinct: int, n: int) -> Finding:
    return Finding("looks_like_identifier",
                   f"the target has {distinct} distinct values in {n} samples: it looks like an "
                   "identifier, not something to predict; check the target column",
                   {"n_distinct": distinct, "n_samples": n})


def _constant(y: np.ndarray, stats: dict[str, Any]) -> Advice:
    value = y.ravel()[0]
    finding = Finding("constant_target", f"the target is constant ({value!s}): there is "
                      "nothing to learn; check the column or the data filtering",
                      {"n_distinct": 1})
    return Advice(task="constant", family="none", output_layer="none", loss="none",
                  loss_options={}, metrics=(), rationale="a constant target has no likelihood "
                  "to maximise: every model that outputs the constant is perfect",
                  warnings=(finding,), alternatives=(), stats=stats)
