"""Every catalogue loss and family NLL against the framework's own function, on every backend.

Run: ``python benchmarks/bench_catalogue.py [--quick] [--repeats R] [--only NAME ...]``.

Rows: every registered loss (``losskit.losses.loss_specs()``) and every family
(``losskit.families.registered_families()``). Inputs are built at size from each one's worked
example (``spec.explanation.case``): the example's target repeated (integer labels, 0/1 and
±1 labels drawn at random, one-hot rows too; label sequences and sets kept), its raw output
plus N(0, 1) noise, float32 (stacked pairs and triplets keep their stacked axes; per-element
probabilities get the noise on the logit scale; array options such as
``linear_cross_entropy``'s ``weight`` become each backend's arrays). The losses of a whole
batch (``ntxent``, ``circle_loss``) get one batch of ``sqrt(1e6)`` embeddings (their
similarity matrix has 1e6 elements), the example's labels repeated as new classes.

Columns, per backend, the ratio of losskit's time to the reference's, both timed in this
process, interleaved (best of R, each timed call preceded by an untimed one: on a shared machine
other jobs only add time):

- ``value`` / ``v+g``: value only, and value plus gradient with respect to the raw output;
- ``L`` (large: at least 1e6 elements of raw output) and ``S`` (a 64-row batch, per call,
  best of R blocks of calls). ``--quick`` (under a minute on an idle 2-core machine) runs
  1e5 elements and no small batch, 2 repeats: a smoke run, not figures.

References: PyTorch eager (``torch.nn.functional`` where it has the loss, else the
straightforward formula in torch, forward + ``.backward()``); JAX (``optax`` where it has the
loss, else the formula in ``jax.numpy``; both ``jax.jit`` of the value or of
``jax.value_and_grad``; losskit with ``check_values=False``, as value checks need concrete
arrays); NumPy values against scikit-learn / SciPy where they have the loss, else the formula
in NumPy, and NumPy ``losskit.value_and_gradient`` (a family's ``value_and_gradient``: its
loss and per-entry gradient) against PyTorch eager forward + backward (NumPy has no
autograd). losskit runs with its default value checks on NumPy and torch; the column
``torch v+g L off`` is torch ``v+g L`` with ``check_values=False``. ``agree`` is the
largest relative difference of the two values on the small batch (float64 on NumPy): it
shows that both sides compute the same loss (PyTorch's ``poisson_nll_loss(full=True)``
uses Stirling's approximation, so the Poisson family differs there by design); ``agree
jax`` the same in float32 against the JAX reference. ``not run``: why a row, a size or a
backend could not be built or run (the run goes on).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import losskit as lk
from losskit._torch import native_kernels
from losskit.families import family, registered_families
from losskit.losses import loss_specs

SMALL = 64
BACKENDS = ("np", "torch", "jax")
LOG_2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------- inputs

#: rows whose 0/1 targets are drawn at random; whose ±1 targets are; whose raw outputs are
#: per-element probabilities (the example's plus noise on the logit scale)
LABELS = {"binary_cross_entropy", "binary_focal_loss", "hinge_loss", "squared_hinge_loss",
          "bernoulli", "multilabel", "sparsemax_loss"}
SIGNS = {"margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss",
         "cosine_embedding_loss", "perceptron_loss"}
PROBABILITIES = {"dice_loss", "tversky_loss"}
#: losses of a whole batch (every pair of its rows): ``rows`` embeddings, the example's
#: labels repeated as new classes (each row keeps the example's positives and negatives);
#: large is a similarity matrix of at least 1e6 elements
BATCH_LEVEL = {"ntxent", "circle_loss"}
#: options that are arrays (converted to each backend's arrays): linear_cross_entropy's layer
ARRAY_OPTIONS = {"weight", "bias"}


def _rows_for(name: str, width: int, n_elements: int) -> int:
    if name in BATCH_LEVEL:
        return max(1, math.ceil(math.sqrt(n_elements)))
    return max(1, math.ceil(n_elements / width))


def _inputs(name: str, case: Any, n: int, rng: np.random.Generator
            ) -> tuple[np.ndarray | None, np.ndarray]:
    """``n`` samples built from the worked example: its raw output plus N(0, 1) noise (float32),
    its target repeated, or drawn where the target is a label (see the sets above)."""
    if name in BATCH_LEVEL:  # the example is one batch: (k,) labels, (k, D) embeddings
        y1 = np.asarray(case.y_true)
        raw1 = np.asarray(case.y_pred, dtype=np.float64)
        k = len(y1)
        index = np.arange(n)
        y = (index // k) * (int(y1.max()) + 1) + y1[index % k]
        raw = raw1[index % k] + rng.normal(size=(n, raw1.shape[-1]))
        return y, raw.astype(np.float32)
    y1, raw1 = case.batch(case.y_true)
    raw = np.repeat(raw1, n, axis=0)
    if name in PROBABILITIES:
        logit = np.log(raw) - np.log1p(-raw)
        raw = 1 / (1 + np.exp(-(logit + rng.normal(size=raw.shape))))
    else:
        raw = raw + rng.normal(size=raw.shape)
    if y1 is None:
        return None, raw.astype(np.float32)
    y = np.repeat(y1, n, axis=0)
    if y.dtype.kind in "iu" and y.ndim == 1:  # a class label per sample
        weight = case.options.get("weight")
        classes = len(weight) if weight is not None else raw1.shape[-1]
        y = rng.integers(0, classes, size=n)
    elif y.dtype.kind in "iu":  # a label sequence or set per sample: the example's
        pass
    elif y.ndim == 2 and np.all((y1 == 0) | (y1 == 1)) and y1.sum() == 1:
        y = np.eye(y1.shape[-1])[rng.integers(0, y1.shape[-1], size=n)]
    elif name in LABELS and np.all((y1 == 0) | (y1 == 1)):
        y = rng.integers(0, 2, size=y.shape).astype(np.float64)
    elif name in SIGNS:
        y = 2.0 * rng.integers(0, 2, size=y.shape) - 1.0
    return y, raw.astype(np.float32)


# --------------------------------------------------------------------------- references
# Each reference is ``ref(ops, y, raw, opts) -> scalar mean loss``; ``ops`` names the
# framework's functions (``F`` is torch.nn.functional / optax where they have the loss).

class _Ops:
    def __init__(self, name: str) -> None:
        self.name = name
        if name == "torch":
            import torch
            import torch.nn.functional as F
            self.m, self.F = torch, F
            self.softplus = F.softplus
            self.log_softmax = lambda z: F.log_softmax(z, dim=-1)
            self.logsumexp = lambda z: torch.logsumexp(z, dim=-1)
            self.lgamma = torch.lgamma
            self.relu = torch.relu
            self.max_last = lambda z: z.max(dim=-1).values
        else:
            import jax
            import jax.numpy as jnp
            import jax.scipy.special as jss
            import optax
            self.m, self.F = jnp, optax.losses
            self.softplus = jax.nn.softplus
            self.log_softmax = lambda z: jax.nn.log_softmax(z, axis=-1)
            self.logsumexp = lambda z: jss.logsumexp(z, axis=-1)
            self.lgamma = jss.gammaln
            self.relu = jax.nn.relu
            self.max_last = lambda z: z.max(axis=-1)


def _bce(o: _Ops, y: Any, z: Any) -> Any:
    if o.name == "torch":
        return o.F.binary_cross_entropy_with_logits(z, y)
    return o.F.sigmoid_binary_cross_entropy(z, y).mean()


def _sparse_ce(o: _Ops, y: Any, z: Any) -> Any:
    if o.name == "torch":
        return o.F.cross_entropy(z, y)
    return o.F.softmax_cross_entropy_with_integer_labels(z, y).mean()


def _focal(o: _Ops, y: Any, z: Any, gamma: float) -> Any:
    if o.name == "torch":  # the textbook form on F.binary_cross_entropy_with_logits
        ce = o.F.binary_cross_entropy_with_logits(z, y, reduction="none")
        p = o.m.sigmoid(z)
        p_t = p * y + (1 - p) * (1 - y)
        return (ce * (1 - p_t) ** gamma).mean()
    return o.F.sigmoid_focal_loss(z, y, gamma=gamma).mean()


def _hinge(o: _Ops, y: Any, z: Any, power: int) -> Any:
    return (o.relu(1 - (2 * y - 1) * z) ** power).mean()


def _poisson(o: _Ops, y: Any, eta: Any, full: bool) -> Any:
    if o.name == "torch":
        return o.F.poisson_nll_loss(eta, y, log_input=True, full=full)
    extra = o.lgamma(y + 1) if full else 0.0
    return (o.m.exp(eta) - y * eta + extra).mean()


def _gaussian(o: _Ops, y: Any, mu: Any, var: float | Any, full: bool) -> Any:
    if o.name == "torch":
        v = var if not isinstance(var, float) else o.m.full_like(mu, var)
        return o.F.gaussian_nll_loss(mu, y, v, full=full)
    return (0.5 * (o.m.log(var) + (y - mu) ** 2 / var) + (0.5 * LOG_2PI if full else 0.0)).mean()


def _student(o: _Ops, y: Any, mu: Any, df: float, scale: float) -> Any:
    const = (math.lgamma(df / 2) + 0.5 * math.log(df * math.pi) + math.log(scale)
             - math.lgamma((df + 1) / 2))
    return (const + (df + 1) / 2 * o.m.log1p((mu - y) ** 2 / (df * scale * scale))).mean()


def _gamma(o: _Ops, y: Any, eta: Any, shape: float, full: bool) -> Any:
    body = shape * (y * o.m.exp(-eta) + eta)
    if full:
        body = body - shape * math.log(shape) + math.lgamma(shape) - (shape - 1) * o.m.log(y)
    return body.mean()


def _negbin(o: _Ops, y: Any, raw: Any, full: bool) -> Any:
    eta, s = raw[..., 0], raw[..., 1]
    u, r = eta + s, o.m.exp(-s)
    body = r * o.softplus(u) + y * o.softplus(-u) + o.lgamma(r) - o.lgamma(y + r)
    if full:
        body = body + o.lgamma(y + 1)
    return body.mean()


def _mixture(o: _Ops, y: Any, raw: Any) -> Any:
    k = raw.shape[-1] // 3
    a, mu, s = raw[..., :k], raw[..., k:2 * k], raw[..., 2 * k:]
    yy = y[..., None]
    logn = -0.5 * ((yy - mu) * o.m.exp(-s)) ** 2 - s - 0.5 * LOG_2PI
    return -o.logsumexp(o.log_softmax(a) + logn).mean()


def _tweedie(o: _Ops, y: Any, eta: Any, p: float) -> Any:
    d = 2 * (o.relu(y) ** (2 - p) / ((1 - p) * (2 - p)) - y * o.m.exp((1 - p) * eta) / (1 - p)
             + o.m.exp((2 - p) * eta) / (2 - p))
    return d.mean()


# ----------------------------------------------------------- the losses of more than (y, raw)
# Margin, embedding, contrastive, ranking, overlap, sequence and sparsemax losses: the
# framework's own where it has the loss (``torch.nn.functional``, optax), else the formula as
# ``tests/formulas.py`` states it, written in that framework.

def _take(o: _Ops, s: Any, y: Any) -> Any:
    """``s[..., y]`` per row (integer labels)."""
    if o.name == "torch":
        return s.gather(-1, y[..., None])[..., 0]
    return o.m.take_along_axis(s, y[..., None], axis=-1)[..., 0]


def _masked_lse(o: _Ops, s: Any, mask: Any) -> Any:
    """log Σ_{mask} e^s along the last axis (−inf where the mask is empty)."""
    return o.logsumexp(o.m.where(mask, s, -math.inf))


def _unit(o: _Ops, x: Any, floor: float) -> Any:
    norm = o.m.sqrt((x * x).sum(-1, keepdims=True))
    return x / o.m.maximum(norm, o.m.asarray(floor, dtype=x.dtype) if o.name == "jax"
                           else o.m.tensor(floor, dtype=x.dtype))


def _eye(o: _Ops, n: int) -> Any:
    return o.m.eye(n, dtype=bool)


def _ntxent(o: _Ops, y: Any, x: Any, temperature: float) -> Any:
    if o.name == "jax":
        return o.F.ntxent(x, y, temperature)
    u = _unit(o, x, math.sqrt(np.finfo(np.float64).eps))
    s = u @ u.T / temperature
    same = y[:, None] == y[None, :]
    positive = same & ~_eye(o, len(y))
    negatives = _masked_lse(o, s, ~same)
    return (o.softplus(negatives[:, None] - s) * positive).sum() / positive.sum()


def _circle(o: _Ops, y: Any, x: Any, gamma: float, margin: float) -> Any:
    u = _unit(o, x, 1e-6)
    s = u @ u.T
    same = y[:, None] == y[None, :]
    positive, negative = same & ~_eye(o, len(y)), ~same
    a = -gamma * o.relu(1 + margin - s) * (s - 1 + margin)
    b = gamma * o.relu(s + margin) * (s - margin)
    t = _masked_lse(o, a, positive) + _masked_lse(o, b, negative)
    rows = positive.any(-1) & negative.any(-1)
    return (o.m.where(rows, o.softplus(o.m.where(rows, t, 0.0)), 0.0)).sum() / rows.sum()


def _cos(o: _Ops, u: Any, v: Any) -> Any:
    return (u * v).sum(-1) / o.m.sqrt((u * u).sum(-1) * (v * v).sum(-1))


def _pairwise(o: _Ops, y: Any, s: Any, hinge: bool) -> Any:
    d = s[..., :, None] - s[..., None, :]
    pairs = (y[..., :, None] > y[..., None, :])
    term = o.relu(1 - d) if hinge else o.softplus(-d)
    return ((term * pairs).sum((-2, -1)) / pairs.sum((-2, -1))).mean()


def _sparse_plus(o: _Ops, x: Any) -> Any:
    return o.m.where(x <= -1, 0.0, o.m.where(x >= 1, x, (x + 1) ** 2 / 4))


def _sparsemax_loss(o: _Ops, y: Any, z: Any) -> Any:
    """½(1 − Σp²) + Σp(z − z_y), p = sparsemax(z) (the projection onto the simplex)."""
    if o.name == "jax":
        return o.F.multiclass_sparsemax_loss(z, y).mean()
    zs = o.m.sort(z, dim=-1, descending=True).values
    k = o.m.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    cum = zs.cumsum(-1)
    size = (1 + k * zs > cum).sum(-1, keepdim=True)
    tau = (cum.gather(-1, size - 1) - 1) / size
    p = o.relu(z - tau)
    return ((p * (z - _take(o, z, y)[..., None])).sum(-1) + 0.5 * (1 - (p * p).sum(-1))).mean()


def _multilabel_margin(o: _Ops, y: Any, s: Any) -> Any:
    if o.name == "torch":
        return o.F.multilabel_margin_loss(s, y)
    import jax
    valid = o.m.cumprod(y >= 0, axis=-1).astype(bool)
    target = (jax.nn.one_hot(o.m.where(valid, y, 0), s.shape[-1]) * valid[..., None]).max(-2)
    h = o.relu(1 - s[..., :, None] + s[..., None, :])
    return ((h * target[..., :, None] * (1 - target[..., None, :])).sum((-2, -1))
            / s.shape[-1]).mean()


def _multi_margin(o: _Ops, y: Any, s: Any, margin: float, p: int) -> Any:
    if o.name == "torch":
        return o.F.multi_margin_loss(s, y, p=p, margin=margin)
    return (((o.relu(margin - _take(o, s, y)[..., None] + s) ** p).sum(-1) - margin ** p)
            / s.shape[-1]).mean()


def _ctc(o: _Ops, y: Any, z: Any, blank: int) -> Any:
    n, frames, _ = z.shape
    if o.name == "torch":
        key = (n, frames, y.shape[-1])
        if key not in _CTC_LENGTHS:
            _CTC_LENGTHS[key] = (o.m.full((n,), frames, dtype=o.m.long),
                                 o.m.full((n,), y.shape[-1], dtype=o.m.long))
        inputs, targets = _CTC_LENGTHS[key]
        return o.F.ctc_loss(o.log_softmax(z).transpose(0, 1), y, inputs, targets, blank=blank,
                            reduction="sum") / n
    return o.F.ctc_loss(z, o.m.zeros(z.shape[:2], z.dtype), y,
                        o.m.zeros(y.shape, z.dtype), blank_id=blank).mean()


_CTC_LENGTHS: dict[tuple[int, ...], Any] = {}


def _von_mises(o: _Ops, y: Any, eta: Any) -> Any:
    i0e = o.m.special.i0e if o.name == "torch" else __import__("jax").scipy.special.i0e
    kappa = o.m.sqrt((eta * eta).sum(-1))
    return (LOG_2PI + o.m.log(i0e(kappa)) + kappa
            - (eta[..., 0] * o.m.cos(y) + eta[..., 1] * o.m.sin(y))).mean()


def _von_mises_fisher(o: _Ops, x: Any, eta: Any) -> Any:
    kappa = o.m.sqrt((eta * eta).sum(-1))
    log_sinhc = kappa + o.m.log(-o.m.expm1(-2 * kappa) / (2 * kappa))
    return (math.log(4 * math.pi) + log_sinhc - (eta * x).sum(-1)).mean()


def _overlap(o: _Ops, y: Any, p: Any, alpha: float, beta: float) -> Any:
    """Tversky (dice at α = β = ½) over a sample's last axis, ε = 1e-7."""
    tp = (y * p).sum(-1)
    fp, fn = ((1 - y) * p).sum(-1), (y * (1 - p)).sum(-1)
    return (1 - tp / (tp + alpha * fp + beta * fn + 1e-7)).mean()


