"""Output heads: which raw outputs a loss needs, how they become predictions.

A head joins a losskit loss to the network: the number of raw outputs, the transform from raw
outputs to the loss's ``y_pred`` (a torch operation, so autograd flows through the loss), the
fixed options (``from_logits=True`` and the like: the output activation is applied *inside*
the loss, where it is numerically stable) and the prediction (the activation applied
explicitly). :data:`LOSS_HEADS` is the catalogue of loss names the estimators accept.

Likelihood families (``losskit.families``) describe the same thing from the distribution's side;
this module is the small, self-contained mapping the network layer needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import losskit as lk
from losskit import metrics as lkm
from losskit._array import torch_softmax
from losskit._validation import fail
from losskit.losses import spec_of

__all__ = ["FAMILY_HEADS", "LOSS_HEADS", "Head", "LossSpec", "advised_loss", "loss_spec",
           "metric_function"]


@dataclass(frozen=True)
class LossSpec:
    """How one loss is attached to a network (see the module docstring).

    ``activation`` names the output activation: ``identity``, ``exp`` (log link), ``sigmoid``,
    ``softmax`` or ``gaussian`` (mean and log standard deviation per target). ``on_logits``
    says whether the loss receives the raw outputs (the activation inside the loss, no
    saturation) or the activated outputs (probabilities: a sigmoid or softmax followed by
    e.g. MSE, whose gradient vanishes when the outputs saturate).
    """

    name: str
    task: str  # "regression" | "classification"
    activation: str
    fn: Callable | None
    options: dict[str, Any] = field(default_factory=dict)
    on_logits: bool = True
    outputs_per_target: int = 1
    user_fn: Callable | None = None  # a callable (y_true, y_pred) -> per-sample loss
    family: Any = None  # a losskit.families.Family: its loss(y, raw) and predict(raw)


def _spec(name: str, task: str, activation: str, fn: Callable | None, *, on_logits: bool = True,
          per_target: int = 1, **options: Any) -> LossSpec:
    return LossSpec(name, task, activation, fn, dict(options), on_logits, per_target)


def _family_head(name: str, family: Any) -> LossSpec:
    """A named head that trains a likelihood family (its loss, layout and prediction)."""
    return LossSpec(name, "regression", family.activation_name, None, on_logits=True,
                    outputs_per_target=family.outputs_per_target or 1, family=family)


#: every loss name the heads know, with its output activation and fixed options
LOSS_HEADS: dict[str, LossSpec] = {
    # regression: the raw output is the prediction (identity), or its log (exp output)
    "mean_squared_error": _spec("mean_squared_error", "regression", "identity",
                                lk.mean_squared_error),
    "mean_absolute_error": _spec("mean_absolute_error", "regression", "identity",
                                 lk.mean_absolute_error),
    "huber_loss": _spec("huber_loss", "regression", "identity", lk.huber_loss),
    "log_cosh_loss": _spec("log_cosh_loss", "regression", "identity", lk.log_cosh_loss),
    "poisson_nll": _spec("poisson_nll", "regression", "exp", lk.poisson_nll, log_input=True),
    "gamma_nll": _spec("gamma_nll", "regression", "exp", lk.gamma_nll, log_input=True),
    "tweedie_deviance": _spec("tweedie_deviance", "regression", "exp", lk.tweedie_deviance,
                              log_input=True, power=1.5),
    # over-dispersed counts: a log-mean and a log-dispersion per target (the family's layout)
    "negative_binomial_nll": _family_head("negative_binomial_nll",
                                          lk.families.NegativeBinomial()),
    "laplace_nll": _spec("laplace_nll", "regression", "identity", lk.laplace_nll),
    "pinball_loss": _spec("pinball_loss", "regression", "identity", lk.pinball_loss),
    "mean_absolute_percentage_error": _spec("mean_absolute_percentage_error", "regression",
                                            "identity", lk.mean_absolute_percentage_error),
    # heteroscedastic Gaussian: a mean and a log standard deviation per target (the exact
    # Gaussian NLL as a one-component mixture, so the raw outputs go in as they are)
    "gaussian_nll": _spec("gaussian_nll", "regression", "gaussian", lk.gaussian_mixture_nll,
                          per_target=2, log_scale=True),
    # classification: logits in, the activation inside the loss
    "binary_cross_entropy": _spec("binary_cross_entropy", "classification", "sigmoid",
                                  lk.binary_cross_entropy, from_logits=True),
    "sparse_categorical_cross_entropy": _spec("sparse_categorical_cross_entropy",
                                              "classification", "softmax",
                                              lk.sparse_categorical_cross_entropy,
                                              from_logits=True),
    "binary_focal_loss": _spec("binary_focal_loss", "classification", "sigmoid",
                               lk.binary_focal_loss, from_logits=True),
    "categorical_focal_loss": _spec("categorical_focal_loss", "classification", "softmax",
                                    lk.categorical_focal_loss, from_logits=True),
    "kl_divergence": _spec("kl_divergence", "classification", "softmax", lk.kl_divergence,
                           from_logits=True),
    # margin losses: the raw output is a score (its sign is the decision), with 0/1 labels
    # taken as -1/+1; the sigmoid of the score ranks samples for the metrics (AUC), but it
    # is not a calibrated probability
    "hinge_loss": _spec("hinge_loss", "classification", "sigmoid", lk.hinge_loss),
    "squared_hinge_loss": _spec("squared_hinge_loss", "classification", "sigmoid",
                                lk.squared_hinge_loss),
    "categorical_hinge_loss": _spec("categorical_hinge_loss", "classification", "softmax",
                                    lk.categorical_hinge_loss),
}

#: the losses whose minimiser is a likelihood's (Kendall's weighting factor 1 in multi-task)
_NLL_HEADS = ("binary_cross_entropy", "sparse_categorical_cross_entropy", "gaussian_nll",
              "poisson_nll", "gamma_nll", "negative_binomial_nll", "laplace_nll")

#: the family whose metrics a regression head reports (the others: the Gaussian's)
_METRICS_FAMILY = {"poisson_nll": "poisson", "tweedie_deviance": "poisson",
                   "negative_binomial_nll": "negative_binomial", "gamma_nll": "gamma",
                   "laplace_nll": "laplace", "mean_absolute_error": "laplace",
                   "pinball_loss": "laplace"}

#: the head that trains each family ``losskit.advise`` picks: its loss is the family's NLL
#: (for the Gaussian, the mean squared error: the same minimiser, the NLL up to scale and a
#: constant; ``gaussian_nll`` names the heteroscedastic head, a mean and a variance per target)
FAMILY_HEADS: dict[str, str] = {
    "gaussian": "mean_squared_error", "laplace": "mean_absolute_error",
    "poisson": "poisson_nll", "negative_binomial": "negative_binomial_nll",
    "gamma": "gamma_nll", "heteroscedastic_gaussian": "gaussian_nll",
    "bernoulli": "binary_cross_entropy", "categorical": "sparse_categorical_cross_entropy",
}


def advised_loss(advice: Any) -> str:
    """The head name that trains ``advice`` (a :class:`losskit.advise.Advice`): the head of
    the family it picks (:data:`FAMILY_HEADS`), so that ``fit`` trains what ``advise`` says.

    Examples
    --------
    >>> import losskit as lk
    >>> from losskit.nn._heads import advised_loss
    >>> advised_loss(lk.advise([0.5, 1.5, -2.0, 3.1, 0.2, -0.7]))
    'mean_squared_error'
    >>> advised_loss(lk.advise(["a", "b", "c", "a"] * 5))
    'sparse_categorical_cross_entropy'
    """
    name = FAMILY_HEADS.get(advice.family)
    if name is None:
        fail("advise", "target", f"is a {advice.task} target (family {advice.family!r}), "
             "which no network head trains", "Pass --loss, or use one target column")
    return name


#: other names for the same heads (scikit-learn's and common short names)
ALIASES: dict[str, str] = {
    "mse": "mean_squared_error", "squared_error": "mean_squared_error",
    "mae": "mean_absolute_error", "absolute_error": "mean_absolute_error",
    "huber": "huber_loss", "log_cosh": "log_cosh_loss", "poisson": "poisson_nll",
    "gamma": "gamma_nll", "tweedie": "tweedie_deviance", "gaussian": "gaussian_nll",
    "negative_binomial": "negative_binomial_nll", "hinge": "hinge_loss",
    "squared_hinge": "squared_hinge_loss", "laplace": "laplace_nll", "pinball": "pinball_loss",
    "mape": "mean_absolute_percentage_error",
    "log_loss": "cross_entropy", "categorical_cross_entropy": "cross_entropy",
    "bce": "binary_cross_entropy",
}

_CLASSIFICATION_ONLY = ("cross_entropy",)


def loss_spec(func: str, loss: Any, task: str, n_classes: int | None = None) -> LossSpec:
    """The head spec of ``loss`` (a name, a losskit loss function, or a callable) for ``task``.

    ``"cross_entropy"`` is binary cross-entropy (one sigmoid output) for two classes and sparse
    categorical cross-entropy (softmax) for more; ``"mean_squared_error"`` for a classifier is
    the squared error of the predicted probabilities (sigmoid or softmax outputs).
    """
    from losskit.families import Family

    if isinstance(loss, Family):
        return _family_spec(func, loss, task, n_classes)
    if callable(loss) and not isinstance(loss, str):
        name = getattr(loss, "__name__", None)
        if spec_of(loss) is not None and name is not None:
            loss = name  # a losskit loss: use its head
        else:
            return LossSpec(getattr(loss, "__name__", "custom"), task,
                            "identity" if task == "regression" else "softmax", None,
                            on_logits=False, user_fn=loss)
    if not isinstance(loss, str):
        fail(func, "loss", f"is {type(loss).__name__}", "Pass a loss name (e.g. "
             "'mean_squared_error'), a losskit loss function or a callable "
             "(y_true, y_pred) -> per-sample loss", TypeError)
    name = ALIASES.get(loss, loss)
    if task == "classification":
        if name == "cross_entropy":
            name = ("binary_cross_entropy" if n_classes is not None and n_classes <= 2
                    else "sparse_categorical_cross_entropy")
        if name == "binary_cross_entropy" and n_classes is not None and n_classes > 2:
            fail(func, "loss", f"is 'binary_cross_entropy' but y has {n_classes} classes",
                 "Use 'cross_entropy' (softmax) for more than two classes")
        if name == "mean_squared_error":
            act = "sigmoid" if n_classes is not None and n_classes <= 2 else "softmax"
            return _spec("mean_squared_error", "classification", act, lk.mean_squared_error,
                         on_logits=False)
    if task == "regression" and name == "binary_cross_entropy":
        # proportions in [0, 1] as targets: one sigmoid output, the Bernoulli quasi-likelihood
        # (its minimiser is the mean proportion); the sigmoid keeps predictions in (0, 1)
        return _spec("binary_cross_entropy", "regression", "sigmoid", lk.binary_cross_entropy,
                     from_logits=True)
    known = [k for k, v in LOSS_HEADS.items() if v.task == task]
    if task == "regression":
        known.append("binary_cross_entropy")
    if task == "classification":
        known = ["cross_entropy", "mean_squared_error", *known]
    spec = LOSS_HEADS.get(name)
    if spec is None or spec.task != task:
        fail(func, "loss", f"is {loss!r}, which is not a {task} loss the network knows",
             f"Pass one of {', '.join(known)}, or a callable")
    binary_only = {"binary_focal_loss": "categorical_focal_loss",
                   "hinge_loss": "categorical_hinge_loss",
                   "squared_hinge_loss": "categorical_hinge_loss"}
    if name in binary_only and n_classes is not None and n_classes > 2:
        fail(func, "loss", f"is {name!r} but y has {n_classes} classes",
             f"Use {binary_only[name]!r} for more than two classes")
    return spec


def _family_spec(func: str, family: Any, task: str, n_classes: int | None) -> LossSpec:
    from losskit.families import Bernoulli, Categorical

    fam_task = "classification" if isinstance(family, (Bernoulli, Categorical)) else \
        "regression"
    if fam_task != task or (isinstance(family, Bernoulli) and n_classes not in (None, 2)):
        fail(func, "loss", f"is the family {family!r}, which does not fit this {task} "
             f"target{'' if n_classes is None else f' with {n_classes} classes'}",
             "Pass Gaussian, Poisson, Gamma ... for regression, Bernoulli for two classes, "
             "Categorical for any number of classes")
    per = family.outputs_per_target or 1
    return LossSpec(repr(family), task, family.activation_name, None, on_logits=True,
                    outputs_per_target=per, family=family)


_METRICS = {name: getattr(lkm, name) for name in lkm.__all__}


def metric_function(func: str, name: Any) -> Callable:
    """A losskit metric from its name (``"accuracy"`` or ``"accuracy_score"``) or itself."""
    if callable(name) and getattr(name, "__losskit_metric__", None) is not None:
        return name
    if isinstance(name, str):
        for key in (name, f"{name}_score", f"{name}_error"):
            if key in _METRICS:
                return _METRICS[key]
        if name == "rmse":
            return lkm.root_mean_squared_error
    fail(func, "metrics", f"contains {name!r}, which is not a losskit metric",
         f"Pass names from losskit.metrics: {', '.join(sorted(_METRICS))}")
    raise AssertionError  # pragma: no cover


class Head:
    r"""One output of a network: a loss, its raw outputs, its weight in the total loss.

    Parameters
    ----------
    loss : str, losskit loss or callable
        A name from :data:`LOSS_HEADS` (or ``"cross_entropy"`` for a classifier), a losskit
        loss function, or ``(y_true, y_pred) -> per-sample loss`` written with array
        operations (``y_pred`` is the raw output for regression, the softmax probabilities for
        classification, with one-hot ``y_true``).
    task : {"regression", "classification"}
    n_targets : int
        Regression targets (columns of ``y``).
    n_classes : int, optional
        Classes, for classification (labels ``0 .. n_classes - 1``).
    weight : float
        Weight of this head's loss in the total loss (auxiliary losses get less).

    Examples
    --------
    >>> from losskit.nn import Head
    >>> Head("cross_entropy", task="classification", n_classes=3).n_outputs
    3
    >>> Head("gaussian_nll", n_targets=2).n_outputs
    4
    """

    def __init__(self, loss: Any = "mean_squared_error", *, task: str = "regression",
                 n_targets: int = 1, n_classes: int | None = None, weight: float = 1.0
                 ) -> None:
        if task not in ("regression", "classification"):
            fail("Head", "task", f"is {task!r}", "Pass 'regression' or 'classification'")
        if task == "classification" and (n_classes is None or n_classes < 2):
            fail("Head", "n_classes", f"is {n_classes!r}", "Pass the number of classes (>= 2)")
        if not (isinstance(n_targets, int) and n_targets >= 1):
            fail("Head", "n_targets", f"is {n_targets!r}", "Pass a positive integer")
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
            fail("Head", "weight", f"is {weight!r}", "Pass a finite number >= 0")
        self.spec = loss_spec("Head", loss, task, n_classes)
        self.loss = loss
        self.task = task
        self.n_targets = n_targets if task == "regression" else 1
        self.n_classes = n_classes
        self.weight = float(weight)

    # ------------------------------------------------------------------------------ layout

    @property
    def activation(self) -> str:
        return self.spec.activation

    @property
    def n_outputs(self) -> int:
        """Raw outputs of this head (the width of its last linear layer)."""
        if self.task == "regression":
            return self.n_targets * self.spec.outputs_per_target
        return 1 if self.spec.activation == "sigmoid" else int(self.n_classes)

    @property
    def default_metrics(self) -> tuple[str, ...]:
        """Metrics recorded when none are chosen: those ``losskit.advise`` recommends for the
        task, read from the same family (``default_metrics``): the head's own family, else
        Bernoulli (one sigmoid output) or Categorical for classification, and for regression
        the family whose mean the loss fits (Poisson and Gamma deviances where they apply)."""
        if self.spec.family is not None:
            return tuple(self.spec.family.default_metrics)
        if self.task == "classification":
            name = "bernoulli" if self.spec.activation == "sigmoid" else "categorical"
        else:
            name = _METRICS_FAMILY.get(self.spec.name, "gaussian")
        return tuple(lk.family(name).default_metrics)

    @property
    def is_nll(self) -> bool:
        """Whether the loss is a negative log-likelihood (Kendall's weighting factor 1)."""
        return self.spec.name in _NLL_HEADS

    def describe(self) -> str:
        how = "inside the loss" if self.spec.on_logits else "before the loss"
        return (f"{self.n_outputs} raw output(s), {self.spec.activation} activation ({how}), "
                f"loss {self.spec.name}")

    # ------------------------------------------------------------------------ torch parts

    def target(self, y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The loss's ``y_true`` from encoded targets (regression ``(n, d)`` floats or class
        indices ``(n,)``)."""
        fam = self.spec.family
        if self.task == "regression":
            return y.to(dtype)
        if fam is not None:
            return y.to(dtype) if self.spec.activation == "sigmoid" else y.to(torch.int64)
        if self.spec.fn is lk.sparse_categorical_cross_entropy:
            return y.to(torch.int64)
        if self.spec.activation == "sigmoid":
            return y.to(dtype).reshape(-1, 1)
        return torch.nn.functional.one_hot(y.to(torch.int64), int(self.n_classes)).to(dtype)

    def loss_input(self, raw: torch.Tensor) -> torch.Tensor:
        """The loss's ``y_pred`` from the raw outputs (differentiable)."""
        act = self.spec.activation
        if self.spec.family is not None:  # the family's layout: raw of y's shape (+ blocks)
            if self.task == "classification":
                return raw[:, 0] if act == "sigmoid" else raw
            k = self.spec.outputs_per_target
            return raw if k == 1 else raw.reshape(raw.shape[0], self.n_targets, k)
        if act == "gaussian":
            d = self.n_targets
            mu, log_sd = raw[:, :d], raw[:, d:]
            return torch.stack([torch.zeros_like(mu), mu, log_sd], dim=-1)
        if self.spec.on_logits:
            return raw
        return self.activate(raw)

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        """The output activation: predictions (regression) or class probabilities."""
        act = self.spec.activation
        if self.spec.family is not None:
            pred = self.spec.family.predict(self.loss_input(raw), check_values=False)
            return pred.reshape(raw.shape[0], -1)
        if act == "identity":
            return raw
        if act == "exp":
            return torch.exp(raw)
        if act == "gaussian":
            return raw[:, : self.n_targets]
        if act == "sigmoid":
            return torch.sigmoid(raw)
        return torch_softmax(raw)

    def probabilities(self, raw: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(n, n_classes)`` (classification)."""
        p = self.activate(raw)
        if self.spec.activation == "sigmoid":
            return torch.cat([1.0 - p, p], dim=1)
        return p

    def batch_loss(self, y_true: torch.Tensor, raw: torch.Tensor,
                   weight: torch.Tensor | None, check_values: bool = False) -> torch.Tensor:
        """The weighted mean loss of a batch, differentiable w.r.t. ``raw``."""
        y_pred = self.loss_input(raw)
        if self.spec.family is not None:
            return self.spec.family.loss(y_true, y_pred, sample_weight=weight,
                                         check_values=check_values)
        if self.spec.user_fn is not None:
            per = _user_per_sample(self.spec.user_fn, y_true, y_pred)
            if weight is None:
                return torch.mean(per)
            return torch.sum(per * weight) / torch.sum(weight)
        return self.spec.fn(y_true, y_pred, sample_weight=weight, check_values=check_values,
                            **self.spec.options)

    def accumulator(self) -> Any:
        """An exact streaming accumulator of this head's loss (losskit loss or callable)."""
        if self.spec.fn is None:
            return _SumAccumulator(self)
        return _LossAccumulator(self)

    def per_sample(self, y_true: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """Per-sample losses (for a family or a callable)."""
        y_pred = self.loss_input(raw)
        if self.spec.family is not None:
            return self.spec.family.loss(y_true, y_pred, reduction="none", check_values=False)
        return _user_per_sample(self.spec.user_fn, y_true, y_pred)

    def baseline_raw(self, y: np.ndarray) -> np.ndarray | None:
        """Raw outputs of the best constant model: the mean (or its log), the class prior
        (``None`` where there is no simple closed form, e.g. mixtures)."""
        act = self.spec.activation
        if self.spec.family is not None and self.task == "regression":
            mean = np.mean(y, axis=0)
            if act == "identity":
                return mean
            if act == "exp":
                return np.log(np.maximum(mean, 1e-12))
            if act == "identity,exp":  # mean and log variance per target, interleaved
                var = np.maximum(np.var(y, axis=0), 1e-12)
                return np.stack([mean, np.log(var)], axis=1).reshape(-1)
            if act == "exp,exp":  # log-mean and log-dispersion per target, interleaved
                mean = np.maximum(mean, 1e-12)
                # the method of moments: variance = mean + alpha mean^2
                alpha = np.clip((np.var(y, axis=0) - mean) / mean**2, 1e-3, 1e3)
                return np.stack([np.log(mean), np.log(alpha)], axis=1).reshape(-1)
            return None
        tiny = 1e-12
        if self.task == "classification":
            prior = np.bincount(y.astype(np.int64), minlength=int(self.n_classes)) / len(y)
            prior = np.clip(prior, tiny, 1.0)
            if act == "sigmoid":
                p = float(np.clip(prior[1], tiny, 1 - tiny))
                return np.array([math.log(p / (1 - p))])
            return np.log(prior)
        mean = np.mean(y, axis=0)
        if act == "exp":
            return np.log(np.maximum(mean, tiny))
        if act == "sigmoid":  # proportions: the logit of the mean proportion
            p = np.clip(mean, 1e-6, 1 - 1e-6)
            return np.log(p) - np.log1p(-p)
        if act == "gaussian":
            sd = np.maximum(np.std(y, axis=0), 1e-6)
            return np.concatenate([mean, np.log(sd)])
        return mean


def _user_per_sample(fn: Callable, y_true: torch.Tensor, y_pred: torch.Tensor
                     ) -> torch.Tensor:
    per = fn(y_true, y_pred)
    if not isinstance(per, torch.Tensor):
        fail("loss", "callable", f"returned {type(per).__name__}", "Write the loss with "
             "array operations on its arguments (it receives torch tensors) and return "
             "one loss per sample", TypeError)
    if per.ndim == 2 and per.shape[0] == y_true.shape[0]:
        per = torch.mean(per, dim=1)
    if per.ndim != 1 or per.shape[0] != y_true.shape[0]:
        fail("loss", "callable", f"returned shape {tuple(per.shape)} for {y_true.shape[0]} "
             "samples", "Return one loss per sample (shape (n,))")
    return per


class _LossAccumulator:
    """``lk.Accumulator`` of the head's losskit loss, fed raw outputs."""

    def __init__(self, head: Head) -> None:
        self.head = head
        self.acc = lk.Accumulator(head.spec.fn, check_values=False, **head.spec.options)

    def update(self, y_true: torch.Tensor, raw: torch.Tensor, weight: Any = None) -> None:
        with torch.no_grad():
            self.acc.update(y_true, self.head.loss_input(raw), weight)

    def result(self) -> float:
        return float(self.acc.result())


class _SumAccumulator:
    """Exact streaming mean of per-sample losses (a family's, a user's callable): float64 sums
    of ``w l`` and ``w``."""

    def __init__(self, head: Head) -> None:
        self.head = head
        self.total = 0.0
        self.weight = 0.0

    def update(self, y_true: torch.Tensor, raw: torch.Tensor, weight: Any = None) -> None:
        with torch.no_grad():
            per = self.head.per_sample(y_true, raw).to(torch.float64)
            if weight is None:
                self.total += float(torch.sum(per))
                self.weight += per.shape[0]
            else:
                w = weight.to(torch.float64)
                self.total += float(torch.sum(per * w))
                self.weight += float(torch.sum(w))

    def result(self) -> float:
        return self.total / self.weight if self.weight > 0 else math.nan
