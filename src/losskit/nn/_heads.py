"""Output heads: a likelihood family joined to the network, and the loss it trains.

A head reads everything about the network's last layer from a likelihood family
(``losskit.families``): the number of raw outputs and their layout, the output activation
(applied *inside* the loss, where it is numerically stable: ``from_logits=True``,
``log_input=True``), the prediction, the constant baseline and the default metrics. The loss
it trains is the family's negative log-likelihood (``loss_name`` with the family's
``loss_options``) or another loss of the same raw outputs (the mean squared error of the
Gaussian's mean, a focal loss of the Bernoulli's logit), given the family's raw-space options.

:data:`HEAD_FAMILIES` declares the family of each loss name the estimators accept;
:data:`MARGIN_HEADS` the margin losses, which have no likelihood. Nothing else is declared
per loss: the options, the task and the metrics all come from the family.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from losskit import families as lkf
from losskit import metrics as lkm
from losskit._array import sigmoid, torch_softmax
from losskit._validation import fail
from losskit.families import Family
from losskit.losses import (
    loss_functions,
    mean_squared_error,
    sparse_categorical_cross_entropy,
    spec_of,
)
from losskit.metrics import Accumulator
from losskit.nn._parameters import HEAD_PARAMETERS, check_parameters

if TYPE_CHECKING:
    import torch

__all__ = ["FAMILY_HEADS", "HEAD_FAMILIES", "LOSS_HEADS", "MARGIN_HEADS", "Head", "HeadSpec",
           "advised_loss", "family_head", "heads_from_config", "loss_spec", "metric_function",
           "no_grad", "upgrade_state"]


@dataclass(frozen=True)
class HeadSpec:
    """How one loss is attached to a network (see the module docstring).

    ``activation`` is the family's ``activation_name`` (``identity``, ``exp``, ``sigmoid``,
    ``softmax``, ``identity,exp`` ...). ``on_logits`` says whether the loss receives the raw
    outputs (the activation inside the loss, no saturation) or the activated outputs
    (probabilities: a sigmoid or softmax followed by e.g. MSE, whose gradient vanishes when
    the outputs saturate). With ``fn`` ``None`` and a ``family`` the loss is
    ``family.loss`` of the raw outputs in the family's layout (families that split their raw
    outputs: a mean and a log-variance, a log-mean and a log-dispersion).
    """

    name: str
    task: str  # "regression" | "classification"
    activation: str
    fn: Callable | None
    options: dict[str, Any] = field(default_factory=dict)
    on_logits: bool = True
    outputs_per_target: int = 1
    user_fn: Callable | None = None  # a callable (y_true, y_pred) -> per-sample loss
    #: the likelihood family whose raw outputs the loss reads (``None``: margin, callable)
    family: Family | None = None
    #: the family was passed as the loss (its parameters are in the target's units)
    given_family: bool = False

    @property
    def via_family(self) -> bool:
        """Whether the loss is ``family.loss`` of the raw outputs in the family's layout."""
        return self.fn is None and self.user_fn is None and self.family is not None


#: the family whose raw outputs each loss name reads: the last layer's width and layout, the
#: activation, the prediction, the baseline and the default metrics come from it
HEAD_FAMILIES: Mapping[str, str] = MappingProxyType({
    "mean_squared_error": "gaussian", "huber_loss": "gaussian", "log_cosh_loss": "gaussian",
    "mean_absolute_percentage_error": "gaussian",
    "mean_absolute_error": "laplace", "pinball_loss": "laplace", "laplace_nll": "laplace",
    # a mean and a log-variance per target, interleaved (HeteroscedasticGaussian's layout)
    "gaussian_nll": "heteroscedastic_gaussian",
    "poisson_nll": "poisson", "tweedie_deviance": "poisson", "gamma_nll": "gamma",
    "negative_binomial_nll": "negative_binomial",
    "binary_cross_entropy": "bernoulli", "binary_focal_loss": "bernoulli",
    "sparse_categorical_cross_entropy": "categorical", "categorical_focal_loss": "categorical",
    "kl_divergence": "categorical",
})

#: margin losses have no likelihood: the raw output is a score whose sign is the decision
#: (0/1 labels taken as -1/+1); its sigmoid (softmax) ranks samples for the metrics (AUC),
#: but it is not a calibrated probability. The activation the metrics read:
MARGIN_HEADS: Mapping[str, str] = MappingProxyType({
    "hinge_loss": "sigmoid", "squared_hinge_loss": "sigmoid",
    "categorical_hinge_loss": "softmax"})

