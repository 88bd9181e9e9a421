r"""What a loss or a family is, in maximum-likelihood terms: ``losskit explain NAME``.

:func:`explain` returns, for every loss of :mod:`losskit.losses` and every family of
:mod:`losskit.families`, the formula, the distribution whose negative log-likelihood it is, the
output activation, the gradient with respect to the network's raw output, when to use it, its
pitfalls and the related losses and families. The text is a hand-written catalogue; everything
numeric is computed when you ask: the worked example calls the losskit function (and its
analytic gradient), and evaluates the gradient line of the catalogue with NumPy beside it, so
a reader (and the tests) can see that the text and the code agree. :func:`plot` draws the loss
and its gradient on a grid, computed with :func:`losskit.value_and_gradient`, and for the
classification losses the saturation picture: through a sigmoid, the squared error's gradient
vanishes for a confidently wrong logit while the cross-entropy's does not.

>>> import losskit as lk
>>> e = lk.explain("BCE")
>>> e.name, e.output_activation.split()[0]
('binary_cross_entropy', 'sigmoid')
>>> e.gradient.split("  ")[0]
'∂l/∂z = σ(z) − y'
>>> e.example.loss == float(lk.binary_cross_entropy([1.0], [0.9]))
True
>>> lk.explain("cross-entropy").name
'categorical_cross_entropy'
>>> lk.explain("bernouli")
Traceback (most recent call last):
...
ValueError: explain: name is 'bernouli', which is not a known loss or family (did you mean ...
"""

from __future__ import annotations

import argparse
import difflib
import functools
import inspect
import json
import math
import os
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import losskit.losses as _losses
from losskit._commands import command
from losskit._io import atomic_write
from losskit._validation import fail
from losskit.families import Family, family, registered_families

__all__ = ["Example", "Explanation", "explain", "explained_names", "plot",
           "saturation_gradients"]



class _Scipy:
    """``scipy.special``, imported on first use (it would double ``import losskit``'s time)."""

    def __getattr__(self, name: str) -> Any:
        import scipy.special

        return getattr(scipy.special, name)


special = _Scipy()

#: public names of :mod:`losskit.losses` that are tools, not losses
_NOT_LOSSES = frozenset({"gradient", "value_and_gradient"})

# ------------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Example:
    """A worked example, computed when the explanation is made (never written by hand)."""

    #: the inputs, in words (``y = 1, p = 0.9``)
    inputs: str
    #: the call that computed ``loss`` (numbers rounded for display)
    call: str
    #: the loss of the one sample, from the losskit function
    loss: float
    #: its gradient with respect to the raw output(s), from losskit
    gradient: tuple[float, ...]
    #: where ``gradient`` comes from (the analytic gradient, or a finite difference)
    gradient_source: str
    #: the catalogue's gradient line evaluated with NumPy at the same inputs
    formula_gradient: tuple[float, ...]
    #: the catalogue's formula line evaluated with NumPy at the same inputs
    formula_loss: float


@dataclass(frozen=True)
class Explanation:
    """Formula, distribution, activation, gradient, use and pitfalls of one loss or family."""

    name: str
    #: ``"loss"`` or ``"family"``
    kind: str
    #: the first line of the function's or family's docstring
    summary: str
    aliases: tuple[str, ...]
    formula: str
    #: the distribution the loss is the negative log-likelihood of (or why it is none)
    distribution: str
    output_activation: str
    #: what the network's last layer outputs (the variable of ``gradient``)
    raw_output: str
    #: the gradient with respect to the raw output
    gradient: str
    example: Example
    when_to_use: str
    pitfalls: tuple[str, ...]
    #: related losses and families (each one a name :func:`explain` knows)
    related: tuple[str, ...]
    #: facts read from the code (options, target domain, link, equivalent loss, metrics)
    facts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return json.loads(json.dumps(asdict(self)))

    def __str__(self) -> str:
        width = 92
        title = f"{self.name} ({self.kind})"
        lines = [title, "=" * len(title), _wrap(self.summary, width, "")]
        if self.aliases:
            lines.append(_wrap("also: " + ", ".join(self.aliases), width, ""))

        def section(heading: str, body: str, *, keep_lines: bool = False) -> None:
            lines.extend(["", heading])
            if keep_lines:
                lines.extend("  " + line for line in body.splitlines())
            else:
                lines.extend(_wrap(part, width, "  ") for part in body.split("\n"))

        section("formula", self.formula, keep_lines=True)
        section("distribution (the loss is its negative log-likelihood)", self.distribution)
        section("output activation", self.output_activation)
        section("raw output", self.raw_output)
        section("gradient w.r.t. the raw output", self.gradient)
        ex = self.example
        section("example (computed now)", "\n".join([
            f"{ex.inputs}:",
            f"loss {_fmt(ex.loss)} by {ex.call}; the formula above gives {_fmt(ex.formula_loss)}",
            f"gradient {_fmt_vector(ex.gradient)} by {ex.gradient_source}; the gradient line "
            f"above gives {_fmt_vector(ex.formula_gradient)}",
        ]))
        section("when to use it", self.when_to_use)
        lines.extend(["", "pitfalls"])
        lines.extend(textwrap.fill(p, width, initial_indent="  - ", subsequent_indent="    ")
                     for p in self.pitfalls)
        if self.facts:
            lines.extend(["", "from the code"])
            key_width = max(len(k) for k in self.facts)
            lines.extend(textwrap.fill(v, width, initial_indent=f"  {k:<{key_width}}  ",
                                       subsequent_indent=" " * (key_width + 4))
                         for k, v in self.facts.items())
        section("related", ", ".join(self.related))
        return "\n".join(lines)


def _wrap(text: str, width: int, indent: str) -> str:
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _fmt_vector(values: tuple[float, ...]) -> str:
    inner = ", ".join(_fmt(v) for v in values)
    return inner if len(values) == 1 else f"({inner})"


# --------------------------------------------------------------------- the hand-written catalogue

_Formula = Callable[[np.ndarray, np.ndarray, dict[str, Any]], np.ndarray]


@dataclass(frozen=True)
class _Case:
    """One sample to compute the example at, and how to plot around it."""

    inputs: str
    y_true: Any
    y_pred: Any
    options: dict[str, Any] = field(default_factory=dict)
    #: index of the raw output the plot varies (``None``: a single raw output)
    vary: int | None = None
    grid: tuple[float, float] = (-4.0, 4.0)
    #: more targets for the plot (the example's target comes first)
    more_targets: tuple[Any, ...] = ()
    x_label: str = "prediction ŷ"


@dataclass(frozen=True)
class _Entry:
    name: str
    kind: str
    formula: str
    distribution: str
    raw_output: str
    gradient: str
    when: str
    pitfalls: tuple[str, ...]
    related: tuple[str, ...]
    case: _Case
    #: the formula line and the gradient line in NumPy: (y, raw, options) -> per sample / raw
    value_formula: _Formula
    gradient_formula: _Formula
    aliases: tuple[str, ...] = ()
    #: the family whose output activation the loss goes with (its ``activation_name``)
    activation_from: str | None = None
    #: the activation, in words (after the family's activation name when there is one)
    activation: str = ""
    #: family constructor parameters for the example
    params: dict[str, Any] = field(default_factory=dict)
    #: whether the plot adds the saturation picture (classification)
    classification: bool = False


_LOG_2PI = math.log(2.0 * math.pi)


def _onehot(labels: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n)[np.asarray(labels, dtype=np.int64)]