def _generalized_dice(o: _Ops, y: Any, z: Any) -> Any:
    if o.name == "jax":
        return o.F.multiclass_generalized_dice_loss(z, y).mean()
    p = o.m.softmax(z, dim=-1)
    counts = y.reshape(-1, y.shape[-1]).sum(0)
    w = 1 / (counts ** 2 + 1e-7)
    w = w / w.sum() * len(w)
    inter, total = (y * p).sum(1), y.sum(1) + p.sum(1) + 2.0
    return (w * (1 - (2 * inter + 2.0) / total)).mean()


def _more_references(o: _Ops, opts: dict[str, Any]) -> dict[str, Callable[[Any, Any], Any]]:
    m, F, torch = o.m, o.F, o.name == "torch"
    q = opts.get("q", 0.7)
    margin = opts.get("margin")
    refs: dict[str, Callable[[Any, Any], Any]] = {
        "generalized_cross_entropy": lambda y, z: ((1 - m.exp(-q * (
            F.cross_entropy(z, y, reduction="none") if torch else
            F.softmax_cross_entropy_with_integer_labels(z, y)))) / q).mean(),
        "margin_ranking_loss": (
            (lambda y, s: F.margin_ranking_loss(s[:, 0], s[:, 1], y, margin=margin or 0.0))
            if torch else lambda y, s: o.relu(-y * (s[:, 0] - s[:, 1]) + (margin or 0.0)).mean()),
        "hinge_embedding_loss": (
            (lambda y, x: F.hinge_embedding_loss(x, y, margin=opts.get("margin", 1.0))) if torch
            else lambda y, x: m.where(y > 0, x, o.relu(opts.get("margin", 1.0) - x)).mean()),
        "soft_margin_loss": ((lambda y, s: F.soft_margin_loss(s, y)) if torch else
                             lambda y, s: o.softplus(-y * s).mean()),
        "cosine_embedding_loss": (
            (lambda y, r: F.cosine_embedding_loss(r[:, 0], r[:, 1], y, margin=margin or 0.0))
            if torch else lambda y, r: m.where(
                y > 0, 1 - (c := (r[:, 0] * r[:, 1]).sum(-1) / m.sqrt(
                    ((r[:, 0] ** 2).sum(-1) + 1e-12) * ((r[:, 1] ** 2).sum(-1) + 1e-12))),
                o.relu(c - (margin or 0.0))).mean()),
        "triplet_margin_loss": (
            (lambda y, r: F.triplet_margin_loss(r[:, 0], r[:, 1], r[:, 2],
                                                margin=opts.get("margin", 1.0))) if torch else
            lambda y, r: F.triplet_margin_loss(r[:, 0], r[:, 1], r[:, 2],
                                               margin=opts.get("margin", 1.0)).mean()),
        "triplet_margin_with_distance_loss": (
            (lambda y, r: F.triplet_margin_with_distance_loss(
                r[:, 0], r[:, 1], r[:, 2], margin=opts.get("margin", 1.0),
                distance_function=lambda u, v: 1 - F.cosine_similarity(u, v, dim=-1)))
            if torch else lambda y, r: o.relu(
                _cos(o, r[:, 0], r[:, 2]) - _cos(o, r[:, 0], r[:, 1])
                + opts.get("margin", 1.0)).mean()),
        "cosine_similarity_loss": (
            (lambda y, x: (1 - F.cosine_similarity(x, y, dim=-1, eps=1e-6)).mean()) if torch
            else lambda y, x: F.cosine_distance(x, y, epsilon=1e-6).mean()),
        "ntxent": lambda y, x: _ntxent(o, y, x, opts.get("temperature", 0.07)),
        "circle_loss": lambda y, x: _circle(o, y, x, opts.get("gamma", 80.0),
                                            opts.get("margin", 0.4)),
        "von_mises_nll": lambda y, x: _von_mises(o, y, x),
        "von_mises": lambda y, x: _von_mises(o, y, x),
        "von_mises_fisher_nll": lambda y, x: _von_mises_fisher(o, y, x),
        "von_mises_fisher": lambda y, x: _von_mises_fisher(o, y, x),
        "generalized_kl_divergence": (
            (lambda y, e: (m.xlogy(y, y) - y * e - y + m.exp(e)).sum(-1).mean()) if torch else
            lambda y, e: F.generalized_kl_divergence(e, y).mean()),
        "linear_cross_entropy": (
            (lambda y, h: F.cross_entropy(F.linear(h, opts["weight"]), y)) if torch else
            lambda y, h: F.softmax_cross_entropy_with_integer_labels(
                h @ opts["weight"].T, y).mean()),
        "multi_margin_loss": lambda y, s: _multi_margin(o, y, s, opts.get("margin", 1.0),
                                                        opts.get("p", 1)),
        "multilabel_margin_loss": lambda y, s: _multilabel_margin(o, y, s),
        "perceptron_loss": ((lambda y, s: o.relu(-y * s).mean()) if torch else
                            lambda y, s: F.perceptron_loss(s, y).mean()),
        "multiclass_perceptron_loss": (
            (lambda y, s: (o.max_last(s) - _take(o, s, y)).mean()) if torch else
            lambda y, s: F.multiclass_perceptron_loss(s, y).mean()),
        "dice_loss": lambda y, p: _overlap(o, y, p, 0.5, 0.5),
        "tversky_loss": lambda y, p: _overlap(o, y, p, opts.get("alpha", 0.5),
                                              opts.get("beta", 0.5)),
        "generalized_dice_loss": lambda y, z: _generalized_dice(o, y, z),
        "ranking_softmax_loss": (
            (lambda y, s: -(y * o.log_softmax(s)).sum(-1).mean()) if torch else
            lambda y, s: F.ranking_softmax_loss(s, y)),
        "pairwise_logistic_loss": lambda y, s: _pairwise(o, y, s, False),
        "pairwise_hinge_loss": lambda y, s: _pairwise(o, y, s, True),
        "ctc_loss": lambda y, z: _ctc(o, y, z, opts.get("blank", 0)),
        "sparsemax_loss": (
            (lambda y, z: _sparse_plus(o, (1 - 2 * y) * z).mean()) if torch else
            lambda y, z: F.sparsemax_loss(z, y).mean()),
        "multiclass_sparsemax_loss": lambda y, z: _sparsemax_loss(o, y, z),
        "poly_loss_cross_entropy": (
            (lambda y, z: (F.cross_entropy(z, y, reduction="none") + opts.get("epsilon", 2.0) * (
                y.sum(-1) - (y * m.softmax(z, dim=-1)).sum(-1))).mean()) if torch else
            lambda y, z: F.poly_loss_cross_entropy(z, y, epsilon=opts.get("epsilon", 2.0)).mean()),
    }
    return refs