#: options a loss needs beyond its family's (the compound Poisson-Gamma of the counts family)
_EXTRA_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "tweedie_deviance": MappingProxyType({"power": 1.5})})

_CLASSIFICATION_FAMILIES = ("bernoulli", "categorical")


def _family_task(fam: Family) -> str:
    return "classification" if fam.name in _CLASSIFICATION_FAMILIES else "regression"


def _head_options(name: str, fn: Callable, fam: Family) -> dict[str, Any]:
    """The family's loss options for its own NLL; its raw-space options (``from_logits``,
    ``log_input``) for another loss of the same raw outputs."""
    if name == fam.loss_name and fam.loss_options is not None:
        options = fam.loss_options
    else:
        accepted = spec_of(fn).options  # type: ignore[union-attr]
        options = {k: v for k, v in fam.raw_space_options.items() if k in accepted}
    return {**options, **_EXTRA_OPTIONS.get(name, {})}


def _head_of(name: str, fam: Family, task: str, *, given: bool = False,
             fn: Callable | None = None) -> HeadSpec:
    """The head that trains ``name`` (or, without ``fn``, ``fam.loss``) on ``fam``'s raw
    outputs; families that split their raw outputs compute their NLL themselves."""
    per = fam.outputs_per_target or 1
    if fn is not None and (fam.loss_options is None or per > 1) and name == fam.loss_name:
        fn = None
    options = {} if fn is None else _head_options(name, fn, fam)
    return HeadSpec(name, task, fam.activation_name, fn, options, True, per, family=fam,
                    given_family=given)


def _named(name: str, task: str) -> HeadSpec | None:
    """The declared head of the loss called ``name`` (``None``: not a loss heads know)."""
    fn = loss_functions()[name]
    if name in MARGIN_HEADS:
        return HeadSpec(name, "classification", MARGIN_HEADS[name], fn)
    family_name = HEAD_FAMILIES.get(name)
    if family_name is None:
        return None
    if task == "regression" and family_name == "bernoulli" and name == "binary_cross_entropy":
        # proportions in [0, 1] as targets: one sigmoid output, the Bernoulli quasi-likelihood
        # (its minimiser is the mean proportion); the sigmoid keeps predictions in (0, 1)
        return _head_of(name, lkf.family("bernoulli", soft=True), "regression", fn=fn)
    fam = lkf.family(family_name)
    return _head_of(name, fam, _family_task(fam), fn=fn)


#: every loss name the heads know, with its head (read from :data:`HEAD_FAMILIES` and
#: :data:`MARGIN_HEADS`; nothing here is declared per loss)
LOSS_HEADS: Mapping[str, HeadSpec] = MappingProxyType({
    name: _named(name, "") for name in (*HEAD_FAMILIES, *MARGIN_HEADS)})


def family_head(fam: Family) -> str | None:
    """The loss name whose head trains ``fam``: its NLL (``loss_name``) where a head reads
    that loss through this family, else its ``equivalent_loss`` (the Gaussian's mean squared
    error: the same minimiser); ``None`` where no head trains it.

    Examples
    --------
    >>> import losskit as lk
    >>> from losskit.nn._heads import family_head
    >>> family_head(lk.families.Gaussian()), family_head(lk.families.Poisson())
    ('mean_squared_error', 'poisson_nll')
    >>> family_head(lk.families.MultiLabel()) is None
    True
    """
    for name in (fam.loss_name, fam.equivalent_loss):
        if HEAD_FAMILIES.get(name) == fam.name:
            return name
    return None


def _default_family(name: str) -> Family | None:
    try:
        return lkf.family(name)
    except TypeError:  # a family that needs parameters (Student t's df, a mixture's k)
        return None


#: the head that trains each family ``losskit.advise`` can pick (:func:`family_head`)
FAMILY_HEADS: Mapping[str, str] = MappingProxyType({
    name: head for name in lkf.registered_families()
    if (fam := _default_family(name)) is not None and (head := family_head(fam)) is not None})


def advised_loss(advice: Any) -> str:
    """The head name that trains ``advice`` (a :class:`losskit.advise.Advice`): the head of
    the family it picks (:func:`family_head`), so that ``fit`` trains what ``advise`` says.

    Examples
    --------
    >>> import losskit as lk
    >>> from losskit.nn._heads import advised_loss
    >>> advised_loss(lk.advise([0.5, 1.5, -2.0, 3.1, 0.2, -0.7]))
    'mean_squared_error'
    >>> advised_loss(lk.advise(["a", "b", "c", "a"] * 5))
    'sparse_categorical_cross_entropy'
    """
    fam = advice.family_object
    name = None if fam is None else family_head(fam)
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

