"""Which loss should I use? Advice from the data, in maximum-likelihood terms.

:func:`advise` looks at the target (and, optionally, the inputs), decides the task and the
distribution the target plausibly follows, and returns the output layer and loss that maximum
likelihood implies — the negative log-likelihood of that distribution — with the metrics to
report, warnings backed by measured numbers, and alternatives.

The thresholds (each documented where it is used):

* a float target strictly inside (0, 1) is a proportion;
* non-negative integers are counts when they have more than :data:`MAX_LABELS` distinct
  values, do not form the labels 0..K-1 (or 1..K), are skewed, or have at least
  :data:`MIN_COUNT_VALUES` values with a unimodal histogram; otherwise they are class labels
  (and Poisson is offered as the alternative);
* positive values with sample skewness above :data:`SKEWED` are positive-skewed;
* a regression target is heavy-tailed when more than :data:`OUTLIER_SHARE` of it lies beyond
  :data:`OUTLIER_Z` robust standard deviations (median / MAD) from the median;
* classes are imbalanced when the rarest holds less than :data:`IMBALANCED` of the most common;
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

__all__ = ["Advice", "Alternative", "Finding", "advise"]

MAX_LABELS = 20
MIN_COUNT_VALUES = 6
SKEWED = 1.0
OUTLIER_Z = 5.0
OUTLIER_SHARE = 0.005
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return json.loads(json.dumps(asdict(self), default=_jsonable))

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


def _as_target(y: Any) -> np.ndarray:
    if hasattr(y, "to_numpy"):  # pandas Series / DataFrame
        y = y.to_numpy()
    elif hasattr(y, "detach"):  # torch tensor
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim == 0 or y.size == 0:
        fail("advise", "y", "is empty" if y.size == 0 else "is a scalar",
             "Pass the target column: one value (or one row of labels) per sample")
    if y.ndim > 2:
        fail("advise", "y", f"has {y.ndim} dimensions", "Pass a 1-D target or a 2-D label matrix")
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        bad = int(np.sum(~np.isfinite(y)))
        fail("advise", "y", f"has {bad} missing or infinite values",
             "Drop or impute them before choosing a loss")
    if y.dtype.kind == "O":
        missing = sum(v is None or (isinstance(v, float) and math.isnan(v)) for v in y.ravel())
        if missing:
            fail("advise", "y", f"has {missing} missing values", "Drop or impute them first")
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


def _breusch_pagan(y: np.ndarray, X: Any) -> tuple[float, float] | None:
    """(LM statistic, p-value) of the Breusch–Pagan test, or None if X cannot be used."""
    from scipy import stats

    if hasattr(X, "to_numpy"):
        X = X.select_dtypes("number").to_numpy() if hasattr(X, "select_dtypes") else X.to_numpy()
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[0] != y.shape[0]:
        fail("advise", "X", f"has {X.shape[0]} rows but y has {y.shape[0]}",
             "Pass one row of inputs per target value")
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


def _classification(y: np.ndarray, labels: np.ndarray, counts: np.ndarray,
                    findings: list[Finding], stats: dict[str, Any]) -> Advice:
    k = len(labels)
    stats.update(n_classes=k, class_counts={str(c): int(n) for c, n in zip(labels, counts,
                                                                            strict=True)})
    ratio = float(counts.min() / counts.max())
    alternatives: list[Alternative] = []
    metrics: list[str]
    if ratio < IMBALANCED:
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
    if k == 2:
        pm1 = set(np.unique(y).tolist()) == {-1, 1}
        alternatives.append(Alternative("binary_focal_loss",
                                        "when the classes are imbalanced or easy examples "
                                        "dominate the loss"))
        if pm1:
            alternatives.append(Alternative("hinge_loss",
                                            "labels are ±1 and only the decision matters (a "
                                            "margin loss, tanh/linear output, no probabilities)"))
        metrics = ["accuracy_score", "roc_auc_score", "f1_score"]
        if ratio < IMBALANCED:
            metrics = ["balanced_accuracy_score", "roc_auc_score", "average_precision_score",
                       "f1_score"]
        return Advice(
            task="binary", family="bernoulli", output_layer="1 unit, sigmoid activation",
            loss="binary_cross_entropy", loss_options={"from_logits": True},
            metrics=tuple(metrics),
            rationale=(f"two classes ({', '.join(map(str, labels))}): the target is Bernoulli "
                       "with the probability p of the positive class; its negative "
                       "log-likelihood -[y log p + (1-y) log(1-p)] is the binary cross-entropy, "
                       "and the sigmoid maps the unit's raw output to p (compute it from the "
                       "logit, from_logits=True, for stability)"),
            warnings=tuple(findings), alternatives=tuple(alternatives), stats=stats)
    alternatives.append(Alternative("categorical_focal_loss",
                                    "when some classes are rare or easy examples dominate"))
    alternatives.append(Alternative("categorical_cross_entropy",
                                    "the same loss, when the targets are one-hot rows or soft "
                                    "labels instead of integers"))
    metrics = (["balanced_accuracy_score", "f1_score", "top_k_accuracy_score"]
               if ratio < IMBALANCED else ["accuracy_score", "f1_score",
                                           "top_k_accuracy_score"])
    return Advice(
        task="multiclass", family="categorical",
        output_layer=f"{k} units, softmax activation",
        loss="sparse_categorical_cross_entropy", loss_options={"from_logits": True},
        metrics=tuple(metrics),
        rationale=(f"{k} mutually exclusive classes: the target is Categorical with "
                   "probabilities p_1..p_K; its negative log-likelihood -log p_y is the "
                   "categorical cross-entropy, and the softmax maps the raw outputs to "
                   "probabilities summing to 1 (compute it from the logits, from_logits=True)"),
        warnings=tuple(findings), alternatives=tuple(alternatives), stats=stats)


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


def advise(y: Any, X: Any = None) -> Advice:
    r"""Advise the output layer, loss and metrics for a target, by maximum likelihood.

    Parameters
    ----------
    y : array_like, shape (n,) or (n, k)
        The target: real values, counts, proportions, class labels of any type (strings,
        booleans, ±1), or a 0/1 label matrix (multi-label).
    X : array_like of shape (n, d), optional
        The inputs. With them, the advice also tests whether the noise variance grows with the
        inputs (Breusch–Pagan), which calls for a Gaussian with learned variance.

    Returns
    -------
    Advice
        ``task``, ``family``, ``output_layer``, ``loss`` (a losskit function name, with
        ``loss_options``), ``metrics`` (``losskit.metrics`` names), ``rationale``, ``warnings``
        (with the measured numbers), ``alternatives`` and ``stats``.

    Examples
    --------
    >>> import losskit as lk
    >>> a = lk.advise(["spam", "ham", "ham", "spam"] * 30)
    >>> a.task, a.loss, a.output_layer
    ('binary', 'binary_cross_entropy', '1 unit, sigmoid activation')
    >>> lk.advise([0, 3, 1, 0, 7, 2, 0, 1, 12, 4, 0, 2, 25, 1, 3, 0, 5, 22, 1, 9, 30, 2]).loss
    'poisson_nll'
    """
    y = _as_target(y)
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
            return Advice(
                task="multilabel", family="multilabel",
                output_layer=f"{y.shape[1]} units, sigmoid activation each",
                loss="binary_cross_entropy", loss_options={"from_logits": True},
                metrics=("f1_score", "average_precision_score", "roc_auc_score"),
                rationale=("several labels can be on at once: each is an independent Bernoulli, "
                           "so the negative log-likelihood is the binary cross-entropy summed "
                           "(averaged) over the labels, with one sigmoid unit per label"),
                warnings=tuple(findings),
                alternatives=(Alternative("binary_focal_loss", "when labels are rare"),),
                stats=stats)
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
    if integral and y.min() >= 0:
        dispersion = float(y.var() / y.mean()) if y.mean() > 0 else 0.0
        stats["variance_to_mean"] = dispersion
        alternatives = [Alternative("tweedie_deviance",
                                    "many exact zeros with a continuous positive part")]
        if dispersion > 2:
            findings.append(Finding(
                "overdispersion", f"the variance is {dispersion:.1f}x the mean (Poisson "
                "assumes 1): the Poisson loss still fits the mean, but intervals from it are "
                "too narrow; a negative binomial or Tweedie model fits the spread",
                {"variance_to_mean": dispersion}))
        return Advice(
            task="count", family="poisson", output_layer="1 unit, exponential activation "
            "(the raw output is the log-rate)", loss="poisson_nll",
            loss_options={"log_input": True},
            metrics=("mean_absolute_error", "root_mean_squared_error"),
            rationale=("non-negative integer counts: the target is Poisson with rate λ; its "
                       "negative log-likelihood λ - y log λ (+ log y!) is the Poisson loss, and "
                       "exp maps the raw output (log λ) to a positive rate"),
            warnings=tuple(findings), alternatives=tuple(alternatives), stats=stats)
    if y.min() > 0 and y.max() < 1:
        return Advice(
            task="proportion", family="bernoulli", family_options={"soft": True},
            output_layer="1 unit, sigmoid activation",
            loss="binary_cross_entropy", loss_options={"from_logits": True},
            metrics=("mean_absolute_error", "root_mean_squared_error"),
            rationale=("values strictly between 0 and 1: a proportion; the binary "
                       "cross-entropy with soft targets is the Bernoulli quasi-likelihood, "
                       "whose minimiser is the mean proportion, and the sigmoid keeps "
                       "predictions inside (0, 1)"),
            warnings=tuple(findings),
            alternatives=(Alternative("mean_squared_error", "on the logit of y, if the "
                                      "proportions are not near 0 or 1"),),
            stats=stats)
    skew = _skewness(y)
    stats["skewness"] = skew
    if y.min() > 0 and skew > SKEWED:
        return Advice(
            task="positive_skewed", family="gamma", output_layer="1 unit, exponential "
            "activation (the raw output is the log-mean)", loss="gamma_nll", loss_options={},
            metrics=("mean_absolute_error", "root_mean_squared_error"),
            rationale=(f"positive values with a long right tail (skewness {skew:.2f}): a "
                       "Gamma target, whose spread grows with its mean; its negative "
                       "log-likelihood (the Gamma deviance, up to constants) is the loss, and "
                       "exp keeps the predicted mean positive"),
            warnings=tuple(findings),
            alternatives=(Alternative("mean_squared_error", "on log(y): a log-normal target "
                                      "(predict exp of the output, times exp(σ²/2) for the "
                                      "mean)"),
                          Alternative("tweedie_deviance", "with power between 1 and 2 when "
                                      "exact zeros occur")),
            stats=stats)
    alternatives = _heavy_tails(y, findings, stats)
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
    return Advice(
        task="regression", family="gaussian", output_layer="1 unit, linear (identity) "
        "activation", loss="mean_squared_error", loss_options={},
        metrics=("root_mean_squared_error", "mean_absolute_error", "r2_score"),
        rationale=("real-valued target: under Gaussian noise with fixed variance σ², the "
                   "negative log-likelihood is (y - ŷ)²/(2σ²) + const, so minimising the mean "
                   "squared error is maximum likelihood, with a linear output for the mean"),
        warnings=tuple(findings), alternatives=tuple(alternatives), stats=stats)


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