def _torch_or(o: _Ops, torch_name: str, formula: Callable[[Any, Any], Any]
              ) -> Callable[[Any, Any], Any]:
    return (lambda y, x: getattr(o.F, torch_name)(x, y)) if o.name == "torch" else formula


def _reference(o: _Ops, name: str, opts: dict[str, Any]) -> Callable[[Any, Any], Any]:
    m = o.m
    refs: dict[str, Callable[[Any, Any], Any]] = {
        "binary_cross_entropy": lambda y, z: _bce(o, y, z),
        "bernoulli": lambda y, z: _bce(o, y, z),
        "multilabel": lambda y, z: _bce(o, y, z),
        "sparse_categorical_cross_entropy": lambda y, z: _sparse_ce(o, y, z),
        "categorical": lambda y, z: _sparse_ce(o, y, z),
        "categorical_cross_entropy": (
            (lambda y, p: -(y * m.log(p)).sum(-1).mean()) if not opts.get("from_logits")
            else (lambda y, z: o.F.cross_entropy(z, y)) if o.name == "torch"
            else lambda y, z: o.F.softmax_cross_entropy(z, y).mean()),
        "kl_divergence": (
            (lambda y, z: o.F.kl_div(o.log_softmax(z), y, reduction="batchmean"))
            if o.name == "torch" else
            lambda y, z: o.F.kl_divergence(o.log_softmax(z), y).mean()),
        "hinge_loss": lambda y, z: _hinge(o, y, z, 1),
        "squared_hinge_loss": lambda y, z: _hinge(o, y, z, 2),
        "categorical_hinge_loss": lambda y, z: o.relu(
            1 - (y * z).sum(-1) + ((1 - y) * z - y * 1e30).max(-1)
            if o.name == "jax" else
            1 - (y * z).sum(-1) + ((1 - y) * z - y * 1e30).max(-1).values).mean(),
        "binary_focal_loss": lambda y, z: _focal(o, y, z, opts.get("gamma", 2.0)),
        "categorical_focal_loss": lambda y, z: -(
            y * (1 - m.exp(o.log_softmax(z))) ** opts.get("gamma", 2.0) * o.log_softmax(z)
        ).sum(-1).mean(),
        "poisson_nll": lambda y, x: _poisson(o, y, x, False),
        "poisson": lambda y, x: _poisson(o, y, x, True),
        "negative_binomial_nll": lambda y, x: _negbin(o, y, x, False),
        "negative_binomial": lambda y, x: _negbin(o, y, x, True),
        "gaussian_nll": lambda y, x: _gaussian(o, y, x, opts.get("var", 1.0), False),
        "gaussian": lambda y, x: _gaussian(o, y, x, opts.get("scale", 1.0) ** 2, True),
        "heteroscedastic_gaussian": lambda y, x: _gaussian(o, y, x[..., 0], m.exp(x[..., 1]),
                                                           True),
        "laplace_nll": lambda y, x: (math.log(2 * opts["scale"])
                                     + m.abs(y - x) / opts["scale"]).mean(),
        "laplace": lambda y, x: (math.log(2 * opts["scale"])
                                 + m.abs(y - x) / opts["scale"]).mean(),
        "student_t_nll": lambda y, x: _student(o, y, x, opts["df"], opts["scale"]),
        "student_t": lambda y, x: _student(o, y, x, opts["df"], opts["scale"]),
        "gamma_nll": lambda y, x: _gamma(o, y, x, opts["shape"], False),
        "gamma": lambda y, x: _gamma(o, y, x, opts["shape"], True),
        "tweedie_deviance": lambda y, x: _tweedie(o, y, x, opts["power"]),
        "gaussian_mixture_nll": lambda y, x: _mixture(o, y, x),
        "gaussian_mixture": lambda y, x: _mixture(o, y, x),
        "mean_squared_error": _torch_or(o, "mse_loss", lambda y, x: ((x - y) ** 2).mean()),
        "mean_absolute_error": _torch_or(o, "l1_loss", lambda y, x: m.abs(x - y).mean()),
        "huber_loss": (
            (lambda y, x: o.F.huber_loss(x, y, delta=opts["delta"])) if o.name == "torch" else
            lambda y, x: o.F.huber_loss(x, y, delta=opts["delta"]).mean()),
        "log_cosh_loss": (
            (lambda y, x: m.log(m.cosh(x - y)).mean()) if o.name == "torch" else
            lambda y, x: o.F.log_cosh(x, y).mean()),
        "mean_squared_log_error": lambda y, x: ((m.log1p(x) - m.log1p(y)) ** 2).mean(),
        "mean_absolute_percentage_error": lambda y, x: (
            m.abs(x - y) / m.clamp(m.abs(y), min=float(np.finfo(np.float32).eps))
            if o.name == "torch" else
            m.abs(x - y) / m.maximum(m.abs(y), float(np.finfo(np.float32).eps))).mean(),
        "pinball_loss": lambda y, x: m.maximum(
            opts["quantile"] * (y - x), (opts["quantile"] - 1) * (y - x)).mean(),
    }
    refs.update(_more_references(o, opts))
    return refs[name]


