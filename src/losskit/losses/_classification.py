"""Cross-entropy losses: Bernoulli (binary, multi-label) and categorical targets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import array_api_compat as aac
import numpy as np

from losskit._array import (
    Array,
    Namespace,
    SoftmaxTerms,
    add_at_labels,
    device,
    first_index,
    index_dtype,
    is_traced,
    limit_of_infinite_rows,
    log_sigmoid,
    log_softmax,
    log_softmax_at,
    maybe_nonzero,
    mul_zero_safe,
    row_dot,
    safe_log,
    safe_log1m,
    select,
    sigmoid,
    take_labels,
    to_bool,
    to_float,
    with_derivative,
)
from losskit._reduction import apply_scale, mean_over_outputs
from losskit._validation import (
    UNIT_INTERVAL,
    Boolean,
    Constraint,
    Integer,
    Interval,
    Optional,
    Real,
    check_domain,
    check_finite,
    check_labels,
    check_rows_sum_to_one,
    fail,
    index_text,
    weight_array,
)
from losskit.losses._conventions import CONVENTIONS, Convention
from losskit.losses._core import (
    Inputs,
    PerSample,
    count_normaliser,
    default_eps,
    loss_function,
    prepare,
    sample_weights,
)
from losskit.losses._spec import Case, Kernel, LossExplanation, replace

__all__ = [
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "sparse_categorical_cross_entropy",
]

_PROBABILITY_OPTIONS = {
    "from_logits": Boolean(),
    "label_smoothing": Real(0.0, 1.0),
    "eps": Optional(Real(0.0, 0.5, closed="left")),
}
_LOGITS_FIX = "Pass probabilities, or logits with from_logits=True"

# the worked examples and pitfalls the classification losses' explanations share
_P9 = math.log(0.9 / 0.1)  # the logit of p = 0.9
_P3 = tuple(math.log(p) for p in (0.7, 0.2, 0.1))  # logits of the probabilities (0.7, 0.2, 0.1)
_BINARY_CASE = Case("y = 1, p = 0.9 (logit z = log(0.9/0.1))", 1.0, _P9,
                    {"from_logits": True}, grid=(-8.0, 8.0), more_targets=(0.0,),
                    x_label="logit z")
_CATEGORICAL_CASE = Case("y = (1, 0, 0), p = (0.7, 0.2, 0.1) (logits z = log p)",
                         (1.0, 0.0, 0.0), _P3, {"from_logits": True}, vary=0, grid=(-8.0, 8.0),
                         more_targets=((0.0, 1.0, 0.0),),
                         x_label="logit z₀ of class 0 (other logits fixed)")
_LABEL_CASE = Case("y = 0 (class 0 of 3), p = (0.7, 0.2, 0.1) (logits z = log p)", 0, _P3,
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


def check_binary_targets(func: str, xp: Namespace, y: Array) -> None:
    """The target domain of the Bernoulli losses, [0, 1] (NaN and ±inf are outside): the one
    check, on every path (the native kernel of :func:`binary_cross_entropy` calls it too)."""
    check_domain(func, xp, "y_true", y, UNIT_INTERVAL,
                 "Targets are probabilities of the positive class: map labels to 0/1 "
                 "(for -1/+1 labels use (y + 1) / 2)")


def _check_predictions(func: str, inputs: Inputs, from_logits: bool, rows: bool,
                       renormalised: bool = False) -> None:
    """Logits: no NaN. Probabilities: in [0, 1] and, with ``rows``, rows summing to 1; with
    ``renormalised`` (Keras divides each row by its sum) any non-negative finite values."""
    xp, y_pred = inputs.xp, inputs.y_pred
    if from_logits:
        # ±inf logits are limits with exact losses; NaN is not
        check_finite(func, xp, "y_pred", y_pred, allow_inf=True,
                     fix="Logits must not be NaN; look for a diverged model or bad features")
    elif renormalised:
        check_domain(func, xp, "y_pred", y_pred, Interval(0.0, math.inf),
                     "Keras' convention divides each row by its sum: pass non-negative scores")
    else:
        check_domain(func, xp, "y_pred", y_pred, UNIT_INTERVAL, _LOGITS_FIX)
        if rows:
            check_rows_sum_to_one(
                func, xp, "y_pred", y_pred, inputs.out_dtype,
                "Pass probabilities (e.g. after softmax), logits with from_logits=True, or "
                "normalise explicitly with y_pred / y_pred.sum(axis=-1, keepdims=True)")


def _clipped_log(xp: Namespace, p: Array, eps: float, unused: Array | None = None
                 ) -> tuple[Array, Array, Array]:
    """``log(clip(p, eps, 1 - eps))``, the clipped ``p`` and where the clip is inactive.

    ``unused`` marks entries whose coefficient is 0 (``0 · log p`` is taken as 0): with
    ``eps=0`` the log of such an entry at ``p = 0`` is taken of 1 instead, so autograd sends
    back 0 there, not ``0/0``; elsewhere the log is kept, so the derivative in the
    coefficient (a label's, autograd) stays ``log p`` at a label of exactly 0.
    """
    if not maybe_nonzero(eps):  # a traced eps takes the clipped branch (exact at 0 too)
        safe = p if unused is None else xp.where(unused & (p == 0.0), 1.0, p)
        return xp.log(safe), p, xp.ones_like(p, dtype=xp.bool)
    # the derivative of the clip is 1 inside [eps, 1 - eps] (ends included, as autograd says)
    inside = (p >= eps) & (p <= 1.0 - eps)
    if not is_traced(eps):
        clipped = xp.clip(p, eps, 1.0 - eps)
        return xp.log(clipped), clipped, inside
    # a traced eps (maybe 0): the clip by comparisons, whose autograd derivative is 1 at both
    # ends as the analytic gradient's (jnp.clip's is 1/2 at a tie), and the unused entries'
    # log taken of 1 (finite in autograd at p = 0)
    clipped = xp.where(p < eps, eps, xp.where(p > 1.0 - eps, 1.0 - eps, p))
    return (xp.log(clipped if unused is None else
                   xp.where(unused & (clipped == 0.0), 1.0, clipped)), clipped, inside)


# ------------------------------------------------- class axes and where= masks (optax's options)


class ClassAxes(Constraint):
    """The class axis: an int, or (optax's several class axes) a tuple of distinct ints,
    which reaches the body as a 1-D integer NumPy array (array options are taken in as
    arrays)."""

    description = "an integer or a tuple of distinct integers"
    invalid = (1.5, "1", (1.0, 2.0), (1, 1), ())

    def type_ok(self, value: Any) -> bool:
        if isinstance(value, np.ndarray):
            return value.ndim == 1 and value.dtype.kind in "iu"
        if isinstance(value, tuple):
            return all(isinstance(a, int) and not isinstance(a, bool) for a in value)
        return isinstance(value, int) and not isinstance(value, bool)

    def value_ok(self, value: Any) -> bool:
        if isinstance(value, int):
            return True
        axes = [int(a) for a in value]
        return len(axes) > 0 and len(set(axes)) == len(axes)

    def check(self, func: str, name: str, value: Any) -> None:
        if not isinstance(value, np.ndarray):
            return super().check(func, name, value)
        # a tuple reached here as an array: show it as the tuple the caller passed
        shown = tuple(value.tolist()) if value.ndim == 1 else value
        if not self.type_ok(value):
            fail(func, name, f"must be {self.description}; got {shown!r}",
                 f"Pass {self.description}.", TypeError)
        if not self.value_ok(value):
            fail(func, name, f"must be {self.description}; got {shown!r}",
                 f"Pass {self.description}.")
        return None


@dataclass
class _FlatClassInputs(Inputs):
    """Inputs whose several class axes were moved last (in the order given) and flattened
    into one: :meth:`restore` unflattens a gradient and puts the axes back."""

    permutation: tuple[int, ...] = ()
    moved_shape: tuple[int, ...] = ()

    def restore(self, grad: Array) -> Array:
        xp = self.xp
        inverse = tuple(int(i) for i in np.argsort(self.permutation))
        grad = xp.permute_dims(xp.reshape(grad, self.moved_shape), inverse)
        return grad if grad.dtype == self.out_dtype else xp.astype(grad, self.out_dtype)


def _class_axes(func: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (an int or several) as distinct non-negative axes of an ``ndim``-d
    ``y_pred``, in the order given."""
    axes = (axis,) if isinstance(axis, int) else tuple(int(a) for a in axis)
    if any(not -ndim <= a < ndim for a in axes):
        fail(func, "axis", f"is {tuple(axes) if len(axes) > 1 else axes[0]} but y_pred has "
             f"{ndim} dimension(s)", "Pass the index (or indices) of y_pred's class axis "
             "(default -1)")
    canonical = tuple(a % ndim for a in axes)
    if len(set(canonical)) != len(canonical):
        fail(func, "axis", f"is {tuple(axes)}, which names one axis twice",
             "Pass each class axis once")
    return canonical


def prepare_classes(func: str, y_true: Any, y_pred: Any, sample_weight: Any, axis: Any, *,
                    labels: bool = False, arrays: dict[str, Any] | None = None) -> Inputs:
    """:func:`~losskit.losses._core.prepare` for a loss over classes whose ``axis`` may be
    several axes (optax's ``axis=(1, 2)``): they are moved last in the order given and
    flattened into one class axis of their product's length (integer labels index it in
    that order), and the gradient is put back by ``inputs.restore``. A ``where`` mask in
    ``arrays`` is laid out as ``y_pred`` (or, of the per-sample shape, kept)."""
    arrays = dict(arrays or {})
    if isinstance(axis, int) or len(axis) == 1:
        inputs = prepare(func, y_true, y_pred, sample_weight, labels=labels, arrays=arrays,
                         axis=axis if isinstance(axis, int) else int(axis[0]))
        mask = inputs.arrays.get("where")
        if mask is not None and inputs.moved_axis is not None and \
                mask.ndim == inputs.y_pred.ndim:
            inputs.arrays["where"] = inputs.xp.moveaxis(mask, inputs.moved_axis, -1)
        return inputs
    ndim = np.ndim(y_pred) if isinstance(y_pred, (list, tuple)) else getattr(y_pred, "ndim", 0)
    axes = _class_axes(func, axis, ndim)
    batch = tuple(i for i in range(ndim) if i not in axes)

    def check_shape(func: str, y_true: Array, y_pred: Array) -> None:
        expected = tuple(y_pred.shape[i] for i in batch) if labels else tuple(y_pred.shape)
        if tuple(y_true.shape) != expected:
            what = (f"labels for y_pred of shape {tuple(y_pred.shape)} (class axes {axes}) "
                    f"need shape {expected}" if labels else
                    f"y_pred has shape {tuple(y_pred.shape)}")
            fail(func, "y_true", f"has shape {tuple(y_true.shape)} but {what}",
                 "Pass one integer label per sample, indexing the class axes flattened in the "
                 "order given" if labels else "Pass y_true of y_pred's shape (no broadcasting)")

    inputs = prepare(func, y_true, y_pred, sample_weight, labels=labels, arrays=arrays,
                     check_shape=check_shape)
    xp, permutation = inputs.xp, batch + axes
    moved_shape = tuple(inputs.y_pred.shape[i] for i in permutation)
    flat = (*moved_shape[:len(batch)], math.prod(moved_shape[len(batch):]))

    def flatten(x: Array) -> Array:
        return xp.reshape(xp.permute_dims(x, permutation), flat)

    moved = {name: flatten(a) if name == "where" and a is not None and a.ndim == ndim else a
             for name, a in inputs.arrays.items()}
    return _FlatClassInputs(xp, inputs.y_true if labels else flatten(inputs.y_true),
                            flatten(inputs.y_pred), inputs.sample_weight, inputs.out_dtype,
                            None, moved, permutation, moved_shape)


class Masked(NamedTuple):
    """A ``where=`` mask: the classes each sample may take (``None``: all), and the samples
    that are kept (``None``: all)."""

    classes: Array | None
    alive: Array | None


def where_mask(func: str, inputs: Inputs, from_logits: bool) -> Masked:
    """The ``where`` mask of ``inputs`` checked: boolean, of ``y_pred``'s shape (a mask over
    the classes, logits only: the softmax is taken over the classes left) or of its
    per-sample shape (the samples kept)."""
    mask = inputs.arrays.get("where")
    if mask is None:
        return Masked(None, None)
    xp, shape = inputs.xp, tuple(inputs.y_pred.shape)
    if not xp.isdtype(mask.dtype, "bool"):
        fail(func, "where", f"has dtype {mask.dtype}",
             "Pass a boolean mask (True: included), e.g. y_pred_valid.astype(bool)", TypeError)
    if tuple(mask.shape) == shape[:-1]:
        return Masked(None, mask)
    if tuple(mask.shape) != shape:
        fail(func, "where", f"has shape {tuple(mask.shape)} but y_pred has {shape[-1]} "
             f"classes and {shape[:-1]} samples (class axis last)",
             "Pass y_pred's shape (a mask over the classes) or y_pred's shape less the "
             "class axis (one entry per sample)")
    if not from_logits:
        fail(func, "where", "masks classes of probabilities",
             "A class mask excludes logits from the softmax: pass logits with "
             "from_logits=True, or a mask of one entry per sample")
    alive = xp.any(mask, axis=-1)
    # a sample with no class left is computed over all its classes, then dropped
    return Masked(mask | ~alive[..., None], alive)


def check_masked_targets(func: str, xp: Namespace, target: Array, classes: Array,
                         alive: Array) -> None:
    """losskit refuses a target on a class that ``where`` masks out (its probability is 0)."""
    bad = (target > 0) & ~classes & alive[..., None]
    if to_bool(func, xp.any(bad)):
        index = first_index(xp, bad)
        fail(func, "y_true", f"puts weight on class {index[-1]} of sample "
             f"{index[0] if len(index) == 2 else index[:-1]}, which where masks out",
             "Mask only classes a sample cannot take (convention='optax' computes optax's "
             "value instead)")


def masked_log_softmax(xp: Namespace, z: Array, classes: Array) -> Array:
    r"""``z - logsumexp(z over the classes left)``: :math:`\log p` on the classes left (the
    softmax of the logits ``where`` keeps) and, on the masked classes, their logit against
    the same normaliser (optax's value for an integer label there)."""
    kept = xp.where(classes, z, -math.inf)
    m = xp.max(kept, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    total = xp.sum(xp.where(classes, xp.exp(kept - m), 0.0), axis=-1, keepdims=True)
    return (z - m) - xp.log(total)


def masked_cross_entropy(xp: Namespace, z: Array, target: Array, classes: Array
                         ) -> tuple[Array, Any]:
    """``-sum_c t_c log p_c`` with the softmax over the classes left, and its scaled gradient
    ``softmax * sum(t) - t`` (0 on the masked classes)."""
    log_p = masked_log_softmax(xp, z, classes)
    per_sample = -row_dot(xp, target, log_p)

    def scaled_gradient(scale: Array | float) -> Array:
        p = xp.where(classes, xp.exp(log_p), 0.0)
        t_total = xp.sum(target, axis=-1)
        return (p * t_total[..., None] - target) * _per_row(scale)

    return per_sample, scaled_gradient


def masked_weights(func: str, xp: Namespace, policy: Convention, per_sample: Array,
                   weight: Array | None, alive: Array | None, check_mean: bool
                   ) -> tuple[Array, Array | None]:
    """The per-sample losses and weights of the samples ``where`` drops: losskit gives them
    weight 0 (they leave the mean, which needs one left); optax's convention gives them a
    loss of 0 that stays in the mean."""
    if alive is None:
        return per_sample, weight
    per_sample = xp.where(alive, per_sample, 0.0)
    if policy.masked_as_zero:
        return per_sample, weight
    weight = xp.where(alive, xp.ones_like(per_sample) if weight is None else weight, 0.0)
    if check_mean and not to_bool(func, xp.any(weight > 0)):
        fail(func, "where", "leaves no sample (or only samples of weight 0), so the mean is "
             "undefined", "Skip this batch, or use reduction='sum' (0)")
    return per_sample, weight


_BINARY_CROSS_ENTROPY = LossExplanation(
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
    case=_BINARY_CASE,
    classification=True,
)


def _numpy_logistic_terms(y: Array, z: Array, *, own_y: bool = False
                          ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(t, e)`` of the logistic loss's NumPy fast path: ``t = [z ≥ 0] − y`` (the sign bit
    decides, so ``−0`` counts as negative, as ``copysign`` below reads it) and
    ``e = exp(−|z|)``; ``None`` unless ``y`` and ``z`` are NumPy floats of one dtype and
    shape. ``own_y``: ``y`` is this call's own copy (targets cast to the compute dtype), and
    ``t`` is written into it (each fresh 4 MB array costs about 1 ms of page faults here)."""
    if not (isinstance(z, np.ndarray) and isinstance(y, np.ndarray) and z.dtype.kind == "f"
            and y.dtype == z.dtype and y.shape == z.shape and z.ndim >= 1):
        return None
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    step = np.signbit(z)
    np.logical_not(step, out=step)
    return np.subtract(step, y, out=y if own_y else None, dtype=z.dtype), e


def _numpy_logistic(y: Array, z: Array, *, own_y: bool = False, finite: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    r"""NumPy fast path of ``−(y log σ(z) + (1 − y) log σ(−z))`` for finite logits:
    ``(value, t, e, scratch)`` (see :func:`_numpy_logistic_terms`; ``scratch`` a free
    buffer of ``z``'s shape), or ``None`` (another library, or an infinite or NaN logit,
    where ``t z`` would meet ``0 · inf``: the generic path).

    With :math:`s = \log(1 + e)`, :math:`-\log σ(z) = s + \max(−z, 0)` and
    :math:`-\log σ(−z) = s + \max(z, 0)`, so the value is :math:`s + t z`: four passes after
    ``e``, no ``where``, no mask and no ``1 − y`` (measured at 1e6 float32, the element-wise
    work of the value and gradient: 14 → 4.7 ms; PyTorch's fused forward and backward 5.1
    ms). For labels 0/1 it is the generic path's value bit for bit (the same two terms
    added); soft labels' ``y (s − min(z, 0)) + (1 − y)(s + max(z, 0))`` is regrouped (agrees
    to an ulp or two).
    Confident logits stay exact: ``s`` is added apart from ``t z``, which is 0 where the
    label is right. ``finite``: the caller knows every logit is finite (a finite sum of
    them, :func:`finite_logits`), and the test is not repeated.
    """
    if not (isinstance(z, np.ndarray) and (finite or np.isfinite(z).all())):
        return None
    terms = _numpy_logistic_terms(y, z, own_y=own_y)
    if terms is None:
        return None
    t, e = terms
    value = np.log1p(e)
    product = np.multiply(t, z)  # a scratch buffer, then the gradient's (see below)
    value += product
    return value, t, e, product


def finite_logits(func: str, inputs: Inputs, check_values: bool) -> bool:
    """The logits' check (no NaN; ``±inf`` are limits) and whether every logit is finite,
    from one sum on NumPy: a finite sum means no NaN and no infinity, so the check passes and
    :func:`_numpy_logistic` need not test ``isfinite`` again (one pass less, 0.2 ms at 1e6
    float32); otherwise the check runs as it is (and names a NaN)."""
    z = inputs.y_pred
    if isinstance(z, np.ndarray) and z.dtype.kind == "f" and math.isfinite(z.sum()):
        return True
    if check_values:
        _check_predictions(func, inputs, True, rows=False)
    return False


def _numpy_logistic_gradient(z: np.ndarray, t: np.ndarray, e: np.ndarray,
                             scale: float = 1.0, out: np.ndarray | None = None) -> np.ndarray:
    r"""``scale · (σ(z) − y)`` from :func:`_numpy_logistic_terms` (``t`` and ``e`` are left
    as they are), in ``out`` if given (a scratch buffer: each fresh 4 MB array costs about
    1 ms of page faults here): :math:`σ(z) − y = t − \operatorname{sign}(z)\, q` with
    :math:`q = e / (1 + e) = σ(−|z|)`, which cancels nothing for a confident, correct logit
    (``z = 17``, ``y = 1``: ``−q``, where ``σ(z) − 1`` rounds to 0 in float32)."""
    q = np.add(e, 1.0, out=out)
    np.divide(e, q, out=q)
    np.copysign(q, z, out=q)
    np.subtract(t, q, out=q)
    if scale != 1.0:
        q *= scale
    return q


def _jax_logistic_parts(xp: Namespace, y: Array, z: Array) -> tuple[Array, Array]:
    r"""The logistic loss of :func:`_numpy_logistic` and its derivative ``σ(z) − y``, for
    :func:`with_derivative` (JAX): ``(s + t z, t − ±q)`` with ``t = [z ≥ 0] − y``,
    ``s = log(1 + e)``, ``q = e / (1 + e)``, ``e = exp(−|z|)``, the sign of ``q`` that of
    the step (so ``z = ±0`` gives ``1/2 − y``). ``t z`` is taken as 0 where ``t = 0`` at an
    infinite logit (a right label there: the limit 0, where ``0 · inf`` is NaN), and only
    there: a label's derivative ``−z`` (autodiff, soft targets) stays at labels 0 and 1.
    For labels 0/1 the value is the generic path's bit for bit; nothing cancels for a
    confident, correct logit (``s`` apart from ``t z``, which is 0 there)."""
    step = z >= 0.0
    t = xp.where(step, 1.0, 0.0) - y
    e = xp.exp(-xp.abs(z))
    value = xp.log1p(e) + t * xp.where((t == 0.0) & xp.isinf(z), 0.0, z)
    q = e / (1.0 + e)
    return value, t - xp.where(step, q, -q)


def _logistic_value(xp: Namespace, positive: Array, negative: Array, z: Array) -> Array:
    """``-(positive log sigmoid(z) + negative log sigmoid(-z))`` (0 log 0 = 0)."""
    return -(mul_zero_safe(xp, positive, log_sigmoid(xp, z))
             + mul_zero_safe(xp, negative, log_sigmoid(xp, -z)))


def _logistic_gradient(xp: Namespace, positive: Array, negative: Array, z: Array) -> Array:
    # d/dz = negative sigmoid(z) - positive sigmoid(-z)  (= sigmoid(z) - y without weights),
    # written so that nothing cancels: sigmoid(z) - 1 rounds to 0 for a confident correct
    # positive (z = 17, float32) where the gradient is -4e-8
    return negative * sigmoid(xp, z) - positive * sigmoid(xp, -z)


def _bernoulli_value(xp: Namespace, y: Array, eta: Array) -> Array:
    r""":math:`-y\log\sigma(\eta) - (1 - y)\log\sigma(-\eta)` of the logit :math:`\eta`."""
    fast = _numpy_logistic(y, eta)
    return _logistic_value(xp, y, 1.0 - y, eta) if fast is None else fast[0]


def _bernoulli_gradient(xp: Namespace, y: Array, eta: Array) -> Array:
    terms = _numpy_logistic_terms(y, eta)
    if terms is not None:  # the NumPy fast path (t - sign(z) q, see _numpy_logistic)
        return _numpy_logistic_gradient(eta, *terms)
    return _logistic_gradient(xp, y, 1.0 - y, eta)


def _bernoulli_hessian(xp: Namespace, y: Array, eta: Array) -> Array:
    # p (1 - p) = e / (1 + e)^2 with e = exp(-|z|) <= 1: one exp, no overflow, and no
    # cancellation in 1 - p for large logits
    e = xp.exp(-xp.abs(eta))
    return e / ((1.0 + e) * (1.0 + e))


@loss_function(kernel=Kernel("logit", _bernoulli_value, _bernoulli_gradient,
                             _bernoulli_hessian),
               axis=Integer(), **_PROBABILITY_OPTIONS,
               aliases=("bce", "log loss", "logistic loss", "bce with logits", "BCEWithLogitsLoss",
                        "BCELoss", "sigmoid cross-entropy"),
               explanation=_BINARY_CROSS_ENTROPY)
def binary_cross_entropy(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    from_logits: bool = False,
    pos_weight: Any = None,
    label_weight: Any = None,
    axis: int = -1,
    label_smoothing: float = 0.0,
    eps: float | None = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Binary cross-entropy, the negative log-likelihood of a Bernoulli target.

    .. math::

        l_{ij} = -\bigl[\, \beta\, y_{ij} \log p_{ij} + (1 - y_{ij}) \log(1 - p_{ij}) \bigr],
        \qquad l_i = \frac1k \sum_j v_j\, l_{ij}

    with :math:`p = \sigma(z)` for logits :math:`z`, :math:`\beta` the ``pos_weight``,
    :math:`v` the ``label_weight`` (1 if none) and, with
    label smoothing :math:`\varepsilon`, :math:`y \leftarrow y(1-\varepsilon) + \varepsilon/2`.
    It is :math:`-\log P(y \mid p)` for :math:`y \sim \mathrm{Bernoulli}(p)`: the loss for a
    sigmoid output layer. Both terms are always present (the article's loop dropped the second).

    From logits it is computed as :math:`-[\beta y \log\sigma(z) + (1-y)\log\sigma(-z)]` with
    :math:`\log\sigma(z) = \min(z, 0) - \log(1 + e^{-|z|})`: finite for any finite logit and
    exact at :math:`\pm\infty` (``0 · log 0 = 0``). From probabilities, :math:`p` is clipped to
    :math:`[\epsilon, 1 - \epsilon]`, ``eps`` defaulting to the machine epsilon of ``y_pred``'s
    dtype (as scikit-learn's ``log_loss``); ``eps=0`` gives the exact value, ``inf`` where a
    confident prediction is wrong.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        Targets in [0, 1] (labels 0/1 or probabilities).
    y_pred : array_like, shape (n,) or (n, ..., k)
        Probabilities of the positive class, or logits with ``from_logits=True``. With more than
        one dimension the last axis holds ``k`` labels (multi-label), averaged per sample.
    from_logits : bool
        ``y_pred`` holds logits (raw outputs of a linear layer).
    pos_weight : float or array_like of shape (k,), optional
        Weight :math:`\beta \ge 0` of the positive term (per label), as PyTorch's
        ``pos_weight``; > 1 raises recall for rare positives.
    label_weight : array_like of shape (k,) or of ``y_pred``'s shape, optional
        Weight :math:`v \ge 0` of each label's whole loss (or of each entry), PyTorch's
        ``BCEWithLogitsLoss(weight=...)``: it multiplies the losses and leaves the mean's
        denominator alone (the mean divides by the number of entries, as PyTorch's does),
        unlike ``sample_weight`` (whose mean divides by the weights' sum) and ``pos_weight``
        (the positive term only).
    axis : int
        The label axis, averaged per sample (Keras' ``binary_crossentropy(..., axis=)``);
        1-D input is one label per sample.
    label_smoothing : float in [0, 1]
        Keras' definition: targets move towards 1/2.
    eps : float in [0, 0.5), optional
        Probability clipping bound (ignored with logits).
    sample_weight : array_like of per-sample shape, optional
        Non-negative weights :math:`w_i`.
    reduction : {"mean", "sum", "none"}
        :math:`\sum w l / \sum w`, :math:`\sum w l`, or per-sample :math:`w_i l_i`.
    unit : {"nats", "bits"}
        Natural or base-2 logarithm.
    check_values : bool
        Check ranges, NaN and weights (host synchronisation); switch off only for hot loops.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    The article's example, with both terms:

    >>> import losskit as lk
    >>> y = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    >>> p = [0.8, 0.9, 0.9, 0.6, 0.8, 0.1, 0.4, 0.2, 0.1, 0.3]
    >>> round(float(lk.binary_cross_entropy(y, p)), 3)
    0.247
    >>> float(lk.binary_cross_entropy([1.0, 0.0], [1e4, -1e4], from_logits=True))
    0.0

    A weight per label multiplies its losses; the mean still divides by all n·k entries:

    >>> y, p = [[1.0, 0.0], [0.0, 1.0]], [[0.8, 0.4], [0.3, 0.9]]
    >>> round(float(lk.binary_cross_entropy(y, p, label_weight=[1.0, 0.0])), 6)
    0.144955
    >>> round(float(lk.binary_cross_entropy(y, p, label_weight=[1.0, 0.0])), 6) == round(
    ...     float(lk.binary_cross_entropy([1.0, 0.0], [0.8, 0.3])) / 2, 6)
    True
    """
    func = "binary_cross_entropy"
    policy = CONVENTIONS[convention]
    inputs = prepare(func, y_true, y_pred, sample_weight, axis=axis,
                     arrays={"pos_weight": pos_weight, "label_weight": label_weight})
    xp, y, z = inputs.xp, inputs.y_true, inputs.y_pred
    finite = False
    if check_values:
        check_binary_targets(func, xp, y)
        if from_logits:
            finite = finite_logits(func, inputs, check_values)
        else:
            _check_predictions(func, inputs, from_logits, rows=False)
    if maybe_nonzero(label_smoothing):
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    positive = _positive_term(func, inputs, y, check_values)
    v = _label_weights(func, inputs, check_values)
    fast = None
    if from_logits and positive is y and v is None:  # no pos_weight, no label_weight
        # the targets are this call's own copy where they were cast or smoothed (NumPy)
        own = y is not inputs.y_true or (isinstance(y_true, np.ndarray)
                                         and y_true.dtype != y.dtype)
        fast = _numpy_logistic(y, z, own_y=own, finite=finite)
    jax_fast = (fast is None and from_logits and positive is y and v is None
                and aac.is_jax_namespace(xp))
    negative = None if fast is not None or jax_fast else 1.0 - y
    if v is not None:  # the weight of the whole term: both coefficients scale
        positive, negative = positive * v, negative * v
    if jax_fast:
        # one exp and one log1p (the generic form takes two of each, optax's too) and the
        # analytic derivative (a custom JVP): measured at 1e6 float32, jit of the value
        # 12.7 -> 2.1 ms (optax's sigmoid_binary_cross_entropy 7.5 ms)
        elementwise = with_derivative(xp, _jax_logistic_parts, y, z)

        def gradient() -> Array:
            return _jax_logistic_parts(xp, y, z)[1]
    elif fast is not None:
        elementwise, t, e, scratch = fast
        buffers = [scratch]  # used once: a second call gets a fresh array

        def gradient(scale: float = 1.0) -> Array:
            return _numpy_logistic_gradient(z, t, e, scale, buffers.pop() if buffers else None)
    elif from_logits:
        elementwise = _logistic_value(xp, positive, negative, z)

        def gradient() -> Array:
            return _logistic_gradient(xp, positive, negative, z)
    else:
        log_p, log_q, p, inside_p, inside_q = _binary_logs(inputs, positive, negative, eps,
                                                            policy)
        elementwise = -(mul_zero_safe(xp, positive, log_p) + mul_zero_safe(xp, negative, log_q))

        def gradient() -> Array:
            return (xp.where(inside_q, mul_zero_safe(xp, negative, 1.0 / (1.0 - p)), 0.0)
                    - xp.where(inside_p, mul_zero_safe(xp, positive, 1.0 / p), 0.0))

    per_sample, k = _label_mean(xp, elementwise)
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                            check_values=check_values)

    def gradient_per_sample() -> Array:
        g = gradient()
        return g if k == 1 else g / k

    scaled_gradient = None
    if fast is not None:
        def scaled_gradient(scale: Array | float) -> Array:
            if isinstance(scale, float):  # the mean's 1/n and 1/k in the same pass
                return gradient(scale / k)
            return apply_scale(xp, gradient_per_sample(), scale)

    return PerSample(inputs, per_sample, gradient_per_sample, weight,
                     count_normaliser(xp, per_sample, weight, policy),
                     scaled_gradient=scaled_gradient)