#: what the losses of each module are, for the ones the MLP has no head for
LOSS_KINDS: Mapping[str, str] = MappingProxyType({
    "_sequence": "a sequence loss (per-frame class scores against label sequences)",
    "_contrastive": "a contrastive loss (the embeddings of a batch compared with each other)",
    "_ranking": "a ranking loss (lists of scored items against their relevances)",
    "_embedding": "an embedding loss (vectors or scores compared in pairs or triplets)",
    "_overlap": "an overlap loss (segmentation masks)",
    "_linear": "a fused last-layer loss (hidden states times a vocabulary matrix)",
    "_directional": "a loss on directions (angles or unit vectors)",
})


def refuse_loss(func: str, argument: str, loss: str, known: Sequence[str], *,
                unknown: str, trains: str, knower: str, pass_as: Callable[[str], str]
                ) -> NoReturn:
    """Fail for a loss name the network cannot train, saying why.

    A losskit loss without an MLP head gets what kind of loss it is and where to use it
    (``lk.<name>``, its ``losskit.torch`` criterion); another name of one of ``known`` gets
    the name to pass (``pass_as(name)``); any other name gets ``unknown`` (after
    ``"is <loss>, "``) and close names of ``known``. ``trains`` (the names that can be
    trained, in words) ends each message; ``knower`` says who knows ``known`` ("fit").
    Used by ``losskit fit --loss`` and by the estimators (:func:`loss_spec`).

    Examples
    --------
    >>> refuse_loss("f", "loss", "ntxent", ["mean_squared_error"], unknown="unknown",
    ...             trains="Pass mean_squared_error", knower="f", pass_as=repr)
    Traceback (most recent call last):
    ...
    ValueError: f: loss is 'ntxent', a contrastive loss (...) that losskit's MLP cannot ...
    """
    from losskit._validation import did_you_mean
    from losskit.explain import canonical_name
    from losskit.losses import loss_specs

    name = canonical_name(loss)
    spec = loss_specs().get(name) if name is not None else None
    if name is not None and name in known:
        fail(func, argument, f"is {loss!r}, another name of {name}, which {knower} knows by "
             "that name", f"Pass {pass_as(name)}")
    trainable = {*LOSS_HEADS, *ALIASES, "cross_entropy"}  # some head trains it
    if spec is None or loss in trainable or name in trainable:  # unknown, or another task's
        hint = did_you_mean(loss, list(known)) if spec is None else ""
        fail(func, argument, f"is {loss!r}, {unknown}", f"{hint + ' ' if hint else ''}{trains}")
    from losskit.torch import CRITERIA

    kind = LOSS_KINDS.get(spec.body.__module__.rsplit(".", 1)[-1], "a losskit loss")
    criterion = CRITERIA.get(name)
    where = f"lk.{name}" + (f" or losskit.torch.{criterion.__name__}" if criterion else "")
    fail(func, argument, f"is {loss!r}, {kind} that losskit's MLP cannot train (it has no "
         "output layer for it)", f"Use it in your own model through {where}. {trains}")


