"""Families of class targets: Bernoulli (binary), MultiLabel and Categorical."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from losskit._array import Array, Namespace, log_softmax, sigmoid
from losskit._validation import Boolean, fail
from losskit.families._base import Family, check_parameter
from losskit.losses import Case, LossExplanation

__all__ = ["Bernoulli", "Categorical", "MultiLabel"]

_SOFT_METRICS = ("mean_absolute_error", "root_mean_squared_error")


class _Logistic(Family):
    """Targets 0/1 and raw logits through a sigmoid: shared by Bernoulli and MultiLabel."""

    activation_name = "sigmoid"
    link_name = "logit"
    canonical = True
    loss_name = "binary_cross_entropy"
    equivalent_loss = "binary_cross_entropy"
    _fixed_options = ("from_logits",)
    _raw_may_be_infinite = True
    # the kernel takes targets in [0, 1] (0/1 labels, or its soft-label branch after the
    # loss's own check) and returns a value only when it is not NaN
    _native_validates = True

    def __init__(self, soft: bool = False) -> None:
        self.soft = check_parameter(type(self).__name__, "soft", soft, Boolean())
        if self.soft:  # targets in [0, 1] are scored as values, not as labels
            self.default_metrics = _SOFT_METRICS  # type: ignore[misc]
        self._freeze()

    def _params(self) -> dict[str, Any]:
        return {"soft": self.soft}

    @property
    def domain(self) -> str:  # type: ignore[override]
        return "probabilities in [0, 1]" if self.soft else "labels 0 or 1"

    def _check_domain(self, func: str, xp: Namespace, y: Array, raw_shape: tuple[int, ...],
                      ignore_index: int | None) -> None:
        if isinstance(y, np.ndarray) and not self.soft:
            # NumPy labels (measured at 1e6 float64: 0.9 -> 0.6 ms): the two comparisons in
            # one mask and one reduction; a bad label takes the generic check, which names it
            labels = y == 0
            labels |= y == 1
            if labels.all():
                return
        if self._within(func, xp, y, low=0.0, high=1.0, integral=not self.soft):
            return
        if self.soft:
            self._require(func, xp, y, (y >= 0) & (y <= 1), "outside [0, 1]",
                          "Map -1/+1 labels with (y + 1) / 2")
        else:
            self._require(func, xp, y, (y == 0) | (y == 1), "that is not 0 or 1",
                          "Map -1/+1 labels with (y + 1) / 2; for probabilities or "
                          "proportions as targets use soft=True")

    def _check_after_native(self, func: str, xp: Namespace, y: Array) -> bool:
        # in [0, 1] (the kernel's check): labels are the integers among them
        return self.soft or self._whole(func, y)

    def _activation(self, xp: Namespace, raw: Array) -> Array:
        return sigmoid(xp, raw)

    def _loss_options(self) -> dict[str, Any]:
        return {"from_logits": True}


_BERNOULLI = LossExplanation(
    formula="l(y, z) = −y·log σ(z) − (1 − y)·log σ(−z),   y ∈ {0, 1},   z the logit",
    distribution="Bernoulli(p) with p = σ(z): P(y = 1) = p. The family's loss is exactly "
                 "−log P(y | p), computed from the logit so it is finite for every finite z.",
    raw_output="one logit z per sample",
    gradient="∂l/∂z = σ(z) − y = p̂ − y  (canonical link: prediction minus target); "
             "∂²l/∂z² = σ(z)·σ(−z).",
    when="Binary targets (yes/no); predict() gives P(y = 1).",
    pitfalls=(
        "Never apply the sigmoid before the loss yourself: the family takes the raw logit.",
        "Labels must be 0/1: map −1/+1 with (y + 1) / 2.",
        "Through a sigmoid the squared error saturates (at z = −10, y = 1 its gradient is "
        "{sat_mse:.2g} against {sat_bce:.5g}): keep this likelihood.",
    ),
    related=("multilabel", "categorical", "binary_cross_entropy", "binary_focal_loss"),
    case=Case("y = 1, p = 0.9 (logit z = log(0.9/0.1))", 1.0, math.log(0.9 / 0.1),
               grid=(-8.0, 8.0), more_targets=(0.0,), x_label="logit z"),
    classification=True,
)


class Bernoulli(_Logistic):
    r"""Binary target: sigmoid output and binary cross-entropy of the logit.

    :math:`y \sim \mathrm{Bernoulli}(p)`, :math:`p = \sigma(z)` with the logit :math:`z` the raw
    output (sigmoid activation, the canonical logit link):

    .. math::

        l(y, z) = -y\log\sigma(z) - (1 - y)\log\sigma(-z),
        \qquad \frac{\partial l}{\partial z} = \sigma(z) - y = \hat p - y,
        \qquad \frac{\partial^2 l}{\partial z^2} = \sigma(z)\,\sigma(-z)

    exactly ``-scipy.stats.bernoulli.logpmf(y, expit(z))``, computed from the logit with
    :math:`\log\sigma(z) = \min(z, 0) - \log(1 + e^{-|z|})`, so it is finite for every finite
    logit (never apply a sigmoid before the loss yourself).

    Equivalent loss: :func:`losskit.binary_cross_entropy` (``from_logits=True``; the log loss),
    exactly; with labels :math:`t = 2y - 1` it is the logistic loss
    :math:`\log(1 + e^{-tz})`.

    When to use it: binary targets (yes/no, click/no click); :meth:`predict` gives
    :math:`P(y = 1)`. With ``soft=True`` targets may be any probability in [0, 1] (soft
    labels, proportions): the loss is then the Bernoulli *quasi*-likelihood (its minimiser
    is still the mean of the targets, with the same gradient and hessian), not a
    log-probability.

    Parameters
    ----------
    soft : bool
        Accept targets in [0, 1] rather than only the labels 0 and 1.

    Examples
    --------
    >>> import losskit as lk
    >>> fam = lk.family("bernoulli")
    >>> fam.activation_name, fam.n_outputs()
    ('sigmoid', 1)
    >>> y, raw = [1, 0], [2.0, -1.0]
    >>> round(float(fam.loss(y, raw)), 6)
    0.220095
    >>> [round(v, 6) for v in fam.gradient(y, raw).tolist()]  # probability minus label
    [-0.119203, 0.268941]
    >>> fam.loss([1, 0.5], raw)
    Traceback (most recent call last):
    ...
    ValueError: Bernoulli.loss: y_true has a value that is not 0 or 1 (0.5 at index 1; ...
    """

    name = "bernoulli"
    aliases = ("binary",)
    explanation = _BERNOULLI
    equivalence = ("is binary_cross_entropy(y, raw, from_logits=True) = "
                   "binary_cross_entropy(y, sigmoid(raw)), the log loss")
    # labels: the decision (accuracy, balanced accuracy, F1), the ranking (ROC AUC, average
    # precision) and the probabilities (Brier); soft targets (proportions) report their errors
    default_metrics = ("accuracy_score", "balanced_accuracy_score", "roc_auc_score",
                       "average_precision_score", "f1_score", "brier_score_loss")


_MULTILABEL = LossExplanation(
    formula="l_i = (1/k)·Σ_j [−y_ij·log σ(z_ij) − (1 − y_ij)·log σ(−z_ij)]   (k labels)",
    distribution="k independent Bernoulli labels per sample, y_ij ~ Bernoulli(σ(z_ij)); the "
                 "loss is the joint negative log-likelihood divided by k.",
    raw_output="one logit per label: shape (n, k)",
    gradient="∂/∂z_ij = σ(z_ij) − y_ij per label (of the joint NLL, not divided by k); "
             "∂²/∂z_ij² = σ(z_ij)·σ(−z_ij).",
    when="Tagging: a sample can belong to any number of the k classes.",
    pitfalls=(
        "Never softmax here: the labels do not compete.",
        "loss() averages a sample's labels (as Keras); gradient() is per label, not divided "
        "by k.",
        "Rare labels are learned slowly: weight them (pos_weight in binary_cross_entropy).",
    ),
    related=("bernoulli", "categorical", "binary_cross_entropy"),
    case=Case("y = (1, 0, 1), z = (2, −1, 0.5)", (1.0, 0.0, 1.0), (2.0, -1.0, 0.5), vary=0,
               grid=(-8.0, 8.0), more_targets=((0.0, 0.0, 1.0),),
               x_label="logit z₀ of label 0 (other logits fixed)"),
    classification=True,
)


class MultiLabel(_Logistic):
    r"""Several independent binary labels per sample: one sigmoid output per label.

    Each of the ``k`` labels of a sample is :math:`y_j \sim \mathrm{Bernoulli}(\sigma(z_j))`,
    independently, with the raw outputs :math:`z` of shape ``(n, k)``:

    .. math::

        l_i = \frac1k \sum_{j=1}^k \bigl[-y_{ij}\log\sigma(z_{ij})
              - (1 - y_{ij})\log\sigma(-z_{ij})\bigr],
        \qquad \frac{\partial}{\partial z_{ij}} = \sigma(z_{ij}) - y_{ij},
        \qquad \frac{\partial^2}{\partial z_{ij}^2} = \sigma(z_{ij})\,\sigma(-z_{ij})

    :meth:`loss` averages the labels of a sample (the catalogue's convention, as Keras): it is
    the joint NLL :math:`-\sum_j \log P(y_{ij})` divided by ``k``. :meth:`gradient` and
    :meth:`hessian` are those of each label's NLL (of the joint NLL, not divided by ``k``).
    The hessian is exactly diagonal: labels are independent.

    Equivalent loss: :func:`losskit.binary_cross_entropy` over the last axis
    (``from_logits=True``), exactly.

    When to use it: tagging, where a sample can belong to any number of the ``k`` classes
    (never softmax here: the labels do not compete). ``n_outputs(n_classes=k)`` is ``k``.
    The default metrics score the flattened labels, ``(y.reshape(-1), p.reshape(-1))``
    (micro-averaged: every label decision counts once).

    Parameters
    ----------
    soft : bool
        Accept targets in [0, 1] (soft labels) rather than only 0 and 1: the quasi-likelihood.

    Examples
    --------
    >>> import losskit as lk
    >>> fam = lk.families.MultiLabel()
    >>> fam.n_outputs(n_classes=3)
    3
    >>> y, raw = [[1, 0, 1]], [[0.0, 0.0, 0.0]]
    >>> round(float(fam.loss(y, raw)), 6)  # log 2
    0.693147
    >>> fam.gradient(y, raw).tolist()
    [[-0.5, 0.5, -0.5]]
    """

    name = "multilabel"
    aliases = ("multi-label", "multi label")
    explanation = _MULTILABEL
    outputs_per_target = None
    equivalence = ("is binary_cross_entropy(y, raw, from_logits=True) with the labels along the "
                   "last axis: the joint Bernoulli NLL divided by the number of labels")
    default_metrics = ("f1_score", "average_precision_score", "roc_auc_score",
                       "brier_score_loss")  # type: ignore[assignment]
    _shape_fix = "Pass one 0/1 column per label: y_true and raw both of shape (n, k)"

    def _check_raw_layout(self, func: str, shape: tuple[int, ...]) -> None:
        if len(shape) < 2:
            fail(func, "raw", f"has shape {shape} but MultiLabel needs one logit per label "
                 "along the last axis", "Pass raw of shape (n, k) (one sample: reshape to "
                 "(1, k)); for a single binary label use Bernoulli")


_CATEGORICAL = LossExplanation(
    formula="l(y, z) = −log softmax(z)_y = logsumexp(z) − z_y,   y ∈ {0, …, C − 1}",
    distribution="Categorical(p) with p = softmax(z): one of C classes. The loss is exactly "
                 "−log p_y, computed with log-softmax.",
    raw_output="C logits per sample: shape (n, C)",
    gradient="∂l/∂z_c = p_c − [c = y]  (canonical link: probabilities minus one-hot); "
             "diagonal hessian p_c·(1 − p_c).",
    when="Exactly one of C mutually exclusive classes per sample; predict() gives the "
         "class probabilities.",
    pitfalls=(
        "Never apply softmax before the loss yourself: the family takes the logits.",
        "Labels are integers 0..C−1 (pass the argmax of one-hot rows).",
        "The hessian is the diagonal of diag(p) − p·pᵀ (what boosting libraries use).",
    ),
    related=("bernoulli", "multilabel", "sparse_categorical_cross_entropy",
             "categorical_cross_entropy"),
    case=Case("y = 0 (class 0 of 3), p = (0.7, 0.2, 0.1) (logits z = log p)", 0,
               tuple(math.log(p) for p in (0.7, 0.2, 0.1)), vary=0, grid=(-8.0, 8.0),
               more_targets=(1,), x_label="logit z₀ of class 0 (other logits fixed)"),
    classification=True,
)


class Categorical(Family):
    r"""One class out of ``C``: softmax output and cross-entropy of the logits.

    :math:`y \sim \mathrm{Categorical}(p)`, :math:`p = \mathrm{softmax}(z)` with the ``C``
    logits :math:`z` the raw outputs (softmax activation, the canonical multinomial-logit
    link) and :math:`y` an integer label:

    .. math::

        l(y, z) = -\log p_y = \log\sum_{c} e^{z_c} - z_y,
        \qquad \frac{\partial l}{\partial z_c} = p_c - [c = y],
        \qquad \frac{\partial^2 l}{\partial z_c^2} = p_c(1 - p_c)

    exactly ``-scipy.stats.multinomial.logpmf(onehot(y), 1, softmax(z))``, computed with
    log-softmax (finite for any finite logits; never apply softmax before the loss yourself).
    :meth:`hessian` is the diagonal of the full hessian :math:`\mathrm{diag}(p) - pp^\top`
    (what gradient-boosting libraries use for multi-class objectives).

    Equivalent loss: :func:`losskit.sparse_categorical_cross_entropy` with
    ``from_logits=True`` (= :func:`losskit.categorical_cross_entropy` of the one-hot target and
    ``softmax(raw)``), exactly.

    When to use it: exactly one of ``C`` mutually exclusive classes per sample
    (``n_outputs(n_classes=C)`` is ``C``). :meth:`predict` gives the class probabilities.

    Examples
    --------
    >>> import losskit as lk
    >>> fam = lk.families.Categorical()
    >>> y, raw = [0, 2], [[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    >>> round(float(fam.loss(y, raw)), 6)
    0.753109
    >>> [round(v, 4) for v in fam.gradient(y, raw)[0].tolist()]  # probabilities minus one-hot
    [-0.3348, 0.2447, 0.0900]
    >>> fam.loss([0, 3], raw)
    Traceback (most recent call last):
    ...
    ValueError: Categorical.loss: y_true has a value outside [0, 3) (3 at index 1; ...
    """

    name = "categorical"
    aliases = ("multinomial", "multiclass", "softmax")
    explanation = _CATEGORICAL
    activation_name = "softmax"
    link_name = "multinomial logit"
    canonical = True
    domain = "integer class labels 0, 1, ..., C - 1"
    outputs_per_target = None
    loss_name = "sparse_categorical_cross_entropy"
    equivalent_loss = "sparse_categorical_cross_entropy"
    equivalence = ("is sparse_categorical_cross_entropy(y, raw, from_logits=True) = "
                   "categorical_cross_entropy(one_hot(y), softmax(raw))")
    # (no one-vs-rest ROC AUC: it is undefined on a validation split that misses a class)
    default_metrics = ("accuracy_score", "balanced_accuracy_score", "top_k_accuracy_score",
                       "brier_score_loss")
    _fixed_options = ("from_logits", "axis")
    _raw_may_be_infinite = True
    _labels = True
    # the kernel takes integer labels in [0, C) (one aminmax) and no ignore_index
    _native_validates = True
    _shape_fix = ("Pass one integer label per sample (raw's shape without the class axis); for "
                  "one-hot targets pass their argmax along the last axis")

    def __init__(self) -> None:
        self._freeze()

    def _check_raw_layout(self, func: str, shape: tuple[int, ...]) -> None:
        if len(shape) < 2 or shape[-1] < 2:
            fail(func, "raw", f"has shape {shape} but Categorical needs C >= 2 logits per "
                 "sample along the last axis", "Pass raw of shape (n, C); for a single logit "
                 "per sample use Bernoulli")

    def _target_shape(self, raw_shape: tuple[int, ...]) -> tuple[int, ...]:
        return raw_shape[:-1]

    def _sample_shape(self, y_shape: tuple[int, ...]) -> tuple[int, ...]:
        return y_shape

    def _check_domain(self, func: str, xp: Namespace, y: Array, raw_shape: tuple[int, ...],
                      ignore_index: int | None) -> None:
        if ignore_index is None and raw_shape and self._within(
                func, xp, y, low=0.0, high=raw_shape[-1] - 1, integral=True):
            return
        self._require(func, xp, y, self._integral(xp, y), "that is not an integer",
                      "Pass integer class labels (map them to 0..C-1, e.g. with "
                      "numpy.unique(..., return_inverse=True))")
        skip = (y == ignore_index) if ignore_index is not None else None
        high = raw_shape[-1] if raw_shape else None
        ok = (y >= 0) if high is None else (y >= 0) & (y < high)
        shown = "below 0" if high is None else f"outside [0, {high})"
        self._require(func, xp, y, ok if skip is None else ok | skip, shown,
                      "Labels index the C classes of raw's last axis; map them to 0..C-1 "
                      "(e.g. with numpy.unique(..., return_inverse=True))")

    def _activation(self, xp: Namespace, raw: Array) -> Array:
        return xp.exp(log_softmax(xp, raw))

    def _loss_options(self) -> dict[str, Any]:
        return {"from_logits": True}