def _label_mean(xp: Namespace, elementwise: Array) -> tuple[Array, int]:
    """:func:`mean_over_outputs` of the labels; on NumPy the sums over the label axis are
    a BLAS contraction (:func:`row_dot`; measured at 333334 x 3 float32: 5.7 -> 0.3 ms for
    ``mean(axis=-1)``, a reduction over a short axis)."""
    if isinstance(elementwise, np.ndarray) and elementwise.ndim >= 2 and (
            elementwise.dtype.kind == "f"):
        k = elementwise.shape[-1]
        return row_dot(xp, np.ones(k, dtype=elementwise.dtype), elementwise) / k, k
    return mean_over_outputs(xp, elementwise)


def _positive_term(func: str, inputs: Inputs, y: Array, check_values: bool) -> Array:
    """The coefficient of ``log p``: ``y``, times ``pos_weight`` (per label) if given."""
    beta = inputs.array("pos_weight")
    if beta is None:
        return y
    shape = () if y.ndim == 1 or beta.ndim == 0 else (y.shape[-1],)
    return y * weight_array(func, inputs.xp, "pos_weight", beta, shape, inputs.y_pred.dtype,
                            check_values=check_values)


def _label_weights(func: str, inputs: Inputs, check_values: bool) -> Array | None:
    """PyTorch's ``weight`` of the binary cross-entropy: one per label (the last axis) or
    one per entry, in the compute layout."""
    v = inputs.array("label_weight")
    if v is None:
        return None
    xp, shape = inputs.xp, tuple(inputs.y_pred.shape)
    if v.ndim == len(shape) and inputs.moved_axis is not None:
        v = xp.moveaxis(v, inputs.moved_axis, -1)
    wanted = shape if v.ndim == len(shape) or len(shape) == 1 else (shape[-1],)
    return weight_array(func, xp, "label_weight", v, wanted, inputs.y_pred.dtype,
                        check_values=check_values, allow_all_zero=True)