def _numpy_reference(name: str, opts: dict[str, Any]) -> Callable[[Any, Any], float] | None:
    """scikit-learn / SciPy where they have the loss (value only), else ``None``: the NumPy
    formula is then the torch formula run on NumPy through the array API."""
    import scipy.special as sps
    import scipy.stats as st
    from sklearn import metrics as skm

    def sig(z: np.ndarray) -> np.ndarray:
        return sps.expit(z)

    def softmax(z: np.ndarray) -> np.ndarray:
        return sps.softmax(z, axis=-1)

    table: dict[str, Callable[[Any, Any], float]] = {
        "binary_cross_entropy": lambda y, z: skm.log_loss(y, sig(z), labels=[0, 1]),
        "bernoulli": lambda y, z: skm.log_loss(y, sig(z), labels=[0, 1]),
        "sparse_categorical_cross_entropy": lambda y, z: skm.log_loss(
            y, softmax(z), labels=list(range(z.shape[-1]))),
        "categorical": lambda y, z: skm.log_loss(y, softmax(z),
                                                 labels=list(range(z.shape[-1]))),
        "categorical_cross_entropy": lambda y, z: skm.log_loss(y, softmax(z)),
        "kl_divergence": lambda y, z: float(np.mean(sps.rel_entr(y, softmax(z)).sum(-1))),
        "hinge_loss": lambda y, z: skm.hinge_loss(2 * y - 1, z),
        "mean_squared_error": lambda y, x: skm.mean_squared_error(y, x),
        "mean_absolute_error": lambda y, x: skm.mean_absolute_error(y, x),
        "mean_squared_log_error": lambda y, x: skm.mean_squared_log_error(y, x),
        "mean_absolute_percentage_error": lambda y, x: skm.mean_absolute_percentage_error(y, x),
        "pinball_loss": lambda y, x: skm.mean_pinball_loss(y, x, alpha=opts["quantile"]),
        "huber_loss": lambda y, x: float(np.mean(sps.huber(opts["delta"], x - y))),
        "poisson": lambda y, x: float(-np.mean(st.poisson.logpmf(y, np.exp(x)))),
        "laplace_nll": lambda y, x: float(-np.mean(st.laplace.logpdf(y, x, opts["scale"]))),
        "laplace": lambda y, x: float(-np.mean(st.laplace.logpdf(y, x, opts["scale"]))),
        "student_t_nll": lambda y, x: float(-np.mean(
            st.t.logpdf(y, opts["df"], x, opts["scale"]))),
        "student_t": lambda y, x: float(-np.mean(st.t.logpdf(y, opts["df"], x, opts["scale"]))),
        "gaussian": lambda y, x: float(-np.mean(st.norm.logpdf(y, x, opts["scale"]))),
        "gamma": lambda y, x: float(-np.mean(
            st.gamma.logpdf(y, opts["shape"], scale=np.exp(x) / opts["shape"]))),
        "tweedie_deviance": lambda y, x: skm.mean_tweedie_deviance(
            y, np.exp(x), power=opts["power"]),
    }
    return table.get(name)