def loss_spec(func: str, loss: Any, task: str, n_classes: int | None = None) -> HeadSpec:
    """The head spec of ``loss`` (a name, a losskit loss function, a family, or a callable)
    for ``task``.

    ``"cross_entropy"`` is binary cross-entropy (one sigmoid output) for two classes and sparse
    categorical cross-entropy (softmax) for more; ``"mean_squared_error"`` for a classifier is
    the squared error of the predicted probabilities (sigmoid or softmax outputs).
    """
    if isinstance(loss, Family):
        return _family_spec(func, loss, task, n_classes)
    if callable(loss) and not isinstance(loss, str):
        name = getattr(loss, "__name__", None)
        if spec_of(loss) is not None and name is not None:
            loss = name  # a losskit loss: use its head
        else:
            return HeadSpec(getattr(loss, "__name__", "custom"), task,
                            "identity" if task == "regression" else "softmax", None,
                            on_logits=False, user_fn=loss)
    if not isinstance(loss, str):
        fail(func, "loss", f"is {type(loss).__name__}", "Pass a loss name (e.g. "
             "'mean_squared_error'), a losskit loss function or a callable "
             "(y_true, y_pred) -> per-sample loss", TypeError)
    name = ALIASES.get(loss, loss)
    binary = n_classes is not None and n_classes <= 2
    if task == "classification":
        if name == "cross_entropy":
            name = "binary_cross_entropy" if binary else "sparse_categorical_cross_entropy"
        if name == "binary_cross_entropy" and n_classes is not None and n_classes > 2:
            fail(func, "loss", f"is 'binary_cross_entropy' but y has {n_classes} classes",
                 "Use 'cross_entropy' (softmax) for more than two classes")
        if name == "mean_squared_error":
            fam = lkf.family("bernoulli" if binary else "categorical")
            return HeadSpec("mean_squared_error", "classification", fam.activation_name,
                            mean_squared_error, on_logits=False, family=fam)
    known = [k for k, v in LOSS_HEADS.items() if v.task == task]
    if task == "regression":
        known.append("binary_cross_entropy")
    if task == "classification":
        known = ["cross_entropy", "mean_squared_error", *known]
    spec = _named(name, task) if name in LOSS_HEADS else None
    if spec is None or spec.task != task:
        refuse_loss(func, "loss", loss, known,
                    unknown=f"which is not a {task} loss the network knows",
                    trains=f"Pass one of {', '.join(known)}, or a callable",
                    knower="the network", pass_as=lambda n: f"loss={n!r}")
    binary_only = {"binary_focal_loss": "categorical_focal_loss",
                   "hinge_loss": "categorical_hinge_loss",
                   "squared_hinge_loss": "categorical_hinge_loss"}
    if name in binary_only and n_classes is not None and n_classes > 2:
        fail(func, "loss", f"is {name!r} but y has {n_classes} classes",
             f"Use {binary_only[name]!r} for more than two classes")
    return spec


def _family_spec(func: str, family: Family, task: str, n_classes: int | None) -> HeadSpec:
    from losskit.families import Bernoulli

    if _family_task(family) != task or (isinstance(family, Bernoulli)
                                        and n_classes not in (None, 2)):
        fail(func, "loss", f"is the family {family!r}, which does not fit this {task} "
             f"target{'' if n_classes is None else f' with {n_classes} classes'}",
             "Pass Gaussian, Poisson, Gamma ... for regression, Bernoulli for two classes, "
             "Categorical for any number of classes")
    return _head_of(repr(family), family, task, given=True)


#: the raw-output layout of the heads a model file records (``model.heads.<name>.layout``);
#: files without it were written before the heads read their families
LAYOUT = "family"