def screen_label_axis(public: Any) -> None:
    """The native kernel of :func:`binary_cross_entropy` (or of another loss with a label
    ``axis``, e.g. the binary focal loss) averages the last axis: leave a call with another
    label ``axis`` to the generic path."""
    native = public.spec.native
    if native is None:  # pragma: no cover - no kernel attached
        return

    def screened(y_true: Any, y_pred: Any, kwargs: dict[str, Any]) -> Any:
        axis = kwargs.get("axis", -1)
        if axis != -1 and axis != getattr(y_pred, "ndim", 0) - 1:
            return None
        return native(y_true, y_pred, kwargs)

    replace(public, native=screened)


def _binary_logs(inputs: Inputs, positive: Array, negative: Array, eps: float | None,
                 policy: Convention) -> tuple[Array, Array, Array, Array, Array]:
    """``(log p, log(1 - p), p, inside_p, inside_q)`` from probabilities: clipped to
    ``[eps, 1 - eps]``, or (the convention's ``log_floor``, without ``eps``) exact logs
    clamped at the floor; ``inside_*`` mark where the clip or clamp is inactive."""
    xp, z = inputs.xp, inputs.y_pred
    floor = policy.log_floor
    if floor is not None and eps is None:
        # PyTorch's binary_cross_entropy: no clipping, each log clamped at -100
        raw_p, raw_q = safe_log(xp, z), safe_log1m(xp, z)
        return (xp.maximum(raw_p, floor), xp.maximum(raw_q, floor), z, raw_p > floor,
                raw_q > floor)
    log_p, p, inside = _clipped_log(xp, z, default_eps(inputs, eps, policy),
                                    unused=positive == 0)
    # log(1 - p), accurate for small p; of 0 where its coefficient is 0 and p = 1 (see
    # above: elsewhere the log is kept for the derivative in the labels)
    return (log_p, xp.log1p(-xp.where((negative == 0) & (p == 1.0), 0.0, p)), p, inside,
            inside)