# --------------------------------------------------------------------------- timing

_CLOCK = time.perf_counter


def _time(contenders: dict[str, Callable[[], object]], repeats: int, calls: int,
          stat: str = "min") -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    clock = _CLOCK
    for fn in contenders.values():
        fn()
    for _ in range(repeats):
        for name, fn in contenders.items():
            fn()
            start = clock()
            for _ in range(calls):
                fn()
            times[name].append((clock() - start) / calls)
    # the minimum: on a shared machine the other jobs only ever add time (``stat="median"``:
    # the median of the repeats, steadier when other jobs hold the cores for long stretches)
    pick = min if stat == "min" else statistics.median
    return {name: pick(v) for name, v in times.items()}


class _Row:
    def __init__(self, name: str, fn: Callable[..., Any], opts: dict[str, Any],
                 case: Any, is_family: bool, label: str | None = None,
                 probabilities: bool = False) -> None:
        self.name, self.fn, self.opts, self.case = name, fn, opts, case
        self.is_family = is_family
        self.label = label or name + (" (family)" if is_family else "")
        #: the raw outputs go through a softmax: the loss takes probabilities
        self.probabilities = probabilities

    def options(self, lib: str, dtype: Any = np.float32) -> dict[str, Any]:
        """The row's options with array options (``weight``) as ``lib``'s arrays of ``dtype``."""
        out = dict(self.opts)
        for key in ARRAY_OPTIONS & set(out):
            value = np.asarray(out[key], dtype=dtype)
            if lib == "torch":
                import torch
                value = torch.from_numpy(value)
            elif lib == "jax":
                import jax.numpy as jnp
                value = jnp.asarray(value)
            out[key] = value
        return out

    def bind(self, lib: str, dtype: Any = np.float32) -> Callable[..., Any]:
        """losskit's call on ``lib``'s arrays: ``f(y, raw, **extra)``."""
        if self.is_family:
            return self.fn
        opts = self.options(lib, dtype)
        return lambda y, raw, **extra: self.fn(y, raw, **opts, **extra)

    def losskit(self, y: Any, raw: Any, **extra: Any) -> Any:
        return self.bind("np")(y, raw, **extra)