def _focal_binary(y: np.ndarray, z: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """The binary focal loss and its gradient w.r.t. the logit, for 0/1 labels."""
    pt = np.where(y == 1, special.expit(z), special.expit(-z))
    log_pt = np.where(y == 1, special.log_expit(z), special.log_expit(-z))
    t = 2.0 * y - 1.0
    return -(1 - pt) ** gamma * log_pt, t * (1 - pt) ** gamma * (gamma * pt * log_pt + pt - 1)


def _focal_categorical(y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    log_p = special.log_softmax(z, axis=-1)
    return np.exp(log_p), np.sum(y * log_p, axis=-1)


def _focal_categorical_value(y: np.ndarray, z: np.ndarray, gamma: float) -> np.ndarray:
    log_py = _focal_categorical(y, z)[1]
    return -(1 - np.exp(log_py)) ** gamma * log_py


def _focal_categorical_gradient(y: np.ndarray, z: np.ndarray, gamma: float) -> np.ndarray:
    p, log_py = _focal_categorical(y, z)
    py = np.exp(log_py)
    factor = (1 - py) ** (gamma - 1) * (1 - py - gamma * py * log_py)
    return (p - y) * factor[..., None]


def _categorical_hinge(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wrong = np.where(y == 1, -np.inf, s)
    loss = np.maximum(0.0, 1.0 - np.sum(y * s, axis=-1) + np.max(wrong, axis=-1))
    grad = np.where((loss > 0)[..., None], _onehot(np.argmax(wrong, axis=-1), s.shape[-1]) - y,
                    0.0)
    return loss, grad


def _sign_label(y: np.ndarray) -> np.ndarray:
    return np.where(y > 0, 1.0, -1.0)  # 0/1 labels -> -1/+1, -1/+1 kept


def _entropy(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    log_p = special.log_softmax(z, axis=-1)
    p = np.exp(log_p)
    h = -np.sum(p * log_p, axis=-1)
    return h, -p * (log_p + h[..., None])


def _mixture(y: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = raw.shape[-1] // 3
    a, mu, s = raw[..., :k], raw[..., k:2 * k], raw[..., 2 * k:]
    z = (y[..., None] - mu) * np.exp(-s)
    log_weighted = special.log_softmax(a, axis=-1) - s - 0.5 * _LOG_2PI - 0.5 * z**2
    r = special.softmax(log_weighted, axis=-1)  # responsibilities
    grad = np.concatenate([special.softmax(a, axis=-1) - r, -r * z * np.exp(-s),
                           r * (1.0 - z**2)], axis=-1)
    return -special.logsumexp(log_weighted, axis=-1), grad


def _student_t(y: np.ndarray, m: np.ndarray, nu: float, s: float) -> tuple[np.ndarray, ...]:
    r = m - y
    value = (special.gammaln(nu / 2) + 0.5 * math.log(nu * math.pi) + math.log(s)
             - special.gammaln((nu + 1) / 2) + (nu + 1) / 2 * np.log1p(r**2 / (nu * s**2)))
    return value, (nu + 1) * r / (nu * s**2 + r**2)


def _tweedie(y: np.ndarray, eta: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    mu = np.exp(eta)
    value = 2 * (np.maximum(y, 0) ** (2 - p) / ((1 - p) * (2 - p)) - y * mu ** (1 - p) / (1 - p)
                 + mu ** (2 - p) / (2 - p))
    return value, 2 * mu ** (1 - p) * (mu - y)


def _negative_binomial(y: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NB2 NLL (without log y!) and its gradient in (η, s = log α), with scipy's special
    functions: r = e^(−s), μ = e^η."""
    eta, s = raw[..., 0], raw[..., 1]
    r, mu = np.exp(-s), np.exp(eta)
    value = (r * np.log1p(mu / r) + y * np.log1p(r / mu) + special.gammaln(r)
             - special.gammaln(y + r))
    g_eta = (mu - y) / (1 + mu / r)
    g_s = r * (special.digamma(y + r) - special.digamma(r) - np.log1p(mu / r)) + g_eta
    return value, np.stack([g_eta, g_s], axis=-1)


_P9 = math.log(0.9 / 0.1)  # the logit of p = 0.9
_P3 = tuple(math.log(p) for p in (0.7, 0.2, 0.1))  # logits of the probabilities (0.7, 0.2, 0.1)
_Q3 = tuple(math.log(p) for p in (0.5, 0.3, 0.2))

_BINARY_CASE = _Case("y = 1, p = 0.9 (logit z = log(0.9/0.1))", 1.0, _P9,
                     {"from_logits": True}, grid=(-8.0, 8.0), more_targets=(0.0,),
                     x_label="logit z")
_CATEGORICAL_CASE = _Case("y = (1, 0, 0), p = (0.7, 0.2, 0.1) (logits z = log p)",
                          (1.0, 0.0, 0.0), _P3, {"from_logits": True}, vary=0, grid=(-8.0, 8.0),
                          more_targets=((0.0, 1.0, 0.0),),
                          x_label="logit z₀ of class 0 (other logits fixed)")
_LABEL_CASE = _Case("y = 0 (class 0 of 3), p = (0.7, 0.2, 0.1) (logits z = log p)", 0, _P3,
                    {"from_logits": True}, vary=0, grid=(-8.0, 8.0), more_targets=(1,),
                    x_label="logit z₀ of class 0 (other logits fixed)")

_SOFTMAX_TWICE = (
    "Softmax before a logits loss: applying softmax yourself and also passing from_logits=True "
    "applies it twice, squashing every prediction towards uniform (tiny gradients, a loss that "
    "will not fall); passing logits without from_logits=True is rejected, since the rows are "
    "not probabilities. Keep the last layer linear and pass from_logits=True.")
_LOG_ZERO_P = (
    "log(0): a probability of exactly 0 on the true class gives an infinite loss; "
    "probabilities are clipped to [ε, 1 − ε] (ε the machine epsilon of the dtype, eps= to "
    "change it), whereas logits are finite for every finite logit and need no clipping.")
_NOT_CALIBRATED = (
    "Not a likelihood any more: its minimiser is not the true probability, so do not read the "
    "predictions as calibrated probabilities (recalibrate on held-out data if you need them).")

_CATALOGUE: tuple[_Entry, ...] = (
    # ---------------------------------------------------------------- binary classification
    _Entry(
        name="binary_cross_entropy", kind="loss",
        aliases=("bce", "log loss", "logistic loss", "bce with logits", "BCEWithLogitsLoss",
                 "BCELoss", "sigmoid cross-entropy"),
        formula="l = −[y·log p + (1 − y)·log(1 − p)],   p = σ(z) = 1 / (1 + e^(−z))\n"
                "(averaged over the k labels of a sample for multi-label targets)",
        distribution="Bernoulli: y ∈ {0, 1} with P(y = 1) = p. −log P(y | p) is exactly l, so "
                     "minimising the binary cross-entropy is maximum likelihood for a binary "
                     "target, and the fitted p estimates P(y = 1 | x).",
        activation_from="bernoulli",
        activation="one sigmoid unit per label; better, a linear last layer with "
                   "from_logits=True, so the loss applies the sigmoid stably",
        raw_output="the logit z (pass from_logits=True), or the probability p = σ(z)",
        gradient="∂l/∂z = σ(z) − y  (prediction minus target: the logit is the canonical link; "
                 "divided by k for k labels per sample). W.r.t. the probability instead: "
                 "∂l/∂p = (p − y) / (p·(1 − p)).",
        value_formula=lambda y, z, o: -(y * special.log_expit(z)
                                        + (1 - y) * special.log_expit(-z)),
        gradient_formula=lambda y, z, o: special.expit(z) - y,
        case=_BINARY_CASE, classification=True,
        when="Binary targets (yes/no, click/no click, churn) and multi-label targets (one "
             "sigmoid per label, labels independent). The fitted p is a probability, so use it "
             "whenever decisions depend on how likely the positive class is.",
        pitfalls=(
            "Keep both terms: dropping (1 − y)·log(1 − p) ignores every negative sample, and "
            "the model learns to predict 1 everywhere.",
            _LOG_ZERO_P,
            "from_logits mismatch: logits without from_logits=True are rejected as soon as one "
            "falls outside [0, 1], but sigmoid outputs with from_logits=True pass silently through "
            "a second sigmoid, which squeezes every prediction into [σ(0), σ(1)] = "
            "[{sigmoid_0:.3g}, {sigmoid_1:.3g}]. Match the flag to the last layer.",
            "Targets must be 0/1 (or probabilities): map −1/+1 labels with (y + 1) / 2.",
            "Do not train a sigmoid output with the squared error instead: for a confidently "
            "wrong logit (z = −10, y = 1) the squared error's gradient w.r.t. z is "
            "{sat_mse:.2g} where the cross-entropy's is {sat_bce:.5g} (see plot).",
            "Class imbalance: a rare positive class is learned slowly; use pos_weight (> 1), "
            "sample weights, or binary_focal_loss.",
            "Fused framework forms lose confident predictions: PyTorch's "
            "binary_cross_entropy_with_logits computes (1 − y)·z + log(1 + e^(−z)), which "
            "cancels for a confident, correct negative: at z = {fused_z}, y = 0 it gives "
            "{fused_bce:.6g} in float32 where the loss is {exact_bce:.6g}, and 0 from about "
            "z = −15. losskit's value and gradient stay exact (also on torch tensors).",
        ),
        related=("binary_focal_loss", "hinge_loss", "squared_hinge_loss",
                 "categorical_cross_entropy", "mean_squared_error"),
    ),
    _Entry(
        name="binary_focal_loss", kind="loss", aliases=("focal", "focal loss", "sigmoid focal"),
        formula="l = −α_t·(1 − p_t)^γ·log p_t,   p_t = p if y = 1 else 1 − p,   p = σ(z)\n"
                "α_t = α if y = 1 else 1 − α (α = None: 1);   γ = gamma ≥ 0",
        distribution="Bernoulli, reweighted: −log p_t is the Bernoulli negative log-likelihood, "
                     "and (1 − p_t)^γ shrinks the samples already predicted well. With γ = 0 "
                     "(and α = None) it is binary_cross_entropy.",
        activation_from="bernoulli",
        activation="one sigmoid unit per label (from_logits=True for stability)",
        raw_output="the logit z (from_logits=True), or the probability p",
        gradient="∂l/∂z = t·(1 − p_t)^γ·(γ·p_t·log p_t + p_t − 1),   t = 2y − 1  (0/1 labels, "
                 "α = None; with γ = 0 it is σ(z) − y). Easy samples (p_t → 1) get almost no "
                 "gradient.",
        value_formula=lambda y, z, o: _focal_binary(y, z, o["gamma"])[0],
        gradient_formula=lambda y, z, o: _focal_binary(y, z, o["gamma"])[1],
        case=_Case(_BINARY_CASE.inputs + ", γ = 2", 1.0, _P9,
                   {"from_logits": True, "gamma": 2.0}, grid=(-8.0, 8.0), more_targets=(0.0,),
                   x_label="logit z"),
        classification=True,
        when="Extreme class imbalance with many easy negatives (dense object detection, "
             "segmentation of small structures), where the cross-entropy is dominated by "
             "samples the model already gets right.",
        pitfalls=(
            _NOT_CALIBRATED,
            "alpha differs between libraries: None here means no class balancing (Keras' "
            "apply_class_balancing=False, torchvision's alpha=-1); with balancing both "
            "libraries default to alpha = 0.25, the weight of the positive class.",
            "Combining alpha with class weights or pos_weight counts the imbalance twice.",
            "A large γ makes the gradient of every moderately well-classified sample tiny, "
            "which can slow training; γ = 2 (the paper's choice) is the usual default.",
        ),
        related=("binary_cross_entropy", "categorical_focal_loss", "bernoulli"),
    ),
    _Entry(
        name="hinge_loss", kind="loss", aliases=("hinge", "svm", "svm loss"),
        formula="l = max(0, 1 − t·s),   t ∈ {−1, +1} (0/1 labels are mapped to −1/+1),   "
                "s the raw score",
        distribution="None: it is the margin loss of the support-vector machine, the tightest "
                     "convex upper bound of the 0-1 loss, not the negative log-likelihood of a "
                     "distribution. It gives a decision sign(s), not a probability.",
        activation="none (a linear score) or tanh (scores in [−1, 1], as in the classic "
                   "study); never a sigmoid",
        raw_output="the score s (decision: sign(s))",
        gradient="∂l/∂s = −t where t·s < 1 (inside the margin or wrong), 0 beyond the margin.",
        value_formula=lambda y, s, o: np.maximum(0.0, 1.0 - _sign_label(y) * s),
        gradient_formula=lambda y, s, o: np.where(_sign_label(y) * s < 1, -_sign_label(y), 0.0),
        case=_Case("y = +1, s = 0.3", 1.0, 0.3, grid=(-3.0, 3.0), more_targets=(-1.0,),
                   x_label="score s"),
        classification=True,
        when="Binary classification judged on accuracy alone, when no probabilities are "
             "needed; the labels ±1 are natural (the study's hinge run uses a tanh output).",
        pitfalls=(
            "Not a probability: do not threshold s at 0.5 or read it as P(y = 1); the decision "
            "is sign(s).",
            "A sigmoid output (s ∈ [0, 1]) can never reach the margin for t = −1: every "
            "negative sample costs at least 1. Use a linear or tanh output.",
            "Through a tanh output the hinge saturates like the squared error through a "
            "sigmoid: for a confidently wrong logit tanh′ vanishes, and so does the gradient "
            "w.r.t. the logit; and the margin t·s = 1 is reached only as the logit → ∞.",
            "Samples beyond the margin contribute nothing: the loss stops learning from them, "
            "which makes it robust but ignores how confident the model is.",
        ),
        related=("squared_hinge_loss", "categorical_hinge_loss", "binary_cross_entropy"),
    ),
    _Entry(
        name="squared_hinge_loss", kind="loss", aliases=("squared hinge", "l2 svm"),
        formula="l = max(0, 1 − t·s)²,   t ∈ {−1, +1} (0/1 labels mapped),   s the raw score",
        distribution="None: the L2-SVM loss (scikit-learn's LinearSVC default), a margin loss "
                     "without a likelihood; it gives a decision sign(s), not a probability.",
        activation="none (a linear score) or tanh; never a sigmoid",
        raw_output="the score s",
        gradient="∂l/∂s = −2t·max(0, 1 − t·s)  (continuous: 0 at the margin).",
        value_formula=lambda y, s, o: np.maximum(0.0, 1.0 - _sign_label(y) * s) ** 2,
        gradient_formula=lambda y, s, o: -2 * _sign_label(y) * np.maximum(
            0.0, 1.0 - _sign_label(y) * s),
        case=_Case("y = +1, s = 0.3", 1.0, 0.3, grid=(-3.0, 3.0), more_targets=(-1.0,),
                   x_label="score s"),
        classification=True,
        when="As hinge_loss, when a loss differentiable at the margin is wanted (second-order "
             "or smooth optimisers).",
        pitfalls=(
            "Large margin violations cost quadratically, so mislabelled points pull much harder "
            "than under the hinge.",
            "Not a probability; the decision is sign(s).",
            "With a tanh output the gradient through tanh vanishes for confidently wrong "
            "logits (like the squared error through a sigmoid).",
        ),
        related=("hinge_loss", "categorical_hinge_loss", "binary_cross_entropy"),
    ),
    # ------------------------------------------------------------ multi-class classification
    _Entry(
        name="categorical_cross_entropy", kind="loss",
        aliases=("cross-entropy", "ce", "cce", "softmax cross-entropy", "multinomial log loss"),
        formula="l = −Σ_c y_c·log p_c,   p = softmax(z),   p_c = e^(z_c) / Σ_j e^(z_j)",
        distribution="Categorical: one of C classes with P(class c) = p_c. For a one-hot y, "
                     "l = −log p_y, the negative log-likelihood of the observed class; for soft "
                     "targets it is the cross-entropy H(y, p) = H(y) + KL(y ‖ p).",
        activation_from="categorical",
        activation="C units with softmax; better, a linear last layer with from_logits=True",
        raw_output="the C logits z (from_logits=True), or the probabilities p",
        gradient="∂l/∂z_c = p_c − y_c  (softmax(z) − y, for targets summing to 1, without class "
                 "weights or label smoothing). W.r.t. the probabilities: ∂l/∂p_c = −y_c / p_c.",
        value_formula=lambda y, z, o: -np.sum(y * special.log_softmax(z, axis=-1), axis=-1),
        gradient_formula=lambda y, z, o: special.softmax(z, axis=-1) - y,
        case=_CATEGORICAL_CASE, classification=True,
        when="Exactly one of C mutually exclusive classes per sample, given as one-hot rows "
             "(or soft targets such as smoothed labels).",
        pitfalls=(
            _SOFTMAX_TWICE,
            _LOG_ZERO_P,
            "Integer labels: use sparse_categorical_cross_entropy (the same number without "
            "building a one-hot matrix).",
            "Not for multi-label targets (several 1s per row): softmax makes the classes "
            "compete; use binary_cross_entropy with one sigmoid per label.",
            "Frameworks differ in details (Keras clips probabilities and renormalises rows, "
            "PyTorch divides by the summed class weights); convention= reproduces them.",
        ),
        related=("sparse_categorical_cross_entropy", "kl_divergence", "categorical_focal_loss",
                 "entropy", "perplexity", "binary_cross_entropy"),
    ),
    _Entry(
        name="sparse_categorical_cross_entropy", kind="loss",
        aliases=("sparse ce", "scce", "sparse cross-entropy", "CrossEntropyLoss"),
        formula="l = −log p_y = logsumexp(z) − z_y,   p = softmax(z),   y an integer label",
        distribution="Categorical: P(class c) = p_c; l = −log P(y | p) is the negative "
                     "log-likelihood of the observed class y.",
        activation_from="categorical",
        activation="C units with softmax; better, a linear last layer with from_logits=True",
        raw_output="the C logits z (from_logits=True), or the probabilities p",
        gradient="∂l/∂z_c = p_c − [c = y]  (softmax(z) minus the one-hot label).",
        value_formula=lambda y, z, o: special.logsumexp(z, axis=-1) - np.take_along_axis(
            z, np.asarray(y, dtype=np.int64)[..., None], axis=-1)[..., 0],
        gradient_formula=lambda y, z, o: special.softmax(z, axis=-1) - _onehot(y, z.shape[-1]),
        case=_LABEL_CASE, classification=True,
        when="One of C classes per sample, with the labels as integers 0..C−1 (language-model "
             "tokens, image classes).",
        pitfalls=(
            _SOFTMAX_TWICE,
            "Labels must be 0..C−1: map other labels with numpy.unique(y, return_inverse=True); "
            "a label ≥ C is rejected.",
            "ignore_index and class weights change the mean's denominator (it divides by the "
            "weights of the counted samples, as PyTorch does).",
            _LOG_ZERO_P,
        ),
        related=("categorical_cross_entropy", "perplexity", "categorical_focal_loss"),
    ),
    _Entry(
        name="categorical_focal_loss", kind="loss",
        aliases=("categorical focal", "softmax focal"),
        formula="l = −α·Σ_c y_c·(1 − p_c)^γ·log p_c,   p = softmax(z)   (α = None: 1)",
        distribution="Categorical, reweighted: for a one-hot y it is −(1 − p_y)^γ·log p_y, the "
                     "categorical negative log-likelihood shrunk where the model is already "
                     "right; γ = 0 gives categorical_cross_entropy.",
        activation_from="categorical",
        activation="C units with softmax (from_logits=True for stability)",
        raw_output="the C logits z (from_logits=True), or the probabilities p",
        gradient="∂l/∂z_c = (p_c − [c = y])·(1 − p_y)^(γ−1)·(1 − p_y − γ·p_y·log p_y)  (one-hot "
                 "y, α = None; γ = 0 gives p_c − [c = y]).",
        value_formula=lambda y, z, o: _focal_categorical_value(y, z, o["gamma"]),
        gradient_formula=lambda y, z, o: _focal_categorical_gradient(y, z, o["gamma"]),
        case=_Case(_CATEGORICAL_CASE.inputs + ", γ = 2", (1.0, 0.0, 0.0), _P3,
                   {"from_logits": True, "gamma": 2.0}, vary=0, grid=(-8.0, 8.0),
                   more_targets=((0.0, 1.0, 0.0),),
                   x_label="logit z₀ of class 0 (other logits fixed)"),
        classification=True,
        when="Many classes with a few rare or hard ones (long-tailed recognition, dense "
             "prediction), where easy samples dominate the cross-entropy.",
        pitfalls=(
            _NOT_CALIBRATED,
            "Keras always multiplies by alpha (default 0.25) and renormalises rows; here "
            "alpha=None means 1 and rows must sum to 1.",
            _SOFTMAX_TWICE,
        ),
        related=("categorical_cross_entropy", "binary_focal_loss",
                 "sparse_categorical_cross_entropy"),
    ),
    _Entry(
        name="categorical_hinge_loss", kind="loss",
        aliases=("categorical hinge", "multiclass hinge", "multi-class hinge", "crammer singer"),
        formula="l = max(0, 1 − s_y + max_{c≠y} s_c)   (s the raw class scores, y the class of "
                "the one-hot row)",
        distribution="None: the Crammer–Singer multi-class SVM loss, a margin loss without a "
                     "likelihood; it gives a decision argmax(s), not probabilities.",
        activation="none (linear scores); not softmax, since the margin 1 is in score units",
        raw_output="the C class scores s",
        gradient="∂l/∂s_y = −1 and ∂l/∂s_m = +1 for the best wrong class m = argmax_{c≠y} s_c "
                 "while the margin is violated (l > 0); 0 otherwise.",
        value_formula=lambda y, s, o: _categorical_hinge(y, s)[0],
        gradient_formula=lambda y, s, o: _categorical_hinge(y, s)[1],
        case=_Case("y = (1, 0, 0), s = (0.5, 0.8, −1)", (1.0, 0.0, 0.0), (0.5, 0.8, -1.0),
                   vary=0, grid=(-3.0, 3.0), more_targets=((0.0, 1.0, 0.0),),
                   x_label="score s₀ of class 0 (other scores fixed)"),
        classification=True,
        when="Multi-class classification judged on accuracy alone, when no probabilities are "
             "needed.",
        pitfalls=(
            "Only the best wrong class gets a gradient, and nothing once the margin holds: "
            "learning stops early and says nothing about confidence.",
            "Keras' CategoricalHinge counts the true class as a score of 0 among the wrong "
            "ones, so it differs when every wrong score is negative.",
            "Not probabilities: use categorical_cross_entropy when they matter.",
        ),
        related=("hinge_loss", "categorical_cross_entropy", "squared_hinge_loss"),
    ),
    _Entry(
        name="kl_divergence", kind="loss",
        aliases=("kl", "kld", "kl div", "kullback-leibler", "relative entropy"),
        formula="l = Σ_c y_c·log(y_c / q_c),   q = softmax(z)   (0·log 0 = 0; y the target "
                "distribution P, q the prediction Q)",
        distribution="Categorical: KL(P ‖ Q) = H(P, Q) − H(P) is the cross-entropy minus the "
                     "target's entropy (free of the model), so it has the categorical negative "
                     "log-likelihood's gradient and minimiser, and reads 0 at a perfect "
                     "prediction.",
        activation_from="categorical",
        activation="C units with softmax (from_logits=True for stability)",
        raw_output="the C logits z (from_logits=True), or the probabilities q",
        gradient="∂l/∂z_c = q_c − y_c  (target rows summing to 1): the cross-entropy's gradient.",
        value_formula=lambda y, z, o: np.sum(special.xlogy(y, y) - y * special.log_softmax(
            z, axis=-1), axis=-1),
        gradient_formula=lambda y, z, o: special.softmax(z, axis=-1) - y,
        case=_Case("y = P = (0.7, 0.2, 0.1), q = Q = (0.5, 0.3, 0.2) (logits z = log q)",
                   (0.7, 0.2, 0.1), _Q3, {"from_logits": True}, vary=0, grid=(-8.0, 8.0),
                   x_label="logit z₀ of class 0 (other logits fixed)"),
        classification=True,
        when="Soft targets (distillation from a teacher, label distributions, variational "
             "objectives) when the value itself should read as 0 = perfect.",
        pitfalls=(
            "Argument order: PyTorch's kl_div takes (input = log q, target = p), the reverse "
            "of this function's (y_true = p, y_pred = q).",
            "PyTorch's reduction='mean' divides by n·C (1/C of the divergence); "
            "reduction='batchmean' is the per-sample mean computed here.",
            "It is KL(target ‖ prediction): q = 0 where the target is positive is infinite "
            "(probabilities are clipped; logits are safe).",
            "With one-hot targets it equals the cross-entropy (the target's entropy is 0).",
        ),
        related=("categorical_cross_entropy", "entropy"),
    ),
    _Entry(
        name="entropy", kind="loss", aliases=("shannon entropy",),
        formula="H(p) = −Σ_c p_c·log p_c   (0·log 0 = 0; p = softmax(z) with from_logits=True)",
        distribution="Categorical: the expected negative log-likelihood of a sample of p under "
                     "p itself, the floor of the cross-entropy H(P, Q) = H(P) + KL(P ‖ Q).",
        activation_from="categorical",
        activation="softmax rows (from_logits=True takes the logits)",
        raw_output="the C logits z (from_logits=True), or probability rows p",
        gradient="∂H/∂z_c = −p_c·(log p_c + H)  (from logits).",
        value_formula=lambda y, z, o: _entropy(z)[0],
        gradient_formula=lambda y, z, o: _entropy(z)[1],
        case=_Case("p = (0.7, 0.2, 0.1) (logits z = log p)", None, _P3, {"from_logits": True},
                   vary=0, grid=(-8.0, 8.0), x_label="logit z₀ (other logits fixed)"),
        when="Reading a cross-entropy against soft targets (how far above its floor it is), or "
             "as a regulariser on predicted distributions (confidence penalty, exploration "
             "bonus).",
        pitfalls=(
            "Not a training loss on its own: minimising it drives predictions to one-hot "
            "certainty regardless of the data; regularisers add −β·H (maximise it).",
            "Rows must sum to 1 (scipy.stats.entropy renormalises; this does not).",
            "No analytic gradient is registered (the example's gradient is a finite "
            "difference).",
        ),
        related=("kl_divergence", "categorical_cross_entropy", "perplexity"),
    ),
    _Entry(
        name="perplexity", kind="loss", aliases=("ppl",),
        formula="PPL = exp(−(1/n)·Σ_i log p_{i,y_i}) = exp(mean sparse categorical "
                "cross-entropy)",
        distribution="Categorical: the exponentiated negative mean log-likelihood of the "
                     "observed classes (tokens); a uniform guess among k classes has "
                     "perplexity k.",
        activation_from="categorical",
        activation="softmax over the vocabulary (from_logits=True takes the logits)",
        raw_output="the C logits z (from_logits=True), or the probabilities p",
        gradient="∂PPL/∂z_c = PPL·(p_c − [c = y])  (one sample: PPL times the cross-entropy's "
                 "gradient).",
        value_formula=lambda y, z, o: np.exp(special.logsumexp(z, axis=-1) - np.take_along_axis(
            z, np.asarray(y, dtype=np.int64)[..., None], axis=-1)[..., 0]),
        gradient_formula=lambda y, z, o: np.exp(
            special.logsumexp(z, axis=-1) - np.take_along_axis(
                z, np.asarray(y, dtype=np.int64)[..., None], axis=-1)[..., 0])[..., None] * (
            special.softmax(z, axis=-1) - _onehot(y, z.shape[-1])),
        case=_Case(_LABEL_CASE.inputs, 0, _P3, {"from_logits": True}, vary=0,
                   grid=(-4.0, 4.0), more_targets=(1,),
                   x_label="logit z₀ of class 0 (other logits fixed)"),
        when="Reporting a language model (or any categorical model): a metric on the scale of "
             "'choosing among k equally likely options'.",
        pitfalls=(
            "A metric, not a training loss: train on sparse_categorical_cross_entropy, its "
            "logarithm (no analytic gradient is registered here; the example uses a finite "
            "difference).",
            "It is the mean over all tokens of the batch, not the mean of per-sequence "
            "perplexities (a larger number).",
        ),
        related=("sparse_categorical_cross_entropy", "entropy"),
    ),
    # -------------------------------------------------------------------------- regression
    _Entry(
        name="mean_squared_error", kind="loss",
        aliases=("mse", "l2", "squared error", "MSELoss", "quadratic loss"),
        formula="l = (1/k)·Σ_j (ŷ_j − y_j)²   (k outputs per sample)",
        distribution="Gaussian with a fixed variance: −log N(y | ŷ, σ²) = (y − ŷ)²/(2σ²) + "
                     "log σ + ½·log 2π, so the squared error is that negative log-likelihood "
                     "up to scale and a constant, and the model learns the conditional mean.",
        activation_from="gaussian", activation="a linear output",
        raw_output="the prediction ŷ itself",
        gradient="∂l/∂ŷ_j = 2(ŷ_j − y_j)/k  (shrinks as the prediction approaches the target).",
        value_formula=lambda y, m, o: (m - y) ** 2,
        gradient_formula=lambda y, m, o: 2 * (m - y),
        case=_Case("y = 1, ŷ = 1.5", 1.0, 1.5, grid=(-2.0, 4.0)), classification=True,
        when="Real-valued targets with roughly symmetric, light-tailed noise of constant size; "
             "the conditional mean is what you want to predict.",
        pitfalls=(
            "With a sigmoid (or softmax) output it saturates: the gradient w.r.t. the logit is "
            "2(p − y)·p·(1 − p), which vanishes when the unit is confidently wrong (at z = −10 "
            "for y = 1 it is {sat_mse:.2g}, against {sat_bce:.5g} for binary_cross_entropy). "
            "Use cross-entropy for classes.",
            "Outliers dominate: the loss grows with the squared error, so a few gross errors "
            "pull the fit (huber_loss, mean_absolute_error or student_t_nll resist them).",
            "Scale-dependent: standardise the target so the learning rate and the loss have "
            "a sensible scale (and report the metric on the original scale).",
            "Shapes must match: (n, 1) against (n,) is rejected rather than broadcast to "
            "(n, n).",
        ),
        related=("mean_absolute_error", "huber_loss", "gaussian_nll", "log_cosh_loss",
                 "mean_squared_log_error", "binary_cross_entropy"),
    ),
    _Entry(
        name="mean_absolute_error", kind="loss",
        aliases=("mae", "l1", "absolute error", "L1Loss"),
        formula="l = (1/k)·Σ_j |ŷ_j − y_j|",
        distribution="Laplace with a fixed scale b: −log Laplace(y | ŷ, b) = |y − ŷ|/b + "
                     "log 2b, so minimising the absolute error is maximum likelihood and the "
                     "model learns the conditional median.",
        activation_from="laplace", activation="a linear output",
        raw_output="the prediction ŷ itself",
        gradient="∂l/∂ŷ_j = sign(ŷ_j − y_j)/k  (constant size; 0 at a tie).",
        value_formula=lambda y, m, o: np.abs(m - y),
        gradient_formula=lambda y, m, o: np.sign(m - y),
        case=_Case("y = 1, ŷ = 1.5", 1.0, 1.5, grid=(-2.0, 4.0)),
        when="Targets with heavy tails or outliers that should not dominate the fit, or when "
             "the median is the number you will report.",
        pitfalls=(
            "Its gradient is constant in size: it does not shrink near the optimum, so SGD with "
            "a fixed learning rate keeps jumping around it; decay the learning rate or use "
            "huber_loss.",
            "It learns the median, not the mean: for skewed noise the predictions are biased "
            "as estimates of the mean.",
            "Its second derivative is 0: Newton methods and gradient boosting need a constant "
            "hessian instead.",
        ),
        related=("mean_squared_error", "huber_loss", "laplace_nll", "pinball_loss",
                 "mean_absolute_percentage_error"),
    ),
    _Entry(
        name="huber_loss", kind="loss", aliases=("huber", "HuberLoss"),
        formula="l = (1/k)·Σ_j ρ_δ(ŷ_j − y_j),   ρ_δ(r) = ½·r² if |r| ≤ δ, else δ·(|r| − ½·δ)",
        distribution="Huber's least-favourable distribution p(y) ∝ exp(−ρ_δ(y − ŷ)): Gaussian "
                     "in the centre, Laplace in the tails; the fit lies between the mean and "
                     "the median.",
        activation_from="gaussian", activation="a linear output",
        raw_output="the prediction ŷ itself",
        gradient="∂l/∂ŷ_j = clip(ŷ_j − y_j, −δ, δ)/k  (the residual, capped at ±δ: outliers pull "
                 "with a constant force).",
        value_formula=lambda y, m, o: np.where(np.abs(m - y) <= o["delta"], 0.5 * (m - y) ** 2,
                                               o["delta"] * (np.abs(m - y) - 0.5 * o["delta"])),
        gradient_formula=lambda y, m, o: np.clip(m - y, -o["delta"], o["delta"]),
        case=_Case("y = 0, ŷ = 2, δ = 1", 0.0, 2.0, {"delta": 1.0}),
        when="Regression with occasional outliers where you still want the smooth, shrinking "
             "gradient of the squared error near the optimum.",
        pitfalls=(
            "δ is in the target's units: choose it on the scale of residuals you consider "
            "normal (standardise the target if unsure).",
            "PyTorch's smooth_l1_loss(beta=δ) is this divided by δ: the same minimiser, "
            "gradients scaled by 1/δ.",
            "Its second derivative jumps at |r| = δ; log_cosh_loss is smooth everywhere.",
        ),
        related=("mean_squared_error", "mean_absolute_error", "log_cosh_loss", "student_t_nll"),
    ),
    _Entry(
        name="log_cosh_loss", kind="loss", aliases=("logcosh", "log cosh"),
        formula="l = (1/k)·Σ_j log cosh(ŷ_j − y_j)   (≈ r²/2 for small r, ≈ |r| − log 2 for "
                "large r)",
        distribution="The hyperbolic secant distribution p(y) = 1 / (π·cosh(y − ŷ)): l is its "
                     "negative log-likelihood minus log π.",
        activation_from="gaussian", activation="a linear output",
        raw_output="the prediction ŷ itself",
        gradient="∂l/∂ŷ_j = tanh(ŷ_j − y_j)/k  (bounded by 1/k; second derivative "
                 "(1 − tanh²)/k).",
        value_formula=lambda y, m, o: np.log(np.cosh(m - y)),
        gradient_formula=lambda y, m, o: np.tanh(m - y),
        case=_Case("y = 0, ŷ = 2", 0.0, 2.0),
        when="Like huber_loss, but twice differentiable with no parameter to tune (second-order "
             "methods, gradient boosting).",
        pitfalls=(
            "The bend is fixed at |r| ≈ 1: scale the target to put it where you want.",
            "Written naively, cosh(r) overflows for |r| > 710; losskit computes it stably.",
            "For large errors the gradient is ±1/k like the absolute error: far from the "
            "optimum it learns no faster than MAE.",
        ),
        related=("huber_loss", "mean_squared_error", "mean_absolute_error"),
    ),
    _Entry(
        name="mean_absolute_percentage_error", kind="loss", aliases=("mape",),
        formula="l = (1/k)·Σ_j |ŷ_j − y_j| / max(|y_j|, ε)   (a fraction: 0.1 means 10 %)",
        distribution="Laplace with a scale proportional to |y|: an absolute error weighted by "
                     "1/|y|; the minimiser is a weighted median biased low.",
        activation_from="laplace", activation="a linear output (or a positive one)",
        raw_output="the prediction ŷ itself",
        gradient="∂l/∂ŷ_j = sign(ŷ_j − y_j) / (k·max(|y_j|, ε)).",
        value_formula=lambda y, m, o: np.abs(m - y) / np.maximum(np.abs(y), np.finfo(float).eps),
        gradient_formula=lambda y, m, o: np.sign(m - y) / np.maximum(np.abs(y),
                                                                     np.finfo(float).eps),
        case=_Case("y = 2, ŷ = 2.5", 2.0, 2.5, grid=(0.0, 5.0)),
        when="Reporting to people who think in percentages, for targets bounded away from 0; "
             "as a training loss prefer mean_squared_log_error or a likelihood.",
        pitfalls=(
            "Targets near 0 explode it (ε is the machine epsilon, so y = 0 gives a huge value).",
            "Biased low: over-predicting a small target costs more than under-predicting it, "
            "and predicting 0 never costs more than 1.",
            "Keras reports percent (100 times this); convention='keras' reproduces it.",
        ),
        related=("mean_absolute_error", "mean_squared_log_error"),
    ),
    _Entry(
        name="mean_squared_log_error", kind="loss",
        aliases=("msle", "mean squared logarithmic error"),
        formula="l = (1/k)·Σ_j (log(1 + ŷ_j) − log(1 + y_j))²",
        distribution="Gaussian on the log(1 + y) scale: 1 + y is log-normal with median 1 + ŷ; "
                     "errors count relatively.",
        activation="a non-negative output (softplus, ReLU or exp), since log(1 + ŷ) needs "
                   "ŷ > −1",
        raw_output="the prediction ŷ itself",
        gradient="∂l/∂ŷ_j = 2·(log(1 + ŷ_j) − log(1 + y_j)) / (k·(1 + ŷ_j)).",
        value_formula=lambda y, m, o: (np.log1p(m) - np.log1p(y)) ** 2,
        gradient_formula=lambda y, m, o: 2 * (np.log1p(m) - np.log1p(y)) / (1 + m),
        case=_Case("y = 3, ŷ = 5", 3.0, 5.0, grid=(-0.9, 10.0)),
        when="Non-negative targets spanning orders of magnitude (prices, counts, durations) "
             "where relative error matters.",
        pitfalls=(
            "A linear output can go below −1, where the loss is undefined (rejected): use a "
            "non-negative output.",
            "Under-prediction costs more than over-prediction by the same amount.",
            "Often better: regress log(1 + y) with mean_squared_error and predict expm1, or "
            "use poisson_nll / gamma_nll.",
            "Keras clips both arrays at 1e-7 before the log (convention='keras').",
        ),
        related=("mean_squared_error", "poisson_nll", "gamma_nll",
                 "mean_absolute_percentage_error"),
    ),
    _Entry(
        name="pinball_loss", kind="loss", aliases=("pinball", "quantile", "quantile loss"),
        formula="l = (1/k)·Σ_j ρ_τ(y_j − ŷ_j),   ρ_τ(d) = τ·d if d ≥ 0, else (τ − 1)·d   "
                "(τ = quantile)",
        distribution="The asymmetric Laplace distribution with location ŷ, whose τ-quantile is "
                     "ŷ: minimising the loss gives the conditional τ-quantile.",
        activation_from="laplace", activation="a linear output (one per quantile)",
        raw_output="the prediction ŷ (the τ-quantile)",
        gradient="∂l/∂ŷ_j = (1 − τ)/k where ŷ_j > y_j, −τ/k where ŷ_j < y_j  (0 at a tie).",
        value_formula=lambda y, m, o: np.where(y - m >= 0, o["quantile"] * (y - m),
                                               (o["quantile"] - 1) * (y - m)),
        gradient_formula=lambda y, m, o: np.where(m > y, 1 - o["quantile"],
                                                  np.where(m < y, -o["quantile"], 0.0)),
        case=_Case("y = 0, ŷ = −1, τ = 0.9", 0.0, -1.0, {"quantile": 0.9}, grid=(-3.0, 3.0)),
        when="Prediction intervals (one output per quantile, e.g. 0.05 and 0.95) and asymmetric "
             "costs (under-stocking costs more than over-stocking).",
        pitfalls=(
            "Quantiles trained separately can cross (the 0.9 quantile below the 0.1): sort the "
            "outputs or predict positive increments.",
            "At τ = 0.5 it is half the absolute error, not the absolute error.",
            "The gradient has constant size, as for the absolute error.",
        ),
        related=("mean_absolute_error", "laplace_nll"),
    ),
    _Entry(
        name="gaussian_nll", kind="loss",
        aliases=("gaussian nll loss", "GaussianNLLLoss", "normal nll"),
        formula="l = ½·(log σ² + (y − ŷ)²/σ²)   [+ ½·log 2π with full=True]\n"
                "σ² = var, or exp(log_var) for a predicted log-variance",
        distribution="Gaussian N(ŷ, σ²) with a known or predicted variance; with full=True l is "
                     "exactly −log N(y | ŷ, σ²).",
        activation_from="gaussian",
        activation="a linear output for the mean; for a predicted variance a second, linear "
                   "output read as log σ² (log_var=)",
        raw_output="the mean ŷ (and, as log_var, the log-variance s)",
        gradient="∂l/∂ŷ = (ŷ − y)/σ²;  with log_var = s: ∂l/∂s = ½·(1 − (y − ŷ)²·e^(−s)).",
        value_formula=lambda y, m, o: 0.5 * (np.log(o["var"]) + (y - m) ** 2 / o["var"]),
        gradient_formula=lambda y, m, o: (m - y) / o["var"],
        case=_Case("y = 1, ŷ = 0.3, σ² = 0.5", 1.0, 0.3, {"var": 0.5}),
        when="Real targets whose noise level you also predict (or know): calibrated "
             "uncertainty next to the prediction. With a fixed variance, use the squared error.",
        pitfalls=(
            "Negative values are legitimate (the density exceeds 1 when σ² < 1/2π and the fit "
            "is good).",
            "A predicted variance can collapse onto fitted points (σ² → 0, loss → −∞): predict "
            "log σ² and bound it, or regularise.",
            "The mean's gradient is divided by σ²: points the model calls noisy are learned "
            "slowly, and it can explain errors away by raising σ².",
            "PyTorch clamps the variance at 1e-6 and broadcasts (n, 1) variances; "
            "convention='torch' reproduces the clamp.",
        ),
        related=("mean_squared_error", "laplace_nll", "student_t_nll", "gaussian_mixture_nll"),
    ),
    _Entry(
        name="laplace_nll", kind="loss", aliases=("laplace nll",),
        formula="l = log 2b + |y − ŷ|/b   (b = scale)",
        distribution="Laplace(ŷ, b): exactly −log Laplace(y | ŷ, b); with a constant b it is "
                     "the absolute error up to scale and a constant (the model learns the "
                     "median).",
        activation_from="laplace", activation="a linear output",
        raw_output="the location ŷ",
        gradient="∂l/∂ŷ = sign(ŷ − y)/b.",
        value_formula=lambda y, m, o: np.log(2 * o["scale"]) + np.abs(y - m) / o["scale"],
        gradient_formula=lambda y, m, o: np.sign(m - y) / o["scale"],
        case=_Case("y = 1, ŷ = 0.3, b = 0.5", 1.0, 0.3, {"scale": 0.5}),
        when="Heavy-tailed real targets with a known or separately predicted scale, or to "
             "compare an L1-trained model's likelihood with a Gaussian one.",
        pitfalls=(
            "Negative values are legitimate (b < 1/2 near the location).",
            "The gradient has constant size, as for the absolute error.",
        ),
        related=("mean_absolute_error", "gaussian_nll", "student_t_nll"),
    ),
    _Entry(
        name="student_t_nll", kind="loss", aliases=("student t nll", "t nll"),
        formula="l = log[Γ(ν/2)·√(νπ)·s / Γ((ν+1)/2)] + ((ν+1)/2)·log(1 + r²/(ν·s²)),   "
                "r = ŷ − y,  ν = df,  s = scale",
        distribution="Student-t t_ν(ŷ, s): exactly −log t_ν(y | ŷ, s). ν → ∞ gives the "
                     "Gaussian, ν = 1 the Cauchy distribution.",
        activation_from="student_t", activation="a linear output",
        raw_output="the location ŷ",
        gradient="∂l/∂ŷ = (ν + 1)·r / (ν·s² + r²)  (largest at |r| = s·√ν, then decreasing: "
                 "gross outliers barely pull).",
        value_formula=lambda y, m, o: _student_t(y, m, o["df"], o["scale"])[0],
        gradient_formula=lambda y, m, o: _student_t(y, m, o["df"], o["scale"])[1],
        case=_Case("y = 0, ŷ = 1, ν = 3, s = 1", 0.0, 1.0, {"df": 3.0, "scale": 1.0},
                   grid=(-8.0, 8.0)),
        when="Real targets with a fraction of gross outliers (corrupted labels); df from 3 to 5 "
             "is a common robust choice.",
        pitfalls=(
            "Not convex: the second derivative is negative beyond |r| = s·√ν, so Newton methods "
            "(boosting) need the hessian clipped to a positive value.",
            "df has no default: pass it.",
            "Negative values are legitimate where the density exceeds 1.",
        ),
        related=("huber_loss", "gaussian_nll", "laplace_nll"),
    ),
    _Entry(
        name="poisson_nll", kind="loss", aliases=("poisson loss", "PoissonNLLLoss"),
        formula="l = e^η − y·η   [+ log y! with full=True]   (log_input=True: η = log μ)\n"
                "l = μ − y·log μ   (log_input=False: y_pred is the rate μ)",
        distribution="Poisson(μ): −log P(y | μ) = μ − y·log μ + log y!; full=False drops "
                     "log y!, which does not depend on the model.",
        activation_from="poisson",
        activation="exp applied inside the loss: the last layer is linear and outputs the "
                   "log-rate η (log_input=True, the default)",
        raw_output="the log-rate η = log μ (log_input=True)",
        gradient="∂l/∂η = e^η − y = μ̂ − y  (prediction minus target: the log is the canonical "
                 "link). W.r.t. the rate (log_input=False): 1 − y/μ.",
        value_formula=lambda y, eta, o: np.exp(eta) - y * eta,
        gradient_formula=lambda y, eta, o: np.exp(eta) - y,
        case=_Case("y = 3, μ = 2 (η = log 2)", 3.0, math.log(2.0), {"log_input": True},
                   grid=(-2.0, 3.0), more_targets=(0.0,), x_label="log-rate η"),
        when="Counts (events, visits, goals) whose variance is about their mean.",
        pitfalls=(
            "Needs a log-rate output: with log_input=True (the default) y_pred is η, the raw "
            "output of a linear layer; applying exp yourself as well takes it twice. With "
            "log_input=False y_pred must be a positive rate (μ = 0 with y > 0 is infinite).",
            "full=False values can be negative: only differences between models mean "
            "something (full=True is the exact, non-negative NLL).",
            "Over-dispersed counts (variance well above the mean) make it over-confident: "
            "use negative_binomial_nll (or tweedie_deviance with 1 < power < 2).",
            "PyTorch adds 1e-8 inside the log (log_input=False) and uses Stirling's "
            "approximation with full=True; convention='torch' reproduces both.",
        ),
        related=("tweedie_deviance", "negative_binomial_nll", "gamma_nll",
                 "mean_squared_log_error"),
    ),
    _Entry(
        name="negative_binomial_nll", kind="loss",
        aliases=("negative binomial loss", "nb nll", "nb2"),
        formula="l = r·softplus(u) + y·softplus(−u) + log Γ(r) − log Γ(y + r)   [+ log y! with "
                "full=True]\nu = η + s,  η = log μ,  s = log α,  r = 1/α   (alpha=None: the raw "
                "outputs per target are (η, s))",
        distribution="Negative binomial (NB2) with mean μ and dispersion α: variance μ + α·μ², a "
                     "Poisson whose rate varies as a Gamma with shape 1/α; exactly "
                     "−log NB(y | μ, α) with full=True. α → 0 is the Poisson.",
        activation_from="negative_binomial",
        activation="exp for the log-mean and for the log-dispersion, inside the loss (the last "
                   "layer is linear, two outputs per target)",
        raw_output="two values per target: the log-mean η and the log-dispersion s = log α (a "
                   "fixed alpha= takes one value, η)",
        gradient="∂l/∂η = (μ − y)/(1 + α·μ),  ∂l/∂s = r·(ψ(y + r) − ψ(r) − log(1 + α·μ)) + "
                 "(μ − y)/(1 + α·μ)  (ψ the digamma function).",
        value_formula=lambda y, raw, o: _negative_binomial(y, raw)[0],
        gradient_formula=lambda y, raw, o: _negative_binomial(y, raw)[1],
        case=_Case("y = 7, μ = 3 (η = log 3), α = 0.5 (s = log 0.5)", 7.0,
                   (math.log(3.0), math.log(0.5)), vary=0, grid=(-2.0, 4.0),
                   more_targets=(0.0,), x_label="log-mean η (log-dispersion fixed)"),
        when="Over-dispersed counts: the variance well above the mean (doctor visits, claims, "
             "species counts), where poisson_nll fits the mean but is over-confident.",
        pitfalls=(
            "With alpha=None y_pred has shape y_true.shape + (2,): (log-mean, log-dispersion) "
            "along the last axis; a fixed alpha takes y_pred of y_true's shape.",
            "full=False drops log y! only: values can be negative, differences between models "
            "still mean something.",
            "Marginal over-dispersion can come from the inputs: a learned dispersion falls "
            "towards 0 (the Poisson) when the model explains it.",
        ),
        related=("poisson_nll", "tweedie_deviance", "negative_binomial"),
    ),
    _Entry(
        name="gamma_nll", kind="loss", aliases=("gamma loss",),
        formula="l = α·(y/μ + log μ)   [− α·log α + log Γ(α) − (α − 1)·log y with full=True]\n"
                "μ = e^η with log_input=True;  α = shape",
        distribution="Gamma with mean μ and shape α (variance μ²/α): the standard deviation is "
                     "proportional to the mean, so errors count relatively.",
        activation_from="gamma",
        activation="exp (log link): a linear last layer outputs η = log μ (log_input=True)",
        raw_output="the log-mean η = log μ (log_input=True), or the mean μ",
        gradient="∂l/∂η = α·(1 − y·e^(−η))  (log_input=True);  w.r.t. the mean: "
                 "∂l/∂μ = α·(μ − y)/μ².",
        value_formula=lambda y, eta, o: o["shape"] * (y * np.exp(-eta) + eta),
        gradient_formula=lambda y, eta, o: o["shape"] * (1 - y * np.exp(-eta)),
        case=_Case("y = 1.5, η = 0.2 (μ = e^0.2), α = 2", 1.5, 0.2,
                   {"shape": 2.0, "log_input": True}, grid=(-2.0, 3.0), x_label="log-mean η"),
        when="Positive, right-skewed continuous targets whose spread grows with their level "
             "(claim sizes, durations, rainfall amounts).",
        pitfalls=(
            "Targets must be > 0: exact zeros need tweedie_deviance with 1 < power < 2.",
            "log_input defaults to False here (y_pred is the mean μ > 0), unlike poisson_nll; "
            "for a network pass log_input=True and a linear last layer.",
            "Negative values are legitimate where the density exceeds 1.",
        ),
        related=("tweedie_deviance", "poisson_nll", "mean_squared_log_error"),
    ),
    _Entry(
        name="tweedie_deviance", kind="loss", aliases=("tweedie",),
        formula="d = 2·(max(y, 0)^(2−p)/((1−p)(2−p)) − y·μ^(1−p)/(1−p) + μ^(2−p)/(2−p)),   "
                "p = power\n(limits: (y − μ)² at p = 0, Poisson deviance at 1, Gamma deviance "
                "at 2;  μ = e^η with log_input=True)",
        distribution="Tweedie exponential-dispersion model with variance φ·μ^p: the deviance is "
                     "twice its negative log-likelihood minus that of the perfect prediction, "
                     "over φ; 1 < p < 2 is the compound Poisson–Gamma (zeros plus a positive "
                     "part).",
        activation_from="poisson",
        activation="exp (log link): a linear last layer outputs η = log μ (log_input=True)",
        raw_output="the log-mean η (log_input=True), or the mean μ",
        gradient="∂d/∂η = 2·μ^(1−p)·(μ − y)  (log_input=True);  w.r.t. the mean: "
                 "∂d/∂μ = 2·μ^(−p)·(μ − y).",
        value_formula=lambda y, eta, o: _tweedie(y, eta, o["power"])[0],
        gradient_formula=lambda y, eta, o: _tweedie(y, eta, o["power"])[1],
        case=_Case("y = 2, η = 0.5 (μ = e^0.5), p = 1.5", 2.0, 0.5,
                   {"power": 1.5, "log_input": True}, grid=(-2.0, 3.0), more_targets=(0.0,),
                   x_label="log-mean η"),
        when="Non-negative targets with exact zeros and a continuous positive part (insurance "
             "claims, rainfall): 1 < power < 2. power 1 and 2 are the Poisson and Gamma "
             "deviances.",
        pitfalls=(
            "Powers in (0, 1) have no distribution and are rejected.",
            "Deviances of different powers are on different scales: do not compare models "
            "trained with different powers by their deviance.",
            "log_input defaults to False (y_pred is the mean μ > 0).",
        ),
        related=("poisson_nll", "gamma_nll", "mean_squared_error"),
    ),
    _Entry(
        name="gaussian_mixture_nll", kind="loss",
        aliases=("mdn", "mixture density network", "mixture nll"),
        formula="l = −log Σ_j π_j·N(y | μ_j, σ_j²),   π = softmax(a),   σ_j = e^(s_j)\n"
                "raw outputs per target: (a_1..a_k, μ_1..μ_k, s_1..s_k)",
        distribution="A mixture of k Gaussians; l is exactly its negative log-likelihood "
                     "(with k = 1, gaussian_nll with log_var = 2s, full=True).",
        activation_from="gaussian_mixture",
        activation="softmax for the k mixing logits, identity for the k means, exp for the k "
                   "log standard deviations (all inside the loss: the last layer is linear)",
        raw_output="3k values per target: mixing logits a, means μ, log standard deviations s",
        gradient="∂l/∂a_j = π_j − r_j,  ∂l/∂μ_j = −r_j·z_j/σ_j,  ∂l/∂s_j = r_j·(1 − z_j²),\n"
                 "z_j = (y − μ_j)/σ_j,  r_j = π_j·N_j / Σ_i π_i·N_i (the responsibilities).",
        value_formula=lambda y, raw, o: _mixture(y, raw)[0],
        gradient_formula=lambda y, raw, o: _mixture(y, raw)[1],
        case=_Case("y = 0.5, k = 2: a = (0.3, −0.2), μ = (0, 1), s = (−0.5, 0.2)", 0.5,
                   (0.3, -0.2, 0.0, 1.0, -0.5, 0.2), vary=2, grid=(-3.0, 4.0),
                   x_label="mean μ₁ of component 1 (other outputs fixed)"),
        when="Multimodal targets (several plausible answers for one input: inverse kinematics, "
             "trajectories), where a single Gaussian would predict the useless average of the "
             "modes.",
        pitfalls=(
            "A component can collapse onto single points (σ → 0, loss → −∞): bound σ from "
            "below, e.g. s = log(softplus(raw) + 1e-3).",
            "The order of the 3k outputs is fixed (logits, means, log standard deviations); a "
            "different layout silently trains the wrong quantities.",
            "Negative values are legitimate (a narrow component on a target).",
            "The mixture mean Σ π_j·μ_j can fall between modes: report the most probable mode "
            "when that is what is used.",
        ),
        related=("gaussian_nll", "gaussian_mixture", "heteroscedastic_gaussian"),
    ),
    # ----------------------------------------------------------------------------- families
    _Entry(
        name="bernoulli", kind="family", aliases=("binary",),
        formula="l(y, z) = −y·log σ(z) − (1 − y)·log σ(−z),   y ∈ {0, 1},   z the logit",
        distribution="Bernoulli(p) with p = σ(z): P(y = 1) = p. The family's loss is exactly "
                     "−log P(y | p), computed from the logit so it is finite for every finite z.",
        raw_output="one logit z per sample",
        gradient="∂l/∂z = σ(z) − y = p̂ − y  (canonical link: prediction minus target); "
                 "∂²l/∂z² = σ(z)·σ(−z).",
        value_formula=lambda y, z, o: -(y * special.log_expit(z)
                                        + (1 - y) * special.log_expit(-z)),
        gradient_formula=lambda y, z, o: special.expit(z) - y,
        case=_Case(_BINARY_CASE.inputs, 1.0, _P9, grid=(-8.0, 8.0), more_targets=(0.0,),
                   x_label="logit z"),
        classification=True,
        when="Binary targets (yes/no); predict() gives P(y = 1).",
        pitfalls=(
            "Never apply the sigmoid before the loss yourself: the family takes the raw logit.",
            "Labels must be 0/1: map −1/+1 with (y + 1) / 2.",
            "Through a sigmoid the squared error saturates (at z = −10, y = 1 its gradient is "
            "{sat_mse:.2g} against {sat_bce:.5g}): keep this likelihood.",
        ),
        related=("multilabel", "categorical", "binary_cross_entropy", "binary_focal_loss"),
    ),
    _Entry(
        name="multilabel", kind="family", aliases=("multi-label", "multi label"),
        formula="l_i = (1/k)·Σ_j [−y_ij·log σ(z_ij) − (1 − y_ij)·log σ(−z_ij)]   (k labels)",
        distribution="k independent Bernoulli labels per sample, y_ij ~ Bernoulli(σ(z_ij)); the "
                     "loss is the joint negative log-likelihood divided by k.",
        raw_output="one logit per label: shape (n, k)",
        gradient="∂/∂z_ij = σ(z_ij) − y_ij per label (of the joint NLL, not divided by k); "
                 "∂²/∂z_ij² = σ(z_ij)·σ(−z_ij).",
        value_formula=lambda y, z, o: np.mean(-(y * special.log_expit(z)
                                                + (1 - y) * special.log_expit(-z)), axis=-1),
        gradient_formula=lambda y, z, o: special.expit(z) - y,
        case=_Case("y = (1, 0, 1), z = (2, −1, 0.5)", (1.0, 0.0, 1.0), (2.0, -1.0, 0.5), vary=0,
                   grid=(-8.0, 8.0), more_targets=((0.0, 0.0, 1.0),),
                   x_label="logit z₀ of label 0 (other logits fixed)"),
        classification=True,
        when="Tagging: a sample can belong to any number of the k classes.",
        pitfalls=(
            "Never softmax here: the labels do not compete.",
            "loss() averages a sample's labels (as Keras); gradient() is per label, not divided "
            "by k.",
            "Rare labels are learned slowly: weight them (pos_weight in binary_cross_entropy).",
        ),
        related=("bernoulli", "categorical", "binary_cross_entropy"),
    ),
    _Entry(
        name="categorical", kind="family", aliases=("multinomial", "multiclass", "softmax"),
        formula="l(y, z) = −log softmax(z)_y = logsumexp(z) − z_y,   y ∈ {0, …, C − 1}",
        distribution="Categorical(p) with p = softmax(z): one of C classes. The loss is exactly "
                     "−log p_y, computed with log-softmax.",
        raw_output="C logits per sample: shape (n, C)",
        gradient="∂l/∂z_c = p_c − [c = y]  (canonical link: probabilities minus one-hot); "
                 "diagonal hessian p_c·(1 − p_c).",
        value_formula=lambda y, z, o: special.logsumexp(z, axis=-1) - np.take_along_axis(
            z, np.asarray(y, dtype=np.int64)[..., None], axis=-1)[..., 0],
        gradient_formula=lambda y, z, o: special.softmax(z, axis=-1) - _onehot(y, z.shape[-1]),
        case=_Case(_LABEL_CASE.inputs, 0, _P3, vary=0, grid=(-8.0, 8.0), more_targets=(1,),
                   x_label="logit z₀ of class 0 (other logits fixed)"),
        classification=True,
        when="Exactly one of C mutually exclusive classes per sample; predict() gives the "
             "class probabilities.",
        pitfalls=(
            "Never apply softmax before the loss yourself: the family takes the logits.",
            "Labels are integers 0..C−1 (pass the argmax of one-hot rows).",
            "The hessian is the diagonal of diag(p) − p·pᵀ (what boosting libraries use).",
        ),
        related=("bernoulli", "multilabel", "sparse_categorical_cross_entropy",
                 "categorical_cross_entropy"),
    ),
    _Entry(
        name="gaussian", kind="family", aliases=("normal",),
        formula="l(y, μ) = (y − μ)²/(2σ²) + log σ + ½·log 2π   (σ = scale)",
        distribution="Gaussian N(μ, σ²) with a fixed σ; the loss is exactly −log N(y | μ, σ²).",
        raw_output="the mean μ (one linear output)",
        gradient="∂l/∂μ = (μ − y)/σ²  (canonical: prediction minus target when σ = 1); "
                 "∂²l/∂μ² = 1/σ².",
        value_formula=lambda y, m, o: ((y - m) ** 2 / (2 * o["scale"] ** 2) + math.log(o["scale"])
                                       + 0.5 * _LOG_2PI),
        gradient_formula=lambda y, m, o: (m - y) / o["scale"] ** 2,
        case=_Case("y = 1, μ = 0.3, σ = 1", 1.0, 0.3, x_label="mean μ"), params={"scale": 1.0},
        when="Real-valued targets with roughly symmetric, light-tailed noise of constant size.",
        pitfalls=(
            "Outliers dominate the fit: use laplace or student_t.",
            "Noise whose size varies with the input: use heteroscedastic_gaussian.",
            "σ scales the loss and its gradients, not the fitted mean.",
        ),
        related=("laplace", "student_t", "heteroscedastic_gaussian", "mean_squared_error"),
    ),
    _Entry(
        name="laplace", kind="family",
        formula="l(y, μ) = |y − μ|/b + log 2b   (b = scale)",
        distribution="Laplace(μ, b): the location μ is the median and the mean; the loss is "
                     "exactly −log Laplace(y | μ, b).",
        raw_output="the location μ (one linear output)",
        gradient="∂l/∂μ = sign(μ − y)/b  (0 at a tie); the second derivative is 0 wherever it "
                 "exists.",
        value_formula=lambda y, m, o: np.abs(y - m) / o["scale"] + np.log(2 * o["scale"]),
        gradient_formula=lambda y, m, o: np.sign(m - y) / o["scale"],
        case=_Case("y = 1, μ = 0.3, b = 1", 1.0, 0.3, x_label="location μ"),
        params={"scale": 1.0},
        when="Real targets with heavy-tailed noise or outliers, when the median is the "
             "prediction you want.",
        pitfalls=(
            "The hessian is 0: a Newton step is undefined; boosting libraries use a constant "
            "hessian (LightGBM's l1 uses 1).",
            "The gradient has constant size: decay the learning rate.",
        ),
        related=("gaussian", "student_t", "mean_absolute_error"),
    ),
    _Entry(
        name="student_t", kind="family", aliases=("student-t", "student", "t"),
        formula="l = log[Γ(ν/2)·√(νπ)·s / Γ((ν+1)/2)] + ((ν+1)/2)·log(1 + r²/(ν·s²)),   "
                "r = μ − y",
        distribution="Student-t t_ν(μ, s) with degrees of freedom ν = df and scale s; the loss "
                     "is exactly −log t_ν(y | μ, s).",
        raw_output="the location μ (one linear output)",
        gradient="∂l/∂μ = (ν + 1)·r / (ν·s² + r²)  (decreasing beyond |r| = s·√ν).",
        value_formula=lambda y, m, o: _student_t(y, m, o["df"], o["scale"])[0],
        gradient_formula=lambda y, m, o: _student_t(y, m, o["df"], o["scale"])[1],
        case=_Case("y = 0, μ = 1, ν = 3, s = 1", 0.0, 1.0, grid=(-8.0, 8.0),
                   x_label="location μ"),
        params={"df": 3.0, "scale": 1.0},
        when="Real targets with a fraction of gross outliers; df from 3 to 5 is a common "
             "robust choice.",
        pitfalls=(
            "Not convex: the hessian is negative for |r| > s·√ν; clip it for Newton methods.",
            "df is required: lk.family('student_t', df=4).",
            "predict() is the location: the mean only for ν > 1 (the median always).",
        ),
        related=("gaussian", "laplace", "student_t_nll", "huber_loss"),
    ),
    _Entry(
        name="poisson", kind="family", aliases=("counts", "count"),
        formula="l(y, η) = e^η − y·η + log y!   (η = log μ the raw output)",
        distribution="Poisson(μ) with μ = e^η: the loss is exactly −log P(y | μ) for a count y.",
        raw_output="the log-rate η (one linear output)",
        gradient="∂l/∂η = e^η − y = μ̂ − y  (canonical link); ∂²l/∂η² = e^η.",
        value_formula=lambda y, eta, o: np.exp(eta) - y * eta + special.gammaln(y + 1),
        gradient_formula=lambda y, eta, o: np.exp(eta) - y,
        case=_Case("y = 3, μ = 2 (η = log 2)", 3.0, math.log(2.0), grid=(-2.0, 3.0),
                   more_targets=(0.0,), x_label="log-rate η"),
        when="Counts (events, visits, goals) whose variance is about their mean.",
        pitfalls=(
            "The raw output is log μ: do not apply exp yourself before the loss.",
            "Targets must be integers ≥ 0.",
            "Over-dispersed counts: use the negative_binomial family.",
        ),
        related=("gamma", "poisson_nll", "negative_binomial"),
    ),
    _Entry(
        name="negative_binomial", kind="family",
        aliases=("negative binomial", "negbin", "overdispersed counts"),
        formula="l = r·softplus(η + s) + y·softplus(−η − s) + log Γ(r) − log Γ(y + r) + log y!"
                "   (raw outputs η = log μ and s = log α, r = 1/α)",
        distribution="Negative binomial NB2 with mean μ = e^η and dispersion α = e^s (variance "
                     "μ + α·μ²); the loss is exactly −log NB(y | μ, α).",
        raw_output="two linear outputs per count: the log-mean η and the log-dispersion s",
        gradient="∂l/∂η = (μ − y)/(1 + α·μ);  ∂l/∂s = r·(ψ(y + r) − ψ(r) − log(1 + α·μ)) + "
                 "(μ − y)/(1 + α·μ).",
        value_formula=lambda y, raw, o: (_negative_binomial(y, raw)[0]
                                         + special.gammaln(y + 1)),
        gradient_formula=lambda y, raw, o: _negative_binomial(y, raw)[1],
        case=_Case("y = 7, μ = 3, α = 0.5 (raw η = log 3, s = log 0.5)", 7.0,
                   (math.log(3.0), math.log(0.5)), vary=0, grid=(-2.0, 4.0),
                   more_targets=(0.0,), x_label="log-mean η (log-dispersion fixed)"),
        when="Counts whose variance exceeds their mean (dispersion index var/mean well above "
             "1): lk.advise offers it when it measures over-dispersion.",
        pitfalls=(
            "Two raw outputs per target, in the order (log-mean, log-dispersion).",
            "Not jointly convex; convex in the log-mean.",
            "Targets must be integers ≥ 0.",
        ),
        related=("poisson", "negative_binomial_nll", "tweedie_deviance"),
    ),
    _Entry(
        name="gamma", kind="family",
        formula="l(y, η) = α·(y·e^(−η) + η) − α·log α + log Γ(α) − (α − 1)·log y   "
                "(η = log μ, α = shape)",
        distribution="Gamma with mean μ = e^η and shape α (variance μ²/α); the loss is exactly "
                     "−log Gamma(y | α, rate α/μ).",
        raw_output="the log-mean η (one linear output; the log link keeps μ > 0)",
        gradient="∂l/∂η = α·(1 − y·e^(−η));  ∂²l/∂η² = α·y·e^(−η).",
        value_formula=lambda y, eta, o: (o["shape"] * (y * np.exp(-eta) + eta)
                                         - o["shape"] * math.log(o["shape"])
                                         + special.gammaln(o["shape"])
                                         - (o["shape"] - 1) * np.log(y)),
        gradient_formula=lambda y, eta, o: o["shape"] * (1 - y * np.exp(-eta)),
        case=_Case("y = 1.5, η = 0.2, α = 2", 1.5, 0.2, grid=(-2.0, 3.0), x_label="log-mean η"),
        params={"shape": 2.0},
        when="Positive, right-skewed continuous targets whose spread grows with their level; "
             "shape=1 is the exponential distribution.",
        pitfalls=(
            "Targets must be > 0 (zeros: tweedie_deviance with 1 < power < 2).",
            "The log link is not the canonical (inverse) link: the gradient is not prediction "
            "minus target.",
        ),
        related=("poisson", "gamma_nll", "tweedie_deviance"),
    ),
    _Entry(
        name="heteroscedastic_gaussian", kind="family", aliases=("heteroscedastic",),
        formula="l = ½·(s + (y − μ)²·e^(−s)) + ½·log 2π   (raw outputs μ and s = log σ²)",
        distribution="Gaussian N(μ, σ²) with both the mean and the log-variance predicted; the "
                     "loss is exactly −log N(y | μ, e^s).",
        raw_output="two linear outputs per target: the mean μ and the log-variance s",
        gradient="∇l = ((μ − y)·e^(−s),  ½·(1 − (y − μ)²·e^(−s))).",
        value_formula=lambda y, raw, o: 0.5 * (raw[..., 1] + (y - raw[..., 0]) ** 2
                                               * np.exp(-raw[..., 1])) + 0.5 * _LOG_2PI,
        gradient_formula=lambda y, raw, o: np.stack([
            (raw[..., 0] - y) * np.exp(-raw[..., 1]),
            0.5 * (1 - (y - raw[..., 0]) ** 2 * np.exp(-raw[..., 1]))], axis=-1),
        case=_Case("y = 1, μ = 0.3, s = −0.5", 1.0, (0.3, -0.5), vary=0,
                   x_label="mean μ (log-variance fixed)"),
        when="Real targets whose noise level varies with the input, when you want a calibrated "
             "uncertainty next to the prediction.",
        pitfalls=(
            "The variance can collapse on fitted points (loss → −∞): regularise s or bound it.",
            "Convex in each output but not jointly: the hessian's determinant is negative.",
            "The mean's gradient is scaled by e^(−s): noisy-looking points are learned slowly.",
        ),
        related=("gaussian", "gaussian_mixture", "gaussian_nll"),
    ),
    _Entry(
        name="gaussian_mixture", kind="family", aliases=("mixture", "gaussian mixture"),
        formula="l = −log Σ_j π_j·N(y | μ_j, σ_j²),   π = softmax(a),   σ = e^s\n"
                "raw outputs per target: (a_1..a_k, μ_1..μ_k, s_1..s_k)",
        distribution="A mixture of k Gaussians (a mixture density network's output); the loss "
                     "is exactly its negative log-likelihood.",
        raw_output="3k linear outputs per target: mixing logits, means, log standard deviations",
        gradient="∂l/∂a_j = π_j − r_j,  ∂l/∂μ_j = −r_j·z_j/σ_j,  ∂l/∂s_j = r_j·(1 − z_j²),\n"
                 "z_j = (y − μ_j)/σ_j,  r_j the responsibilities.",
        value_formula=lambda y, raw, o: _mixture(y, raw)[0],
        gradient_formula=lambda y, raw, o: _mixture(y, raw)[1],
        case=_Case("y = 0.5, k = 2: a = (0.3, −0.2), μ = (0, 1), s = (−0.5, 0.2)", 0.5,
                   (0.3, -0.2, 0.0, 1.0, -0.5, 0.2), vary=2, grid=(-3.0, 4.0),
                   x_label="mean μ₁ of component 1 (other outputs fixed)"),
        params={"k": 2},
        when="Multimodal targets (several plausible answers for one input).",
        pitfalls=(
            "Not convex; components can collapse (σ → 0): bound σ from below.",
            "predict() is the mixture mean, which can fall between the modes.",
        ),
        related=("heteroscedastic_gaussian", "gaussian", "gaussian_mixture_nll"),
    ),
)

_BY_NAME: dict[str, _Entry] = {entry.name: entry for entry in _CATALOGUE}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


@functools.cache
def _lookup() -> dict[str, str]:
    """Normalised name or alias -> canonical name."""
    table: dict[str, str] = {}
    for entry in _CATALOGUE:
        for alias in (entry.name, *entry.aliases):
            key = _key(alias)
            if table.get(key, entry.name) != entry.name:  # pragma: no cover - catalogue error
                raise RuntimeError(f"alias {alias!r} names both {table[key]} and {entry.name}")
            table[key] = entry.name
    for name, cls in registered_families().items():  # class names too ("StudentT")
        if name in _BY_NAME:
            table.setdefault(_key(cls.__name__), name)
    return table


def explained_names() -> dict[str, tuple[str, ...]]:
    """The names :func:`explain` knows: ``{"loss": (...), "family": (...)}``.

    Examples
    --------
    >>> import losskit as lk
    >>> from losskit.explain import explained_names
    >>> "binary_cross_entropy" in explained_names()["loss"], "bernoulli" in explained_names()[
    ...     "family"]
    (True, True)
    """
    return {kind: tuple(e.name for e in _CATALOGUE if e.kind == kind)
            for kind in ("loss", "family")}


# ------------------------------------------------------------------------------ computation


def _loss_function(name: str) -> Callable:
    return getattr(_losses, name)


def _family_of(entry: _Entry) -> Family:
    return family(entry.name, **entry.params)


def _batch(entry: _Entry, y_true: Any, x: np.ndarray | None = None
           ) -> tuple[np.ndarray | None, np.ndarray]:
    """The case's target and raw outputs as a batch: one row, or one row per grid value."""
    case = entry.case
    raw = np.asarray(case.y_pred, dtype=np.float64)
    n = 1 if x is None else len(x)
    raw = np.repeat(raw[None, ...], n, axis=0)
    if x is not None:
        if case.vary is None:
            raw = np.asarray(x, dtype=np.float64)
        else:
            raw[:, case.vary] = x
    if y_true is None:
        return None, raw
    y = np.asarray(y_true)
    y = np.repeat(y[None, ...], n, axis=0)
    return (y if y.dtype.kind in "iu" else y.astype(np.float64)), raw


def _loss_values(entry: _Entry, y: np.ndarray | None, raw: np.ndarray) -> np.ndarray:
    """Per-sample losses from the losskit function or family."""
    if entry.kind == "family":
        return np.asarray(_family_of(entry).loss(y, raw, reduction="none"))
    fn = _loss_function(entry.name)
    if y is None:  # entropy: a function of the prediction alone
        return np.asarray(fn(raw, reduction="none", **entry.case.options))
    if "reduction" not in inspect.signature(fn).parameters:  # perplexity: one value per call
        return np.array([float(fn(y[i:i + 1], raw[i:i + 1], **entry.case.options))
                         for i in range(len(raw))])
    return np.asarray(fn(y, raw, reduction="none", **entry.case.options))


def _gradients(entry: _Entry, y: np.ndarray | None, raw: np.ndarray) -> tuple[np.ndarray, str]:
    """Per-sample gradients w.r.t. the raw outputs, and where they come from."""
    if entry.kind == "family":
        fam = _family_of(entry)
        return np.asarray(fam.gradient(y, raw)), f"{type(fam).__name__}.gradient"
    fn = _loss_function(entry.name)
    if _losses.spec_of(fn) is not None:
        from losskit.losses import value_and_gradient

        _, grad = value_and_gradient(fn, y, raw, reduction="none", **entry.case.options)
        return np.asarray(grad), "losskit.value_and_gradient"
    # no analytic gradient registered: central differences of the function itself
    h = 1e-6
    grad = np.zeros_like(raw)
    columns = [None] if raw.ndim == 1 else range(raw.shape[-1])
    for c in columns:
        step = np.zeros_like(raw)
        if c is None:
            step[:] = h
        else:
            step[..., c] = h
        grad_c = (_loss_values(entry, y, raw + step) - _loss_values(entry, y, raw - step)) / (2 * h)
        if c is None:
            grad = grad_c
        else:
            grad[..., c] = grad_c
    return grad, f"a central difference of losskit.{entry.name} (no analytic gradient)"


def _example(entry: _Entry) -> Example:
    case = entry.case
    y, raw = _batch(entry, case.y_true)
    loss = float(_loss_values(entry, y, raw)[0])
    grad, source = _gradients(entry, y, raw)
    options = entry.params if entry.kind == "family" else case.options
    with np.errstate(all="ignore"):
        formula_grad = np.asarray(entry.gradient_formula(y, raw, options))
        formula_loss = float(np.asarray(entry.value_formula(y, raw, options)).reshape(-1)[0])
    if entry.kind == "family":
        fam = _family_of(entry)
        call = f"losskit.family({entry.name!r}{_call_options(entry.params)}).loss"
        source = f"{type(fam).__name__}.gradient"
    else:
        call = f"losskit.{entry.name}"
    arrays = (raw,) if y is None else (y, raw)
    shown_args = ", ".join(_short(a) for a in arrays)
    call = f"{call}({shown_args}{_call_options(case.options if entry.kind == 'loss' else {})})"
    return Example(inputs=case.inputs, call=call, loss=loss,
                   gradient=tuple(float(g) for g in np.ravel(grad[0])), gradient_source=source,
                   formula_gradient=tuple(float(g) for g in np.ravel(formula_grad[0])),
                   formula_loss=formula_loss)


def _short(value: Any) -> str:
    """A number or array as a short literal (floats to 6 significant digits)."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return f"{value:.1f}" if value.is_integer() and abs(value) < 1e6 else f"{value:.6g}"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _call_options(options: dict[str, Any]) -> str:
    return "".join(f", {k}={v!r}" for k, v in options.items())


def saturation_gradients(logits: Any, /, *, y_true: float = 1.0) -> dict[str, np.ndarray]:
    r"""Gradients w.r.t. the logit of two losses on a sigmoid output, for one target.

    ``"binary_cross_entropy"``: :math:`\partial\,\mathrm{BCE}(y, \sigma(z))/\partial z`, from
    :func:`losskit.value_and_gradient` with ``from_logits=True``. ``"mean_squared_error"``:
    :math:`\partial (\sigma(z) - y)^2/\partial z`, the squared error's gradient w.r.t. the
    probability (:func:`losskit.gradient`) times :math:`\sigma'(z) = \sigma(z)\sigma(-z)`
    (the Bernoulli family's activation). For a confidently wrong logit the second vanishes
    while the first tends to :math:`\mp 1`: a sigmoid unit trained with the squared error stops
    learning exactly where it is most wrong.

    Parameters
    ----------
    logits : array_like of shape (n,)
        Logits :math:`z`.
    y_true : float
        The target, 0 or 1.

    Returns
    -------
    dict of str to numpy.ndarray
        The two gradients, each of shape (n,).

    Examples
    --------
    >>> from losskit.explain import saturation_gradients
    >>> g = saturation_gradients([-10.0, 0.0])
    >>> [round(float(v), 4) for v in g["binary_cross_entropy"]]
    [-1.0, -0.5]
    >>> [f"{float(v):.1e}" for v in g["mean_squared_error"]]
    ['-9.1e-05', '-2.5e-01']
    """
    from losskit.losses import binary_cross_entropy, mean_squared_error, value_and_gradient

    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 1 or z.size == 0:
        fail("saturation_gradients", "logits", f"has shape {z.shape}",
             "Pass a non-empty 1-D array of logits")
    if y_true not in (0, 1):
        fail("saturation_gradients", "y_true", f"is {y_true!r}", "Pass 0 or 1")
    y = np.full_like(z, float(y_true))
    _, bce = value_and_gradient(binary_cross_entropy, y, z, from_logits=True, reduction="none")
    sigmoid = family("bernoulli").activation
    p = np.asarray(sigmoid(z))
    _, d_mse_dp = value_and_gradient(mean_squared_error, y, p, reduction="none")
    dp_dz = p * np.asarray(sigmoid(-z))
    return {"binary_cross_entropy": np.asarray(bce),
            "mean_squared_error": np.asarray(d_mse_dp) * dp_dz}


#: the logit at which the text quotes the saturation numbers
_SATURATION_LOGIT = -10.0


@functools.cache
def _numbers() -> dict[str, Any]:
    """Numbers quoted in the catalogue's text, computed by losskit."""
    sat = saturation_gradients([_SATURATION_LOGIT])
    sigmoid = np.asarray(family("bernoulli").activation([0.0, 1.0]))
    from losskit.losses import binary_cross_entropy

    exact = binary_cross_entropy([0.0], [_FUSED_LOGIT], from_logits=True)
    return {"sat_bce": abs(float(sat["binary_cross_entropy"][0])),
            "sat_mse": abs(float(sat["mean_squared_error"][0])),
            "sigmoid_0": float(sigmoid[0]), "sigmoid_1": float(sigmoid[1]),
            "fused_z": f"{_FUSED_LOGIT:g}".replace("-", "−"), "exact_bce": float(exact),
            "fused_bce": fused_bce_with_logits_float32(_FUSED_LOGIT, 0.0)}


#: the logit at which the text quotes the fused form's rounding
_FUSED_LOGIT = -10.0


def fused_bce_with_logits_float32(z: float, y: float) -> float:
    r"""PyTorch's formula for ``binary_cross_entropy_with_logits``, evaluated in float32.

    .. math::

        l = (1 - y)\,z - \log\sigma(z),
        \qquad \log\sigma(z) = \min(z, 0) - \log(1 + e^{-|z|})

    Exact in exact arithmetic, but for :math:`z \ll 0`, :math:`y = 0` the two terms cancel
    (:math:`-|z| + (|z| + \text{tiny})`), so the tiny true loss keeps only the rounding error
    of :math:`|z|`. Used to quote the framework's number next to losskit's.

    Examples
    --------
    >>> from losskit.explain import fused_bce_with_logits_float32
    >>> fused_bce_with_logits_float32(-10.0, 0.0)  # the exact loss is 4.539889e-05
    4.57763671875e-05
    >>> fused_bce_with_logits_float32(-20.0, 0.0)  # exact: 2.061154e-09
    0.0
    """
    zf, yf = np.float32(z), np.float32(y)
    log_sigmoid = np.minimum(zf, np.float32(0.0)) - np.log1p(np.exp(-np.abs(zf)))
    return float((np.float32(1.0) - yf) * zf - log_sigmoid)


# -------------------------------------------------------------------------------- explain()


def _resolve(name: Any, func: str) -> _Entry:
    if isinstance(name, Explanation):
        return _BY_NAME[name.name]
    if not isinstance(name, str):
        fail(func, "name", f"has type {type(name).__name__}",
             "Pass the name of a loss or family, e.g. 'binary_cross_entropy' or 'bernoulli'",
             TypeError)
    table = _lookup()
    canonical = table.get(_key(name))
    if canonical is None:
        close = difflib.get_close_matches(_key(name), list(table), n=3, cutoff=0.6)
        hint = ""
        if close:
            suggestions = list(dict.fromkeys(table[c] for c in close))
            hint = " (did you mean " + " or ".join(repr(s) for s in suggestions) + "?)"
        names = explained_names()
        fail(func, "name", f"is {name!r}, which is not a known loss or family{hint}",
             "Pass one of the losses " + ", ".join(names["loss"]) + "; or the families "
             + ", ".join(names["family"]) + " (case-insensitive; aliases such as 'bce', 'mse', "
             "'cross-entropy', 'huber' work too)")
    return _BY_NAME[canonical]


def _summary(obj: Any) -> str:
    """The first line of a docstring, with its reStructuredText markup removed."""
    line = inspect.getdoc(obj).strip().splitlines()[0]
    line = re.sub(r":(?:func|class|meth):`~?(?:losskit\.)?([^`]+)`", r"\1", line)
    line = re.sub(r"``([^`]+)``", r"\1", line).replace("**", "")

    def math(match: re.Match) -> str:
        text = match.group(1)
        for latex, plain in ((r"\mathrm{KL}", "KL"), (r"\,", ""), (r"\|", "‖"),
                             (r"\alpha", "α"), (r"\log", "log"), (r"\cosh", "cosh ")):
            text = text.replace(latex, plain)
        return text.strip()

    return re.sub(r":math:`([^`]+)`", math, line)


def _activation(entry: _Entry) -> str:
    if entry.kind == "family":
        cls = registered_families()[entry.name]
        names = cls.activation_name.split(",")
        text = ", ".join(names) if len(names) > 1 else names[0]
        if len(names) > 1:
            text += " (one per block of raw outputs)"
        return f"{text}; link {cls.link_name.replace(',', ', ')}"
    if entry.activation_from is not None:
        fam_activation = registered_families()[entry.activation_from].activation_name
        first = fam_activation.replace(",", ", ")
        return f"{first} (as in the {entry.activation_from} family): {entry.activation}"
    return entry.activation


def _facts(entry: _Entry) -> dict[str, str]:
    if entry.kind == "loss":
        fn = _loss_function(entry.name)
        keywords = [p.name for p in inspect.signature(fn).parameters.values()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY]
        facts = {"function": f"losskit.{entry.name}", "options": ", ".join(keywords)}
        families = [n for n, c in registered_families().items()
                    if entry.name in (c.loss_name, c.equivalent_loss)]
        if families:
            facts["families"] = ", ".join(families)
        facts["analytic gradient"] = ("yes (losskit.gradient)"
                                      if _losses.spec_of(fn) is not None
                                      else "no")
        return facts
    cls = registered_families()[entry.name]
    fam = _family_of(entry)
    try:
        outputs = str(fam.n_outputs())
    except TypeError:  # one raw output per class or label
        outputs = "one per class (n_classes)"
    return {
        "family": f"losskit.family({entry.name!r}{_call_options(entry.params)}) = {fam!r}",
        "target domain": cls.domain,
        "raw outputs": outputs,
        "link": cls.link_name.replace(",", ", ") + (" (canonical)" if cls.canonical else ""),
        "convex in raw": "yes" if cls.convex else "no",
        "loss": f"losskit.{cls.loss_name}",
        "equivalent loss": f"{cls.equivalent_loss}: {cls.equivalence}",
        "metrics": ", ".join(cls.default_metrics),
    }


def _related(entry: _Entry) -> tuple[str, ...]:
    names = list(entry.related)
    if entry.kind == "loss":
        names += [n for n, c in registered_families().items()
                  if entry.name in (c.loss_name, c.equivalent_loss) and n in _BY_NAME]
    else:
        cls = registered_families()[entry.name]
        names += [n for n in (cls.loss_name, cls.equivalent_loss) if n in _BY_NAME]
    return tuple(dict.fromkeys(n for n in names if n != entry.name))


def explain(name: str, /) -> Explanation:
    """Explain a loss or a likelihood family: formula, distribution, activation, gradient,
    use and pitfalls, with a worked example computed by losskit.

    Parameters
    ----------
    name : str
        A loss of :mod:`losskit.losses` (``"binary_cross_entropy"``) or a family of
        :mod:`losskit.families` (``"bernoulli"``), case-insensitive, ``_``, ``-`` and spaces
        ignored, or an alias (``"bce"``, ``"mse"``, ``"cross-entropy"``, ``"huber"``, Keras and
        PyTorch class names such as ``"BCEWithLogitsLoss"``).

    Returns
    -------
    Explanation
        Printable (``str``) as a terminal page; ``to_dict()`` for JSON.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the names and suggests close ones).

    Examples
    --------
    >>> import losskit as lk
    >>> e = lk.explain("mse")
    >>> e.name, e.gradient.split("  ")[0]
    ('mean_squared_error', '∂l/∂ŷ_j = 2(ŷ_j − y_j)/k')
    >>> e.example.gradient == e.example.formula_gradient == (1.0,)
    True
    >>> lk.explain("Poisson").kind
    'family'
    """
    entry = _resolve(name, "explain")
    obj = registered_families()[entry.name] if entry.kind == "family" else \
        _loss_function(entry.name)
    numbers = _numbers()
    return Explanation(
        name=entry.name, kind=entry.kind, summary=_summary(obj), aliases=entry.aliases,
        formula=entry.formula, distribution=entry.distribution,
        output_activation=_activation(entry), raw_output=entry.raw_output,
        gradient=entry.gradient, example=_example(entry), when_to_use=entry.when,
        pitfalls=tuple(p.format(**numbers) for p in entry.pitfalls), related=_related(entry),
        facts=_facts(entry))


# ------------------------------------------------------------------------------------ plot()


def plot(name: str, path: str | os.PathLike[str], /) -> Path:
    """Draw a loss (or family) and its gradient w.r.t. the raw output to a PNG file.

    The curves are computed on a grid of raw outputs around the worked example of
    :func:`explain` (losses through :func:`losskit.value_and_gradient`, families through
    their ``loss`` and ``gradient``), one curve per target. For classification losses and
    families a third panel shows the saturation picture: for ``y = 1``, the gradient w.r.t.
    the logit of the squared error through a sigmoid vanishes for very wrong logits while the
    cross-entropy's does not (:func:`saturation_gradients`). The file is written atomically
    (a temporary file in the same folder, then renamed). Needs matplotlib (the ``plot``
    extra).

    Parameters
    ----------
    name : str
        As for :func:`explain`.
    path : str or os.PathLike
        The PNG file to write (its folder must exist).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    entry = _resolve(name, "plot")
    target = Path(path)
    if target.suffix.lower() != ".png":
        fail("plot", "path", f"is {str(path)!r}, which does not end in .png",
             "Pass a file name ending in .png (the plot is written as PNG)")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        fail("plot", "path", f"is {str(path)!r}, whose folder {str(folder)!r} does not exist",
             "Create the folder first, or pass a path in an existing folder")
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plot: matplotlib is not installed. Install the plot extra: "
                          "pip install 'losskit[plot]'") from error

    case = entry.case
    # a function without a reduction="none" is called once per point: a coarser grid
    looped = entry.kind == "loss" and "reduction" not in inspect.signature(
        _loss_function(entry.name)).parameters
    x = np.linspace(case.grid[0], case.grid[1], 121 if looped else 401)
    panels = 3 if entry.classification else 2
    figure = Figure(figsize=(5.2 * panels, 4.4), layout="constrained")
    axes = figure.subplots(1, panels)
    targets = (case.y_true, *case.more_targets)
    with np.errstate(all="ignore"):
        for y_value in targets:
            y, raw = _batch(entry, y_value, x)
            loss = _loss_values(entry, y, raw)
            grad, source = _gradients(entry, y, raw)
            column = grad if case.vary is None else grad[:, case.vary]
            label = "p" if y_value is None else f"y = {_short(y_value)}"
            axes[0].plot(x, loss, label=label)
            axes[1].plot(x, column, label=label)
    axes[0].set(title=f"loss: {entry.name}", xlabel=case.x_label, ylabel="loss per sample")
    axes[1].set(title="gradient w.r.t. the raw output", xlabel=case.x_label,
                ylabel="∂l/∂(raw output" + ("" if case.vary is None else f" {case.vary}") + ")")
    axes[1].axhline(0.0, color="0.6", linewidth=0.8)
    x_point = np.asarray(case.y_pred, dtype=np.float64).reshape(-1)
    x_point = x_point[0 if case.vary is None else case.vary]
    for ax in axes[:2]:
        ax.axvline(x_point, color="0.6", linestyle=":", linewidth=0.8)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[1].text(0.01, 0.01, f"computed by {source}", transform=axes[1].transAxes, fontsize=7,
                 color="0.4", va="bottom")
    if entry.classification:
        _saturation_panel(axes[2])
    figure.suptitle(f"losskit explain {entry.name}: {entry.formula.splitlines()[0]}",
                    fontsize=10)
    atomic_write(target, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    return target


def _saturation_panel(ax: Any) -> None:
    z = np.linspace(-12.0, 12.0, 481)
    grads = saturation_gradients(z)
    ax.plot(z, np.abs(grads["binary_cross_entropy"]),
            label="cross-entropy on the logit: |σ(z) − 1|")
    ax.plot(z, np.abs(grads["mean_squared_error"]),
            label="squared error through a sigmoid: |2(σ(z) − 1)·σ′(z)|")
    numbers = _numbers()
    ax.axvline(_SATURATION_LOGIT, color="0.6", linestyle=":", linewidth=0.8)
    ax.annotate(f"at z = {_SATURATION_LOGIT:g}:\ncross-entropy {numbers['sat_bce']:.5g}\n"
                f"squared error {numbers['sat_mse']:.2g}", (_SATURATION_LOGIT, numbers["sat_bce"]),
                xytext=(-9.0, 0.5), fontsize=8, arrowprops={"arrowstyle": "->", "color": "0.4"})
    ax.set(title="saturation, y = 1: gradient size w.r.t. the logit", xlabel="logit z",
           ylabel="|∂l/∂z|", ylim=(0, 1.1))
    ax.text(-11.5, 0.15, "very wrong\n(z ≪ 0)", fontsize=8, color="0.35")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)


# ------------------------------------------------------------------------------------- CLI


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="a loss (binary_cross_entropy, bce, mse, huber, ...) or a "
                        "family (bernoulli, poisson, ...)")
    parser.add_argument("--plot", metavar="FILE", help="also draw the loss and its gradient "
                        "to this PNG file")
    parser.add_argument("--json", action="store_true", help="print JSON for programs")


@command("explain", "formula, distribution, activation, gradient and pitfalls of a loss or "
         "family", _arguments)
def _run(args: argparse.Namespace) -> int:
    explanation = explain(args.name)
    if args.plot:
        try:
            written = plot(explanation.name, args.plot)
        except ImportError as error:
            print(f"losskit explain: error: {error}", file=sys.stderr)
            return 2
        print(f"losskit explain: plot written to {written}", file=sys.stderr)
    print(json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False) if args.json
          else explanation)
    return 0