def upgrade_state(heads: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Weights saved under an older head layout, in the current one (``state`` is updated).

    A ``gaussian_nll`` head saved before its layout came from
    :class:`~losskit.families.HeteroscedasticGaussian` had ``[means | log sds]`` blocks; the
    family's is ``(mean, log variance)`` per target. Its output rows are reordered and the
    log-sd rows doubled: the loaded model predicts exactly what the saved one did.
    """
    for name, head in heads.items():
        if head.get("layout") == LAYOUT or head.get("loss") != "gaussian_nll":
            continue
        for key in (f"heads.{name}.weight", f"heads.{name}.bias"):
            if key not in state:
                continue
            rows = state[key]
            d = rows.shape[0] // 2
            pairs = [rows[:d], 2.0 * rows[d:]]
            state[key] = (np.stack(pairs, axis=1) if isinstance(rows, np.ndarray)
                          else _torch().stack(pairs, dim=1)).reshape(rows.shape)
    return state


def heads_from_config(heads: Mapping[str, Mapping[str, Any]]) -> dict[str, Head]:
    """The heads a saved model's ``config.json`` describes (``model.heads``).

    Examples
    --------
    >>> heads = heads_from_config({"output": {"loss": "poisson_nll", "task": "regression",
    ...                                       "n_targets": 1, "n_classes": None,
    ...                                       "weight": 1.0}})
    >>> heads["output"].spec.name, heads["output"].n_outputs
    ('poisson_nll', 1)
    """
    return {name: Head(h["loss"], task=h["task"], n_targets=h["n_targets"],
                       n_classes=h["n_classes"], weight=h["weight"])
            for name, h in heads.items()}


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
    loss : str, losskit loss, Family or callable
        A name from :data:`LOSS_HEADS` (or ``"cross_entropy"`` for a classifier), a losskit
        loss function, a likelihood family (``losskit.families``; its parameters are then in
        the target's units), or ``(y_true, y_pred) -> per-sample loss`` written with array
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
    >>> head = Head("gaussian_nll", n_targets=2)  # (mean, log-variance) per target
    >>> head.n_outputs, head.family
    (4, HeteroscedasticGaussian())
    """

    #: the declared parameters (losskit.nn._parameters), probed by the tests
    __losskit_constraints__ = HEAD_PARAMETERS

    def __init__(self, loss: Any = "mean_squared_error", *, task: str = "regression",
                 n_targets: int = 1, n_classes: int | None = None, weight: float = 1.0
                 ) -> None:
        check_parameters("Head", HEAD_PARAMETERS, task=task, n_targets=n_targets,
                         n_classes=n_classes, weight=weight)
        if task == "classification" and n_classes is None:
            fail("Head", "n_classes", "is None", "Pass the number of classes (>= 2)")
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
    def family(self) -> Family | None:
        """The likelihood family whose raw outputs the head's loss reads (``None`` for a
        margin loss or a callable)."""
        return self.spec.family

    @property
    def location_scale(self) -> bool:
        """Whether standardising the target leaves the loss's minimiser equivariant: a named
        head whose raw outputs are the location (identity link), and for the heteroscedastic
        Gaussian the log-variance (a given family's parameters are in the target's units)."""
        return not self.spec.given_family and self.spec.activation in (
            "identity", "identity,exp")

    def unscale_raw(self, raw: torch.Tensor, mean: torch.Tensor, sd: torch.Tensor
                    ) -> torch.Tensor:
        """Raw outputs for the target standardised as ``(y - mean) / sd`` -> raw outputs for
        the target itself (a :attr:`location_scale` head); torch tensors or NumPy arrays."""
        if self.spec.activation == "identity,exp":  # (mean, log variance) per target
            pair = raw.reshape(raw.shape[0], -1, 2)
            parts = [mean + sd * pair[..., 0], pair[..., 1] + 2.0 * _xp(raw).log(sd)]
            stacked = (np.stack(parts, axis=-1) if isinstance(raw, np.ndarray)
                       else _torch().stack(parts, dim=-1))
            return stacked.reshape(raw.shape)
        return mean + sd * raw

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
        if self.task == "classification":  # a margin loss, or a callable on probabilities
            name = "bernoulli" if self.spec.activation == "sigmoid" else "categorical"
        else:
            name = "gaussian"
        return tuple(lkf.family(name).default_metrics)

    @property
    def is_nll(self) -> bool:
        """Whether the loss is a named head's family NLL (Kendall's weighting factor 1)."""
        fam = self.spec.family
        return not self.spec.given_family and fam is not None and \
            self.spec.name == fam.loss_name

    def describe(self) -> str:
        how = "inside the loss" if self.spec.on_logits else "before the loss"
        return (f"{self.n_outputs} raw output(s), {self.spec.activation} activation ({how}), "
                f"loss {self.spec.name}")

    # ------------------------------------------------- array parts (torch tensors or NumPy)
    # Training passes torch tensors; ``losskit predict`` / ``evaluate`` pass NumPy arrays
    # (losskit.nn._numpy_mlp: no torch import), and get the same computation.

    def target(self, y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The loss's ``y_true`` from encoded targets (regression ``(n, d)`` floats or class
        indices ``(n,)``); ``dtype`` is a torch dtype for a tensor, a NumPy one for an
        array."""
        if isinstance(y, np.ndarray):
            return self._numpy_target(y, np.dtype(dtype))
        torch = _torch()
        if self.task == "regression":
            return y.to(dtype)
        if self.spec.via_family:
            return y.to(dtype) if self.spec.activation == "sigmoid" else y.to(torch.int64)
        if self.spec.fn is sparse_categorical_cross_entropy:
            return y.to(torch.int64)
        if self.spec.activation == "sigmoid":
            return y.to(dtype).reshape(-1, 1)
        return torch.nn.functional.one_hot(y.to(torch.int64), int(self.n_classes)).to(dtype)

    def _numpy_target(self, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """:meth:`target` of a NumPy array, case by case the same."""
        if self.task == "regression":
            return y.astype(dtype)
        if self.spec.via_family:
            return y.astype(dtype) if self.spec.activation == "sigmoid" else \
                y.astype(np.int64)
        if self.spec.fn is sparse_categorical_cross_entropy:
            return y.astype(np.int64)
        if self.spec.activation == "sigmoid":
            return y.astype(dtype).reshape(-1, 1)
        return np.eye(int(self.n_classes), dtype=dtype)[y.astype(np.int64)]

    def loss_input(self, raw: torch.Tensor) -> torch.Tensor:
        """The loss's ``y_pred`` from the raw outputs (differentiable)."""
        act = self.spec.activation
        if self.spec.via_family:  # the family's layout: raw of y's shape (+ blocks)
            if self.task == "classification":
                return raw[:, 0] if act == "sigmoid" else raw
            k = self.spec.outputs_per_target
            return raw if k == 1 else raw.reshape(raw.shape[0], self.n_targets, k)
        if self.spec.on_logits:
            return raw
        return self.activate(raw)

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        """The output activation: predictions (regression) or class probabilities."""
        act = self.spec.activation
        if self.spec.via_family:
            pred = self.spec.family.predict(self.loss_input(raw), check_values=False)
            return pred.reshape(raw.shape[0], -1)
        if act == "identity":
            return raw
        if isinstance(raw, np.ndarray):
            if act == "exp":
                return np.exp(raw)
            if act == "sigmoid":
                return sigmoid(np, raw)
            # as torch's softmax computes it: exp(x - max) / sum
            e = np.exp(raw - np.max(raw, axis=-1, keepdims=True))
            return e / np.sum(e, axis=-1, keepdims=True)
        torch = _torch()
        if act == "exp":
            return torch.exp(raw)
        if act == "sigmoid":
            return torch.sigmoid(raw)
        return torch_softmax(raw)

    def probabilities(self, raw: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(n, n_classes)`` (classification)."""
        p = self.activate(raw)
        if self.spec.activation == "sigmoid":
            return (np.concatenate([1.0 - p, p], axis=1) if isinstance(p, np.ndarray)
                    else _torch().cat([1.0 - p, p], dim=1))
        return p

    def batch_loss(self, y_true: torch.Tensor, raw: torch.Tensor,
                   weight: torch.Tensor | None, check_values: bool = False) -> torch.Tensor:
        """The weighted mean loss of a batch, differentiable w.r.t. ``raw``."""
        y_pred = self.loss_input(raw)
        if self.spec.via_family:
            return self.spec.family.loss(y_true, y_pred, sample_weight=weight,
                                         check_values=check_values)
        if self.spec.user_fn is not None:
            per = _user_per_sample(self.spec.user_fn, y_true, y_pred)
            torch = _torch()
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
        if self.spec.via_family:
            return self.spec.family.loss(y_true, y_pred, reduction="none", check_values=False)
        return _user_per_sample(self.spec.user_fn, y_true, y_pred)

    def baseline_raw(self, y: np.ndarray) -> np.ndarray | None:
        """Raw outputs of the best constant model: the mean (or its log), the class prior
        (``None`` where there is no simple closed form, e.g. mixtures)."""
        act = self.spec.activation
        if self.spec.via_family and self.task == "regression":
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
        return mean


def _user_per_sample(fn: Callable, y_true: torch.Tensor, y_pred: torch.Tensor
                     ) -> torch.Tensor:
    torch = _torch()
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
        self.acc = Accumulator(head.spec.fn, check_values=False, **head.spec.options)

    def update(self, y_true: torch.Tensor, raw: torch.Tensor, weight: Any = None) -> None:
        with no_grad(raw):
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
        xp = _xp(raw)
        with no_grad(raw):
            per = _float64(self.head.per_sample(y_true, raw))
            if weight is None:
                self.total += float(xp.sum(per))
                self.weight += per.shape[0]
            else:
                w = _float64(weight)
                self.total += float(xp.sum(per * w))
                self.weight += float(xp.sum(w))

    def result(self) -> float:
        return self.total / self.weight if self.weight > 0 else math.nan


def _torch() -> Any:
    """The torch module, imported on first use (``losskit predict`` reads heads without it)."""
    import torch

    return torch


def _xp(x: Any) -> Any:
    """NumPy for a NumPy array, else torch (the two array kinds heads compute on)."""
    return np if isinstance(x, np.ndarray) else _torch()


def no_grad(x: Any) -> Any:
    """``torch.no_grad()`` for a tensor, nothing for a NumPy array."""
    return contextlib.nullcontext() if isinstance(x, np.ndarray) else _torch().no_grad()


def _float64(x: Any) -> Any:
    return x.astype(np.float64) if isinstance(x, np.ndarray) else x.to(_torch().float64)