def _rows() -> list[_Row]:
    rows = []
    for name, spec in loss_specs().items():
        case = spec.explanation.case
        rows.append(_Row(name, lk.losses.loss_functions()[name], dict(case.options), case,
                         False))
        if name == "categorical_cross_entropy":  # also from probabilities (the default)
            rows.append(_Row(name, lk.losses.loss_functions()[name],
                             {**case.options, "from_logits": False}, case, False,
                             label=f"{name} (probabilities)", probabilities=True))
    for name, cls in registered_families().items():
        case = cls.explanation.case
        fam = family(name, **case.options)
        opts = dict(case.options)
        rows.append(_Row(name, fam.loss, opts, case, True))
    return rows


def _fmt(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.2f}"


def _reason(error: BaseException) -> str:
    """One line for the table: the error's type and the start of its message."""
    text = " ".join(str(error).split()).replace("|", "/")
    return f"{type(error).__name__}: {text[:90]}"


def _measure(row: _Row, refs: dict[str, Any], y: np.ndarray | None, raw: np.ndarray,
             large: bool, repeats: int, calls: int, backends: tuple[str, ...] = BACKENDS,
             stat: str = "min") -> dict[str, Any]:
    """The row's cells at one size. A backend that cannot run the row (its reference or
    losskit raises) leaves its cells empty and its reason in ``out["failed"]``."""
    import torch

    size = "L" if large else "S"
    ty = None if y is None else torch.from_numpy(
        y if y.dtype.kind in "iu" else y.astype(np.float32))
    tz = torch.from_numpy(raw)
    lk_np, lk_t = row.bind("np"), row.bind("torch")
    out: dict[str, Any] = {}
    failed: list[str] = []

    def t_val(fn: Callable[..., Any]) -> Callable[[], object]:
        def f() -> object:
            with torch.no_grad():
                return fn(ty, tz)
        return f

    def t_grad(fn: Callable[..., Any]) -> Callable[[], object]:
        def f() -> object:
            leaf = tz.detach().requires_grad_()
            fn(ty, leaf).backward()
            return leaf.grad
        return f

    def lk_off(a: Any, b: Any) -> Any:
        return lk_t(a, b, check_values=False)

    def generic(a: Any, b: Any) -> Any:
        with native_kernels(False):
            return lk_t(a, b)

    if row.is_family:
        fam = row.fn.__self__

        def np_grad() -> object:  # the loss and the gradient in one call, its inputs checked once
            return fam.value_and_gradient(y, raw)
    else:
        np_opts = row.options("np")

        def np_grad() -> object:
            return lk.value_and_gradient(row.fn, y, raw, **np_opts)

    t_ref, np_ref = refs["torch"], refs["np"]
    groups: dict[str, Callable[[], dict[str, Callable[[], object]]]] = {
        "np": lambda: {
            "np value lk": lambda: lk_np(y, raw),
            "np value ref": (lambda: np_ref(y, raw)) if np_ref else t_val(t_ref),
            "np v+g lk": np_grad,
            "torch v+g ref": t_grad(t_ref),
        },
        "torch": lambda: {
            "torch value lk": t_val(lk_t),
            "torch value ref": t_val(t_ref),
            "torch v+g lk": t_grad(lk_t),
            "torch v+g ref": t_grad(t_ref),
            "torch value lk off": t_val(lk_off),
            "torch v+g lk off": t_grad(lk_off),
            # the generic path (native kernels off), checks on: what a kernel replaced
            "torch v+g lk generic": t_grad(generic),
        },
    }
    if "jax" in backends:
        def jax_group() -> dict[str, Callable[[], object]]:
            import jax
            import jax.numpy as jnp

            lk_j = row.bind("jax")
            j_ref = refs["jax"]
            jy = None if y is None else jnp.asarray(
                y if y.dtype.kind in "iu" else y.astype(np.float32))
            jz = jnp.asarray(raw)

            def j_off(a: Any, b: Any) -> Any:
                return lk_j(a, b, check_values=False)

            # the targets are arguments of the jitted functions (closed over, XLA folds them)
            lk_v, lk_g = jax.jit(j_off), jax.jit(jax.value_and_grad(j_off, argnums=1))
            rf_v, rf_g = jax.jit(j_ref), jax.jit(jax.value_and_grad(j_ref, argnums=1))
            return {
                "jax value lk": lambda: lk_v(jy, jz).block_until_ready(),
                "jax value ref": lambda: rf_v(jy, jz).block_until_ready(),
                "jax v+g lk": lambda: jax.block_until_ready(lk_g(jy, jz)),
                "jax v+g ref": lambda: jax.block_until_ready(rf_g(jy, jz)),
            }
        groups["jax"] = jax_group
    times: dict[str, float] = {}
    for backend in backends:
        if backend == "np" and "torch" in backends:  # np v+g shares torch's reference time
            continue
        try:
            group = groups[backend]()
            if backend == "torch" and "np" in backends:
                group = {**groups["np"](), **group}
            times.update(_time(group, repeats, calls, stat))
        except Exception as error:  # one backend of one row: say why and go on
            failed.append(f"{backend} {size}: {_reason(error)}")
    if "np" in backends and "torch" not in backends:
        try:
            times.update(_time(groups["np"](), repeats, calls, stat))
        except Exception as error:
            failed.append(f"np {size}: {_reason(error)}")
    out.update({f"{key} {size}": times[f"{key} lk"] / times[f"{key} ref"]
                for key in ("np value", "torch value", "torch v+g", "jax value", "jax v+g")
                if f"{key} ref" in times and f"{key} lk" in times})
    if "np v+g lk" in times:
        out[f"np v+g {size}"] = times["np v+g lk"] / times["torch v+g ref"]
    if "torch v+g lk off" in times:
        for key in ("torch value", "torch v+g"):
            out[f"{key} {size} off"] = times[f"{key} lk off"] / times[f"{key} ref"]
        out[f"torch v+g {size} generic"] = times["torch v+g lk generic"] / times["torch v+g ref"]
        out[f"torch v+g {size} ms"] = times["torch v+g ref"] * 1e3
        out[f"torch v+g {size} lk ms"] = times["torch v+g lk"] * 1e3
    if failed:
        out["failed"] = failed
    return out