def _class_weights(func: str, inputs: Inputs, check_values: bool) -> Array | None:
    class_weight = inputs.array("class_weight")
    if class_weight is None:
        return None
    return weight_array(func, inputs.xp, "class_weight", class_weight,
                        (inputs.y_pred.shape[-1],), inputs.y_pred.dtype,
                        check_values=check_values)


def _log_probabilities(inputs: Inputs, from_logits: bool, eps: float | None,
                       policy: Convention = CONVENTIONS["losskit"]
                       ) -> tuple[Array, Array | None, Array | None]:
    """``(log p, clipped p, inside-clip mask)``; the last two are ``None`` for logits."""
    xp = inputs.xp
    if from_logits:
        return log_softmax(xp, inputs.y_pred), None, None
    return _clipped_log(xp, inputs.y_pred, default_eps(inputs, eps, policy))


_CE_NAN_HINT = ("a row of logits is all -inf (no class possible) or holds both +inf and -inf "
                "where the target is; check the model's outputs")


_CATEGORICAL_CROSS_ENTROPY = LossExplanation(
    formula="l = −Σ_c y_c·log p_c,   p = softmax(z),   p_c = e^(z_c) / Σ_j e^(z_j)",
    distribution="Categorical: one of C classes with P(class c) = p_c. For a one-hot y, "
                 "l = −log p_y, the negative log-likelihood of the observed class; for soft "
                 "targets it is the cross-entropy H(y, p) = H(y) + KL(y ‖ p).",
    activation_from="categorical",
    activation="C units with softmax; better, a linear last layer with from_logits=True",
    raw_output="the C logits z (from_logits=True), or the probabilities p",
    gradient="∂l/∂z_c = p_c − y_c  (softmax(z) − y, for targets summing to 1, without class "
             "weights or label smoothing). W.r.t. the probabilities: ∂l/∂p_c = −y_c / p_c.",
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
    case=_CATEGORICAL_CASE,
    classification=True,
)