def _agree(row: _Row, refs: dict[str, Any], y: np.ndarray | None, raw: np.ndarray,
           with_jax: bool) -> dict[str, float]:
    """Relative differences of losskit's value and the reference's: ``agree`` in float64 (the
    NumPy reference, else the torch one), ``agree jax`` in float32 (JAX's default)."""
    import torch

    raw64 = raw.astype(np.float64)
    if row.probabilities:
        raw64 /= raw64.sum(axis=-1, keepdims=True)
    a = float(row.bind("np", np.float64)(y, raw64))
    if refs["np"] is not None:
        b = float(refs["np"](y, raw64))
    else:
        ref64 = _reference(_Ops("torch"), row.name, row.options("torch", np.float64))
        b = float(ref64(None if y is None else torch.from_numpy(y), torch.from_numpy(raw64)))
    out = {"agree": abs(a - b) / max(abs(b), 1e-12)}
    if with_jax:
        import jax.numpy as jnp

        jy = None if y is None else jnp.asarray(
            y if y.dtype.kind in "iu" else y.astype(np.float32))
        jz = jnp.asarray(raw)
        a32 = float(row.bind("jax")(jy, jz, check_values=False))
        b32 = float(refs["jax"](jy, jz))
        out["agree jax"] = abs(a32 - b32) / max(abs(b32), 1e-12)
    return out


def run_row(row: _Row, large: int, repeats: int, small_calls: int,
            backends: tuple[str, ...] = BACKENDS, stat: str = "min") -> dict[str, Any]:
    """The row's cells (large, and small when ``small_calls``); a backend or a size that
    cannot be built or run leaves its cells out and says why in ``"failed"``."""
    rng = np.random.default_rng(0)
    refs: dict[str, Any] = {
        "np": None if row.probabilities else _numpy_reference(row.name, row.opts),
        "torch": _reference(_Ops("torch"), row.name, row.options("torch"))}
    if "jax" in backends:
        refs["jax"] = _reference(_Ops("jax"), row.name, row.options("jax"))

    def inputs(n: int) -> tuple[np.ndarray | None, np.ndarray]:
        y, raw = _inputs(row.name, row.case, n, rng)
        if row.probabilities:
            shifted = np.exp(raw - raw.max(axis=-1, keepdims=True))
            raw = (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)
        return y, raw

    width = max(1, np.asarray(row.case.y_pred).size)
    out: dict[str, Any] = {}
    failed: list[str] = []
    sizes = [(True, _rows_for(row.name, width, large), 1)]
    if small_calls:
        sizes.append((False, SMALL, small_calls))
    for is_large, n, calls in sizes:
        try:
            y, raw = inputs(n)
            cells = _measure(row, refs, y, raw, is_large, repeats, calls, backends, stat)
        except Exception as error:
            failed.append(f"{'L' if is_large else 'S'}: {_reason(error)}")
            continue
        failed += cells.pop("failed", [])
        out.update(cells)
    try:  # on a small batch (in --quick too)
        out.update(_agree(row, refs, *inputs(SMALL), "jax" in backends))
    except Exception as error:
        failed.append(f"agree: {_reason(error)}")
    if failed:
        out["failed"] = failed
    return out


COLUMNS = [("np", "value"), ("np", "v+g"), ("torch", "value"), ("torch", "v+g"),
           ("jax", "value"), ("jax", "v+g")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1e5 elements, no small batch, 2 repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="row names to run")
    parser.add_argument("--torch", action="store_true",
                        help="torch only: checks on and off, large and small, and the times")
    parser.add_argument("--median", action="store_true",
                        help="the median of the repeats instead of the minimum")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="process CPU time instead of wall time (steadier on a shared "
                             "machine; use with --threads 1)")
    args = parser.parse_args(argv)
    global _CLOCK
    if args.cpu_time:
        _CLOCK = time.process_time
    import torch
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")  # the references' own warnings (sklearn, jax dtypes)
    large = 100_000 if args.quick else 1_000_000
    repeats = args.repeats or (2 if args.quick else 5)
    small_calls = 0 if args.quick else 100
    stat = "median" if args.median else "min"
    if args.torch:
        _torch_table(args.only, large, repeats, small_calls, stat)
        return
    head = ["row"] + [f"{b} {k} {s}" for b, k in COLUMNS for s in ("L", "S")]
    head += ["torch v+g L off", "ref torch v+g L", "agree", "agree jax", "not run"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in _rows():
        if args.only and row.name not in args.only and row.label not in args.only:
            continue
        print(table_row(row, large, repeats, small_calls, stat), flush=True)


def _run_safely(row: _Row, *args: Any) -> dict[str, Any]:
    """``run_row``, or the reason it could not start (no reference for the row, ...)."""
    try:
        return run_row(row, *args)
    except Exception as error:
        return {"failed": [_reason(error)]}


def table_row(row: _Row, large: int, repeats: int, small_calls: int, stat: str = "min") -> str:
    """The row of the table: never raises; what could not run is said in the last column."""
    r = _run_safely(row, large, repeats, small_calls, BACKENDS, stat)
    cells = [row.label] + [_fmt(r.get(f"{b} {k} {s}")) for b, k in COLUMNS for s in ("L", "S")]
    ms = r.get("torch v+g L ms")
    cells += [_fmt(r.get("torch v+g L off")), "—" if ms is None else f"{ms:.1f} ms",
              f"{r['agree']:.0e}" if "agree" in r else "—",
              f"{r['agree jax']:.0e}" if "agree jax" in r else "—",
              "; ".join(r.get("failed", [])) or ""]
    return "| " + " | ".join(cells) + " |"


TORCH_COLUMNS = [f"{k} {s}{off}" for s in ("L", "S") for k in ("torch value", "torch v+g")
                 for off in ("", " off")] + ["torch v+g L generic", "torch v+g S generic"]


def _torch_table(only: list[str] | None, large: int, repeats: int, small_calls: int,
                 stat: str) -> None:
    """The torch rows alone: each cell losskit / reference, checks on and off (``off``), and
    the generic path's (native kernels off, checks on: the ``before`` of a kernel)."""
    head = ["row", *(c.replace("torch ", "") for c in TORCH_COLUMNS), "ref v+g L", "lk v+g L",
            "not run"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in _rows():
        if only and row.name not in only and row.label not in only:
            continue
        r = _run_safely(row, large, repeats, small_calls, ("torch",), stat)
        cells = [row.label, *(_fmt(r.get(c)) for c in TORCH_COLUMNS),
                 *(f"{r[k]:.1f} ms" if k in r else "—"
                   for k in ("torch v+g L ms", "torch v+g L lk ms")),
                 "; ".join(r.get("failed", []))]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