@loss_function(axis=ClassAxes(), **_PROBABILITY_OPTIONS,
               aliases=("cross-entropy", "ce", "cce", "softmax cross-entropy",
                        "multinomial log loss", "softmax_cross_entropy"),
               explanation=_CATEGORICAL_CROSS_ENTROPY)
def categorical_cross_entropy(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    from_logits: bool = False,
    axis: int | tuple[int, ...] = -1,
    class_weight: Any = None,
    label_smoothing: float = 0.0,
    eps: float | None = None,
    where: Any = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Categorical cross-entropy against one-hot or soft targets (a categorical NLL).

    .. math::

        l_i = -\sum_{c=1}^{C} a_c\, q_{ic} \log p_{ic}, \qquad
        q = (1-\varepsilon)\, y + \varepsilon / C, \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i \sum_c a_c y_{ic}}

    with :math:`p = \mathrm{softmax}(z)` for logits, :math:`a` the ``class_weight`` (1 if
    none) and :math:`\varepsilon` the label smoothing (PyTorch's and Keras' definition). It is
    :math:`-\log P(y \mid p)` for :math:`y \sim \mathrm{Categorical}(p)`: the loss for a softmax
    output layer. For one-hot ``y_true`` it equals :func:`sparse_categorical_cross_entropy` with
    the same options, class weights included (their mean divides by the summed class weight of
    the targets, as PyTorch does for class indices).

    From logits, :math:`\log p = z - \operatorname{logsumexp}(z)` with the row maximum
    subtracted first: finite for any finite logits; a row holding ``+inf`` takes its limit.
    From probabilities, rows must sum to 1 (within :math:`\sqrt{\epsilon}`) and are clipped to
    :math:`[\epsilon, 1-\epsilon]`, ``eps`` defaulting to the machine epsilon of ``y_pred``'s
    dtype; ``eps=0`` is exact.

    Parameters
    ----------
    y_true : array_like, same shape as ``y_pred``
        One-hot rows or probability rows (each summing to 1).
    y_pred : array_like, shape (..., C, ...)
        Probabilities, or logits with ``from_logits=True``; classes along ``axis``.
    from_logits : bool
        ``y_pred`` holds logits (do not apply softmax yourself).
    axis : int or tuple of int
        The class axis of ``y_pred`` and ``y_true``; several axes (optax's ``axis=(1, 2)``)
        are one class axis of their sizes' product (flattened in the order given).
    class_weight : array_like of shape (C,), optional
        Non-negative per-class weights :math:`a_c`.
    label_smoothing : float in [0, 1]
        A traced (0-d) array under ``jax.jit`` too.
    eps : float in [0, 0.5), optional
    where : array_like of bool, optional
        optax's mask. Of ``y_pred``'s shape (logits only): the classes a sample may take,
        the others left out of the softmax (probability 0; label smoothing spreads over the
        classes left). Of the per-sample shape: the samples kept. losskit refuses a target
        on a masked class and gives a sample with no class left weight 0 (it leaves the mean;
        a mean over no sample is an error); ``convention="optax"`` drops such targets and
        gives such samples a loss of 0 that stays in the mean, as optax does.
    sample_weight : array_like of shape ``y_pred.shape`` less ``axis``, optional
    reduction : {"mean", "sum", "none"}
    unit : {"nats", "bits"}
    check_values : bool
    convention : {"losskit", "sklearn", "keras", "torch", "optax"}
        See ``docs/conventions.md``.

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> y = [[1, 0, 0], [0, 0, 1]]
    >>> p = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
    >>> round(float(lk.categorical_cross_entropy(y, p)), 5)
    0.43375
    >>> lk.categorical_cross_entropy(y, [[0.5, 0.5, 0.5], [0.0, 0.0, 1.0]])
    Traceback (most recent call last):
    ...
    ValueError: categorical_cross_entropy: y_pred rows do not sum to 1 (row 0 sums to 1.5; ...

    A class mask leaves logits out of the softmax (here class 2 of sample 0, whose
    cross-entropy becomes log(1 + e^(−1)) = 0.3133):

    >>> z = [[1.0, 0.0, 5.0], [0.0, 0.0, 0.0]]
    >>> where = [[True, True, False], [True, True, True]]
    >>> [round(v, 4) for v in lk.categorical_cross_entropy(
    ...     y, z, from_logits=True, where=where, reduction="none").tolist()]
    [0.3133, 1.0986]
    >>> lk.categorical_cross_entropy([[0, 0, 1]], [[1.0, 0.0, 5.0]], from_logits=True,
    ...                              where=[[True, True, False]])
    Traceback (most recent call last):
    ...
    ValueError: categorical_cross_entropy: y_true puts weight on class 2 of sample 0, which where...
    """
    func = "categorical_cross_entropy"
    policy = CONVENTIONS[convention]
    inputs = prepare_classes(func, y_true, y_pred, sample_weight, axis,
                             arrays={"class_weight": class_weight, "where": where})
    xp, y = inputs.xp, inputs.y_true
    if check_values:
        _check_target_rows(func, inputs)
        _check_predictions(func, inputs, from_logits, rows=True,
                           renormalised=policy.renormalise_rows)
    mask = where_mask(func, inputs, from_logits)
    weights = _class_weights(func, inputs, check_values)
    if mask.classes is not None:
        y, per_sample, scaled = _masked_categorical(func, inputs, mask, weights,
                                                    label_smoothing, policy, check_values)
    else:
        per_sample, scaled = _categorical_parts(inputs, weights, from_logits, label_smoothing,
                                                eps, policy, check_values)
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                            check_values=check_values)
    per_sample, weight = masked_weights(func, xp, policy, per_sample, weight, mask.alive,
                                        check_values and reduction == "mean")
    mean_weight = _soft_mean_weight(xp, policy, per_sample, weight, y, weights)
    scaled_gradient = _kept_rows_gradient(xp, scaled, mask.alive)
    return PerSample(inputs, per_sample, lambda: scaled_gradient(1.0), weight, mean_weight,
                     nan_hint=_CE_NAN_HINT, scaled_gradient=scaled_gradient)


def _categorical_parts(inputs: Inputs, weights: Array | None, from_logits: bool,
                       label_smoothing: float, eps: float | None, policy: Convention,
                       check_values: bool) -> tuple[Array, Any]:
    """The categorical cross-entropy of every sample and its scaled gradient (no mask)."""
    xp, y = inputs.xp, inputs.y_true
    n_classes = inputs.y_pred.shape[-1]
    smooth = maybe_nonzero(label_smoothing)  # a traced value takes the general branch
    q = y * (1.0 - label_smoothing) + label_smoothing / n_classes if smooth else y
    a = q if weights is None else q * weights
    if from_logits:
        terms, _, (a_dot_log_p,) = log_softmax_at(xp, inputs.y_pred, vectors=(a,),
                                                  may_sync=check_values)
        per_sample = -a_dot_log_p
    else:
        row_total, p_in = _normalised_rows(xp, inputs.y_pred, policy)
        clip = default_eps(inputs, eps, policy)
        if isinstance(p_in, np.ndarray) and isinstance(a, np.ndarray) and \
                maybe_nonzero(clip) and not is_traced(clip):
            # NumPy, eps > 0: _clipped_log's clip and log, its mask of the clip left to the
            # gradient (measured at 333334 x 3 float32: 2.5 -> 0.9 ms for the clipped log;
            # the value's mask of unused entries is only read with eps = 0)
            p = np.clip(p_in, clip, 1.0 - clip)
            log_p, inside = np.log(p), None
        else:
            log_p, p, inside = _clipped_log(xp, p_in, clip, unused=a == 0)
        per_sample = -row_dot(xp, a, log_p)

    def scaled_gradient(scale: Array | float) -> Array:
        if from_logits:
            # d/dz_j of -sum_c a_c log softmax(z)_c = softmax(z)_j * sum_c a_c - a_j
            a_total = xp.sum(a, axis=-1)
            return terms.scaled_probabilities(a_total * scale) - a * _per_row(scale)
        if inside is None:  # the NumPy path above: the same numbers in one buffer
            inside_p = (p_in >= clip) & (p_in <= 1.0 - clip)
            g = np.reciprocal(p)
            g = mul_zero_safe(xp, a, g)
            np.negative(g, out=g)
            g = select(xp, inside_p, g, 0.0)
        else:
            g = xp.where(inside, -mul_zero_safe(xp, a, 1.0 / p), 0.0)
        if row_total is not None:
            # through p / sum(p): d/dp_j = (g_j(p_hat) + sum_c a_c [inside_c]) / sum(p)
            active = xp.sum(xp.where(inside if inside is not None else inside_p, a, 0.0),
                            axis=-1)
            g = (g + active[..., None]) / row_total[..., None]
        return g * _per_row(scale)

    return per_sample, scaled_gradient


def _masked_categorical(func: str, inputs: Inputs, mask: Masked, weights: Array | None,
                        label_smoothing: float, policy: Convention, check_values: bool
                        ) -> tuple[Array, Array, Any]:
    """``(targets used, per-sample loss, scaled gradient)`` with a class mask: the softmax over
    the classes left; smoothing spreads over them. losskit refuses a target on a masked class,
    optax's convention drops it."""
    xp, y = inputs.xp, inputs.y_true
    if policy.masked_as_zero:
        y = xp.where(mask.classes, y, 0.0)
    elif check_values:
        check_masked_targets(func, xp, y, mask.classes, mask.alive)
    target = y
    if maybe_nonzero(label_smoothing):
        target = y * (1.0 - label_smoothing) + label_smoothing * _spread_over(xp, mask.classes,
                                                                              y.dtype)
    per_sample, scaled = masked_cross_entropy(
        xp, inputs.y_pred, target if weights is None else target * weights, mask.classes)
    return y, per_sample, scaled


def _spread_over(xp: Namespace, classes: Array, dtype: Any) -> Array:
    """The uniform distribution over each row's classes left (the smoothing's target)."""
    allowed = xp.astype(classes, dtype)
    return allowed / xp.sum(allowed, axis=-1, keepdims=True)


def _kept_rows_gradient(xp: Namespace, scaled: Any, alive: Array | None) -> Any:
    """The scaled gradient, exactly 0 on the samples of weight 0 and those ``where`` drops."""

    def scaled_gradient(scale: Array | float) -> Array:
        g = _zero_where_unweighted(xp, scaled(scale), scale)
        return g if alive is None else xp.where(alive[..., None], g, 0.0)

    return scaled_gradient


def _check_target_rows(func: str, inputs: Inputs) -> None:
    """One-hot or probability rows: values in [0, 1], rows summing to 1."""
    xp, y = inputs.xp, inputs.y_true
    check_domain(func, xp, "y_true", y, UNIT_INTERVAL,
                 "y_true holds one-hot or probability rows; for integer labels use "
                 "sparse_categorical_cross_entropy")
    check_rows_sum_to_one(
        func, xp, "y_true", y, inputs.out_dtype,
        "Targets must be one-hot or probability rows; for several labels per sample "
        "use binary_cross_entropy (multi-label)")


def _soft_mean_weight(xp: Namespace, policy: Convention, per_sample: Array,
                      weight: Array | None, y: Array, weights: Array | None) -> Array | None:
    """The mean's normalising weights with probability targets: the sample weights times
    the summed class weight of the target (PyTorch's for class indices), or a count (under a
    counted mean; PyTorch's probability targets with class weights divide by n)."""
    mean_weight = count_normaliser(xp, per_sample, weight, policy)
    if policy.soft_class_weight_count_mean and weights is not None:
        return xp.ones_like(per_sample)
    if weights is not None and mean_weight is None:
        target_weight = xp.sum(y * weights, axis=-1)
        return target_weight if weight is None else weight * target_weight
    return mean_weight


def _normalised_rows(xp: Namespace, p: Array, policy: Convention
                     ) -> tuple[Array | None, Array]:
    """Keras divides probability rows by their sum before clipping (``renormalise_rows``);
    others take them as given. Returns ``(row sums or None, probabilities to use)``."""
    if not policy.renormalise_rows:
        return None, p
    total = xp.sum(p, axis=-1)
    return total, p / total[..., None]


def _label_mean_weight(xp: Namespace, policy: Convention, per_sample: Array,
                       weight: Array | None, label_weight: Array | None,
                       ignored: Array | None, *, weighted: bool) -> Array | None:
    """The mean's normalising weights with integer labels: the sample weights times the class
    weight of each label (PyTorch's ``cross_entropy``), or, under a counted mean, the number of
    samples (Keras: those it did not mask, class weights too; PyTorch's idiom
    ``(w * loss(reduction="none")).mean()``: all n, with sample weights only)."""
    counted = weighted or (policy.class_weight_count_mean and label_weight is not None)
    if policy.count_mean and counted:
        ones = xp.ones_like(per_sample)
        return ones if ignored is None or policy.count_ignored else xp.where(ignored, 0.0, ones)
    if label_weight is not None:
        return label_weight if weight is None else weight * label_weight
    return None


def _sparse_targets(inputs: Inputs, labels: Array, weights: Array | None,
                    label_smoothing: float) -> tuple[Array | None, Array | float, Array | None]:
    """``(a_y, hit, spread)``: the class weight of each label (``None`` without class
    weights), the target's weight at the label, and its smoothing part ``eps/C * a_c`` for
    every class (``None`` without smoothing)."""
    xp, n_classes = inputs.xp, inputs.y_pred.shape[-1]
    label_weight = None
    if weights is not None:
        label_weight = xp.reshape(xp.take(weights, xp.reshape(labels, (-1,))), labels.shape)
    hit = (1.0 - label_smoothing) * (1.0 if label_weight is None else label_weight)
    spread = None
    if maybe_nonzero(label_smoothing):  # a traced value takes the general branch
        spread = label_smoothing / n_classes * (
            xp.ones(n_classes, dtype=inputs.y_pred.dtype, device=device(inputs.y_pred))
            if weights is None else weights)
    return label_weight, hit, spread


class _Probabilities(NamedTuple):
    """What the sparse cross-entropy from probabilities keeps for its gradient."""

    log_p_y: Array
    smooth: list[Array]
    row_total: Array | None
    p_y: Array
    inside_y: Array
    p: Array | None = None
    inside: Array | None = None


def _sparse_probabilities(inputs: Inputs, labels: Array, spread: Array | None, eps: float,
                          policy: Convention) -> _Probabilities:
    """``log p_y`` (clipped) and, with smoothing, ``sum_c spread_c log p_c``: only the labels'
    probabilities are needed unless the target is smoothed."""
    xp, y_pred = inputs.xp, inputs.y_pred
    row_total, _ = _normalised_rows(xp, y_pred, policy) \
        if policy.renormalise_rows else (None, None)
    p_y = take_labels(xp, y_pred, labels)
    if row_total is not None:
        p_y = p_y / row_total
    log_p_y, p_y, inside_y = _clipped_log(xp, p_y, eps)
    if spread is None:
        return _Probabilities(log_p_y, [], row_total, p_y, inside_y)
    p_all = y_pred if row_total is None else y_pred / row_total[..., None]
    log_p, p, inside = _clipped_log(xp, p_all, eps)
    return _Probabilities(log_p_y, [row_dot(xp, spread, log_p)], row_total, p_y, inside_y,
                          p, inside)


def _scaled_hits(inputs: Inputs, labels: Array, hit: Array | float,
                 scale: Array | float) -> Array:
    """The target's weight at each label times the reduction's factor, as an array."""
    hits = hit * scale
    if isinstance(hits, float):
        hits = inputs.xp.full(labels.shape, hits, dtype=inputs.y_pred.dtype,
                              device=device(inputs.y_pred))
    return hits


def _sparse_logit_gradient(xp: Namespace, terms: SoftmaxTerms, labels: Array, hits: Array,
                           spread: Array | None, scale: Array | float) -> Array:
    """d/dz_j = softmax(z)_j * sum_c target_c - target_j, target = hit at y + spread."""
    total = hits if spread is None else hits + xp.sum(spread) * scale
    g = terms.scaled_probabilities(total)
    if spread is not None:
        g = g - spread * _per_row(scale)
    return add_at_labels(xp, g, labels, -hits)


def _sparse_probability_gradient(inputs: Inputs, s: _Probabilities, labels: Array,
                                 hits: Array, spread: Array | None,
                                 scale: Array | float) -> Array:
    """The scaled gradient with respect to the probabilities (zero outside the clip)."""
    xp = inputs.xp
    g = (xp.where(s.inside, -spread / s.p, 0.0) * _per_row(scale) if spread is not None
         else xp.zeros_like(inputs.y_pred))
    g = add_at_labels(xp, g, labels, xp.where(s.inside_y, -hits / s.p_y, 0.0))
    if s.row_total is not None:
        # through p / sum(p): d/dp_j = (g_j(p_hat) + sum_c target_c [inside_c]) / sum(p)
        active = xp.where(s.inside_y, hits, 0.0)
        if spread is not None:
            active = active + xp.sum(xp.where(s.inside, spread, 0.0), axis=-1) * scale
        g = (g + active[..., None]) / s.row_total[..., None]
    return g


def _without_ignored(func: str, xp: Namespace, weight: Array | None, ignored: Array,
                     ignore_index: int | None, check_mean: bool, *, like: Array) -> Array:
    """Weight 0 for ignored samples; with ``check_mean``, an error if no sample is left (a sum
    over no sample is 0, as in PyTorch; a mean over none is undefined)."""
    # ones_like: a where of two Python numbers is float32 in PyTorch, and 1/sum(w) with it
    weight = xp.where(ignored, 0.0, xp.ones_like(like) if weight is None else weight)
    if check_mean and not to_bool(func, xp.any(weight > 0)):
        fail(func, "y_true", f"is ignore_index={ignore_index} (or weight 0) everywhere, so "
             "the mean is undefined", "Skip this batch, or pass check_values=False to get 0")
    return weight


def _per_row(scale: Array | float) -> Array | float:
    return scale if isinstance(scale, float) else scale[..., None]


def _zero_where_unweighted(xp: Namespace, g: Array, scale: Array | float) -> Array:
    """Rows of zero weight get an exactly zero gradient, even from non-finite inputs."""
    if isinstance(scale, float):
        return g
    return xp.where(scale[..., None] == 0, 0.0, g)


def _labels_as_integers(func: str, xp: Namespace, labels: Array, check_values: bool) -> Array:
    """Labels in the widest integer dtype the configuration holds (:func:`index_dtype`: int64,
    int32 for JAX without x64, where asking for int64 warned at every call); float labels
    are checked whole and within that dtype's range before the cast narrows them."""
    target = index_dtype(xp)
    if xp.isdtype(labels.dtype, "integral"):
        return labels if labels.dtype == target else xp.astype(labels, target)
    if xp.isdtype(labels.dtype, "bool"):
        fail(func, "y_true", "has dtype bool", "Pass integer class labels", TypeError)
    if check_values:
        fractional = ~(xp.floor(labels) == labels)
        if to_bool(func, xp.any(fractional)):
            index = first_index(xp, fractional)
            fail(func, "y_true", f"has a non-integer label {to_float(labels[index]):g} at index "
                 f"{index_text(index)}",
                 "Pass integer class labels (for one-hot or soft targets use "
                 "categorical_cross_entropy)")
        info = xp.iinfo(target)
        if info.bits < 64:
            outside = (labels < info.min) | (labels > info.max)
            if to_bool(func, xp.any(outside)):
                index = first_index(xp, outside)
                fail(func, "y_true", f"has the label {to_float(labels[index]):g} at index "
                     f"{index_text(index)}, which {target} cannot hold",
                     "Pass labels in the range of your classes")
    return xp.astype(labels, target)


_SPARSE_CATEGORICAL_CROSS_ENTROPY = LossExplanation(
    formula="l = −log p_y = logsumexp(z) − z_y,   p = softmax(z),   y an integer label",
    distribution="Categorical: P(class c) = p_c; l = −log P(y | p) is the negative "
                 "log-likelihood of the observed class y.",
    activation_from="categorical",
    activation="C units with softmax; better, a linear last layer with from_logits=True",
    raw_output="the C logits z (from_logits=True), or the probabilities p",
    gradient="∂l/∂z_c = p_c − [c = y]  (softmax(z) minus the one-hot label).",
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
    case=_LABEL_CASE,
    classification=True,
)


def _categorical_value(xp: Namespace, y: Array, eta: Array) -> Array:
    r""":math:`\log\sum_c e^{\eta_c} - \eta_y` of the logits :math:`\eta` and labels :math:`y`."""
    return -take_labels(xp, log_softmax(xp, eta), y)


def _categorical_gradient(xp: Namespace, y: Array, eta: Array) -> Array:
    """``softmax(eta) - one_hot(y)``."""
    p = xp.exp(log_softmax(xp, eta))
    return add_at_labels(xp, p, y, xp.full(y.shape, -1.0, dtype=p.dtype, device=device(p)))


def _categorical_hessian(xp: Namespace, y: Array, eta: Array) -> Array:
    """The diagonal of :math:`\\mathrm{diag}(p) - pp^\\top`: :math:`p_c(1 - p_c)`."""
    p = xp.exp(log_softmax(xp, eta))
    return p * (1.0 - p)


@loss_function(kernel=Kernel("multinomial logit", _categorical_value, _categorical_gradient,
                             _categorical_hessian),
               axis=ClassAxes(), ignore_index=Optional(Integer()), **_PROBABILITY_OPTIONS,
               aliases=("sparse ce", "scce", "sparse cross-entropy", "CrossEntropyLoss",
                        "softmax_cross_entropy_with_integer_labels"),
               explanation=_SPARSE_CATEGORICAL_CROSS_ENTROPY)
def sparse_categorical_cross_entropy(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    from_logits: bool = False,
    axis: int | tuple[int, ...] = -1,
    ignore_index: int | None = None,
    class_weight: Any = None,
    label_smoothing: float = 0.0,
    eps: float | None = None,
    where: Any = None,
    sample_weight: Any = None,
    reduction: str = "mean",
    unit: str = "nats",
    check_values: bool = True,
    convention: str = "losskit",
) -> PerSample:
    r"""Categorical cross-entropy against integer class labels.

    .. math::

        l_i = -(1-\varepsilon)\, a_{y_i} \log p_{i y_i}
              - \frac{\varepsilon}{C} \sum_{c} a_c \log p_{ic}, \qquad
        L = \frac{\sum_i w_i l_i}{\sum_i w_i a_{y_i}}

    the negative log-likelihood of :math:`y_i \sim \mathrm{Categorical}(p_i)` (softmax output),
    with class weights :math:`a` and label smoothing :math:`\varepsilon`. Equal to
    :func:`categorical_cross_entropy` on one-hot targets, and to PyTorch's ``cross_entropy``
    with ``weight``, ``ignore_index`` and ``label_smoothing``. Samples whose label equals
    ``ignore_index`` get weight 0 and leave the mean's denominator.

    Parameters
    ----------
    y_true : array_like of integers, shape ``y_pred.shape`` less ``axis``
        Labels in ``[0, C)`` (or ``ignore_index``). Floats with integral values are accepted.
    y_pred : array_like, shape (..., C, ...)
        Probabilities, or logits with ``from_logits=True``; classes along ``axis``.
    from_logits, axis, class_weight, label_smoothing, eps, sample_weight, reduction, unit
        As in :func:`categorical_cross_entropy`; with several class ``axis`` the labels
        index the classes flattened in the order the axes are given (optax's).
    where : array_like of bool, optional
        As in :func:`categorical_cross_entropy`: losskit refuses a label on a masked class;
        ``convention="optax"`` keeps it against the normaliser of the classes left
        (:math:`\operatorname{logsumexp}_{c \in \text{where}} z_c - z_y`, optax's value).
    check_values, convention
        As in :func:`categorical_cross_entropy`.
    ignore_index : int, optional
        Label value marking samples to skip (e.g. padding).

    Returns
    -------
    array
        In ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> round(float(lk.sparse_categorical_cross_entropy([0, 2], [[0.7, 0.2, 0.1],
    ...                                                       [0.1, 0.3, 0.6]])), 5)
    0.43375
    >>> lk.sparse_categorical_cross_entropy([0, 3], [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    Traceback (most recent call last):
    ...
    ValueError: sparse_categorical_cross_entropy: y_true has values outside [0, 3) (3 at index 1;...

    Two class axes (a 2 × 2 grid of classes per sample, labels 0..3 in row-major order):

    >>> import numpy as np
    >>> z = np.log([[[0.1, 0.2], [0.3, 0.4]]])
    >>> round(float(lk.sparse_categorical_cross_entropy([3], z, from_logits=True,
    ...                                                 axis=(1, 2))), 4)
    0.9163
    """
    func = "sparse_categorical_cross_entropy"
    policy = CONVENTIONS[convention]
    inputs = prepare_classes(func, y_true, y_pred, sample_weight, axis, labels=True,
                             arrays={"class_weight": class_weight, "where": where})
    xp = inputs.xp
    labels = _labels_as_integers(func, xp, inputs.y_true, check_values)
    if check_values:
        check_labels(func, xp, labels, inputs.y_pred.shape[-1], ignore_index)
        _check_predictions(func, inputs, from_logits, rows=True,
                           renormalised=policy.renormalise_rows)
    mask = where_mask(func, inputs, from_logits)
    weights = _class_weights(func, inputs, check_values)
    ignored = None if ignore_index is None else labels == ignore_index
    labels = labels if ignored is None else xp.where(ignored, 0, labels)
    label_weight, hit, spread = _sparse_targets(inputs, labels, weights, label_smoothing)
    if mask.classes is not None:
        per_sample, scaled = _masked_sparse(func, inputs, labels, mask, ignored, weights,
                                            _scaled_hits(inputs, labels, hit, 1.0),
                                            label_smoothing, policy, check_values)
    else:
        per_sample, scaled = _sparse_parts(inputs, labels, hit, spread, from_logits, eps,
                                           policy, check_values)
    weight = sample_weights(func, inputs, inputs.sample_weight, tuple(per_sample.shape),
                            check_values=check_values)
    if ignored is not None:
        weight = _without_ignored(func, xp, weight, ignored, ignore_index,
                                  check_values and reduction == "mean", like=per_sample)
    per_sample, weight = masked_weights(func, xp, policy, per_sample, weight, mask.alive,
                                        check_values and reduction == "mean")
    mean_weight = _label_mean_weight(xp, policy, per_sample, weight, label_weight, ignored,
                                     weighted=sample_weight is not None)
    scaled_gradient = _kept_rows_gradient(xp, scaled, mask.alive)
    return PerSample(inputs, per_sample, lambda: scaled_gradient(1.0), weight, mean_weight,
                     nan_hint=_CE_NAN_HINT, scaled_gradient=scaled_gradient)


def _sparse_parts(inputs: Inputs, labels: Array, hit: Array | float, spread: Array | None,
                  from_logits: bool, eps: float | None, policy: Convention,
                  check_values: bool) -> tuple[Array, Any]:
    """The sparse cross-entropy of every sample and its scaled gradient (no class mask)."""
    xp = inputs.xp
    terms = probabilities = None
    if (from_logits and spread is None and isinstance(hit, float) and hit == 1.0
            and aac.is_jax_namespace(xp) and inputs.y_pred.shape[-1] <= _JAX_FEW_CLASSES):
        z = inputs.y_pred
        per_sample = with_derivative(xp, _jax_sparse_parts, labels, z)

        def jax_gradient(scale: Array | float) -> Array:
            return _jax_sparse_parts(xp, labels, z)[1] * _per_row(scale)

        return per_sample, jax_gradient
    if from_logits:
        terms, log_p_y, smooth = log_softmax_at(
            xp, inputs.y_pred, labels=labels, vectors=() if spread is None else (spread,),
            may_sync=check_values)
    else:
        probabilities = _sparse_probabilities(inputs, labels, spread,
                                              default_eps(inputs, eps, policy), policy)
        log_p_y, smooth = probabilities.log_p_y, probabilities.smooth
    per_sample = -log_p_y if isinstance(hit, float) and hit == 1.0 else -hit * log_p_y
    if spread is not None:
        per_sample = per_sample - smooth[0]

    def scaled_gradient(scale: Array | float) -> Array:
        hits = _scaled_hits(inputs, labels, hit, scale)
        return (_sparse_logit_gradient(xp, terms, labels, hits, spread, scale)
                if terms is not None else
                _sparse_probability_gradient(inputs, probabilities, labels, hits, spread,
                                             scale))

    return per_sample, scaled_gradient


#: JAX: the sparse cross-entropy of at most this many classes takes _jax_sparse_parts
_JAX_FEW_CLASSES = 16


def _jax_sparse_parts(xp: Namespace, labels: Array, z: Array) -> tuple[Array, Array]:
    r"""``logsumexp(z) − z_y`` per row and its gradient ``softmax(z) − onehot(y)``, for
    :func:`with_derivative` (JAX, a few classes): ``log Σ e^(z − m) + (m − z_y)``, ``m`` the
    row maximum, with ``z_y`` gathered from the logits (a gather from ``z − m`` kept the
    shifted logits in memory), the same numbers as :func:`log_softmax_at`. Rows holding
    ``+inf`` take their limit as there, in a branch (``lax.cond``) taken only when one
    exists: replacing them in every call, as traced code must without it, cost as much as
    the loss. Measured at 333334 x 3 float32, ``jit``: the value 6.4 -> 4.6-5.2 ms, with the
    gradient 11.7 -> 4.8-5.1 ms (optax's ``softmax_cross_entropy_with_integer_labels`` 4.6
    and 5.9-7.4 ms); at 100 and 1000 classes the derivative computed in the forward pass
    was slower with the gradient (1.9-2.4 against 1.5-1.7 ms): those take the generic path.
    A row that is all ``-inf`` gives NaN, as there."""
    import jax

    m = jax.lax.stop_gradient(xp.max(z, axis=-1))
    infinite = m == math.inf

    def plain() -> tuple[Array, Array]:
        return _jax_log_softmax_rows(xp, z, m, labels)

    def limit() -> tuple[Array, Array]:
        replaced = limit_of_infinite_rows(xp, z, m)
        return _jax_log_softmax_rows(xp, replaced, xp.where(infinite, 0.0, m), labels)

    value, p = jax.lax.cond(xp.any(infinite), limit, plain)
    n = z.shape[-1]
    classes = xp.arange(n, dtype=labels.dtype)
    # the class take_labels read: a negative label (unchecked under jit) counts from the end
    hit = xp.where(labels < 0, labels + n, labels)
    return value, p - xp.astype(classes == hit[..., None], z.dtype)


def _jax_log_softmax_rows(xp: Namespace, z: Array, m: Array, labels: Array
                          ) -> tuple[Array, Array]:
    """``(logsumexp(z) − z_y, softmax(z))`` given the row shift ``m``."""
    exp = xp.exp(z - m[..., None])
    total = xp.sum(exp, axis=-1)
    return xp.log(total) + (m - take_labels(xp, z, labels)), exp * (1.0 / total)[..., None]


def _masked_sparse(func: str, inputs: Inputs, labels: Array, mask: Masked,
                   ignored: Array | None, weights: Array | None, hits: Array,
                   label_smoothing: float, policy: Convention, check_values: bool
                   ) -> tuple[Array, Any]:
    """The sparse cross-entropy with a class mask: the softmax over the classes left.
    losskit refuses a label on a masked class; optax's convention keeps it, against the
    normaliser of the classes left (optax's ``logsumexp(z, where) - z_y``)."""
    xp, z = inputs.xp, inputs.y_pred
    target = add_at_labels(xp, xp.zeros_like(z), labels, hits)
    if check_values and not policy.masked_as_zero:
        alive = mask.alive if ignored is None else mask.alive & ~ignored
        check_masked_targets(func, xp, target != 0, mask.classes, alive)
    if maybe_nonzero(label_smoothing):
        spread = label_smoothing * _spread_over(xp, mask.classes, z.dtype)
        target = target + (spread if weights is None else spread * weights)
    return masked_cross_entropy(xp, z, target, mask.classes)
