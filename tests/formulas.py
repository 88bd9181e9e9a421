"""Reference formulas for every explained loss and family, in NumPy and scipy.

Each one is what the explanation's formula and gradient lines say, written independently of
losskit: ``value(y, raw, options)`` gives the per-sample loss and ``gradient(y, raw, options)``
its gradient with respect to the raw output(s), for a batch of samples (the raw outputs of a
sample along the last axis where it has several). ``options`` are the worked example's options
(a family's parameters for a family). ``tests/losses/test_specs.py`` and
``tests/families/test_explanations.py`` hold every loss and family to these, at the worked
example of its declared explanation (``Case.batch`` makes its arrays), along its plotted
grid and at random points.

A new loss adds its entry to ``LOSSES``: the suite fails until it does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from losskit.losses import Case

#: losses whose derivative jumps, and the raw outputs of their examples' kinks: a random
#: point there is skipped (any subgradient is right)
KINKED = {"hinge_loss", "squared_hinge_loss", "categorical_hinge_loss", "mean_absolute_error",
          "laplace_nll", "laplace", "pinball_loss", "mean_absolute_percentage_error",
          "margin_ranking_loss", "hinge_embedding_loss", "triplet_margin_loss",
          "multi_margin_loss", "multilabel_margin_loss", "perceptron_loss",
          "multiclass_perceptron_loss", "triplet_margin_with_distance_loss",
          "pairwise_hinge_loss"}
KINKS = (-1.0, 0.0, 1.0, 1.5, 2.0, -0.2, 0.6, 1.2)

Formula = Callable[[Any, np.ndarray, Any], np.ndarray]


@dataclass(frozen=True)
class Reference:
    """A loss's per-sample value and gradient w.r.t. the raw output(s)."""

    value: Formula
    gradient: Formula


def random_point(name: str, case: Case, shift: float) -> np.ndarray | None:
    """The example's varied raw output moved by ``shift`` (kept on the plotted grid), or
    ``None`` on a kink of a kinked loss (a subgradient point: any value there is right)."""
    centre = np.asarray(case.y_pred, dtype=np.float64).reshape(-1)
    centre = centre[0 if case.vary is None else case.vary]
    x = np.clip(np.asarray([centre + shift]), *case.grid)
    if name in KINKED and np.any(np.isclose(x, KINKS, atol=1e-9)):
        return None
    return x


def central_difference(f: Callable[[np.ndarray], Any], raw: np.ndarray,
                       h: float = 1e-6) -> np.ndarray:
    """d f(raw)/d raw by central differences, for a per-sample ``f`` of NumPy raw outputs
    (samples on the first axis; each of a sample's raw outputs, stacked ones too, in turn)."""
    grad = np.zeros_like(raw)
    for index in np.ndindex(*raw.shape[1:]):
        at = (slice(None), *index)
        step = np.zeros_like(raw)
        step[at] = h
        grad[at] = (np.asarray(f(raw + step)) - np.asarray(f(raw - step))) / (2 * h)
    return grad


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


def _bernoulli(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return -(y * special.log_expit(z) + (1 - y) * special.log_expit(-z))


def _label_nll(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """−log softmax(z)_y for integer labels y."""
    y = np.asarray(y, dtype=np.int64)
    return special.logsumexp(z, axis=-1) - np.take_along_axis(z, y[..., None], axis=-1)[..., 0]


def _label_gradient(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return special.softmax(z, axis=-1) - _onehot(y, z.shape[-1])


def _gce(y: np.ndarray, z: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """(1 − p_y^q)/q of softmax(z) and its gradient p_y^q (softmax(z) − onehot(y))."""
    p_q = np.exp(-q * _label_nll(y, z))
    return (1.0 - p_q) / q, p_q[..., None] * _label_gradient(y, z)


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    return np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))


def _pinball(d: np.ndarray, tau: float) -> np.ndarray:
    """ρ_τ(d), d = y − ŷ."""
    return np.where(d >= 0, tau * d, (tau - 1) * d)


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


def _von_mises(y: np.ndarray, eta: np.ndarray, degrees: bool) -> tuple[np.ndarray, np.ndarray]:
    """−log vonMises(y | μ, κ) with η = κ(cos μ, sin μ) and its gradient w.r.t. η (scipy's
    exponentially scaled Bessel functions: log I0(κ) = log i0e(κ) + κ)."""
    angle = np.deg2rad(y) if degrees else y
    t = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    kappa = np.linalg.norm(eta, axis=-1)
    value = -np.sum(eta * t, axis=-1) + math.log(2 * math.pi) + np.log(special.i0e(kappa)) + kappa
    safe = np.where(kappa > 0, kappa, 1.0)
    # A(κ)/κ = I1(κ) / (κ I0(κ)), 1/2 at κ = 0
    ratio = np.where(kappa > 0, special.i1e(safe) / (special.i0e(safe) * safe), 0.5)
    gradient = -t + ratio[..., None] * eta
    if value.ndim > 1:  # several angles per sample: averaged
        value, gradient = value.mean(axis=-1), gradient / value.shape[-1]
    return value, gradient


def _von_mises_fisher(x: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """−log vMF(x | μ, κ) on the sphere with η = κμ, and its gradient w.r.t. η."""
    kappa = np.linalg.norm(eta, axis=-1)
    safe = np.where(kappa > 0, kappa, 1.0)
    # log(sinh κ / κ) and (coth κ − 1/κ)/κ, with their limits 0 and 1/3 at κ = 0
    log_sinhc = np.where(kappa > 0, safe + np.log(-np.expm1(-2 * safe) / (2 * safe)), 0.0)
    value = -np.sum(eta * x, axis=-1) + math.log(4 * math.pi) + log_sinhc
    ratio = np.where(kappa > 0, (1 / np.tanh(safe) - 1 / safe) / safe, 1 / 3)
    gradient = -x + ratio[..., None] * eta
    return value, gradient


def _cosine_embedding(y: np.ndarray, raw: np.ndarray, margin: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's cosine embedding loss of stacked pairs ``raw[..., (x₁, x₂), D]``, with the
    cosine c = x₁·x₂ / sqrt((|x₁|² + ε)(|x₂|² + ε)), ε = 1e-12, and its gradient."""
    x1, x2 = raw[..., 0, :], raw[..., 1, :]
    n1, n2 = np.sum(x1**2, axis=-1) + 1e-12, np.sum(x2**2, axis=-1) + 1e-12
    c = np.sum(x1 * x2, axis=-1) / np.sqrt(n1 * n2)
    dc = np.stack([x2 / np.sqrt(n1 * n2)[..., None] - (c / n1)[..., None] * x1,
                   x1 / np.sqrt(n1 * n2)[..., None] - (c / n2)[..., None] * x2], axis=-2)
    similar = y > 0
    value = np.where(similar, 1 - c, np.maximum(0.0, c - margin))
    factor = np.where(similar, -1.0, np.where(c - margin > 0, 1.0, 0.0))
    return value, factor[..., None, None] * dc


def _triplet(raw: np.ndarray, margin: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """max(0, ‖a − p + ε‖₂ − ‖a − n + ε‖₂ + margin) of stacked ``raw[..., (a, p, n), D]``."""
    a, pos, neg = raw[..., 0, :], raw[..., 1, :], raw[..., 2, :]
    u, v = a - pos + eps, a - neg + eps
    du, dv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
    value = np.maximum(0.0, du - dv + margin)
    gu, gv = u / du[..., None], v / dv[..., None]
    grad = np.stack([gu - gv, -gu, gv], axis=-2)
    return value, np.where((value > 0)[..., None, None], grad, 0.0)


def _triplet_cosine(raw: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """max(0, (1 − cos(a, p)) − (1 − cos(a, n)) + margin) of stacked ``raw[..., (a, p, n), D]``
    (no zero vectors), and its gradient: ∂cos(u, v)/∂u = v/(|u||v|) − cos u/|u|²."""
    a, pos, neg = raw[..., 0, :], raw[..., 1, :], raw[..., 2, :]

    def cos(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nu, nv = np.linalg.norm(u, axis=-1)[..., None], np.linalg.norm(v, axis=-1)[..., None]
        c = np.sum(u * v, axis=-1)[..., None] / (nu * nv)
        return c[..., 0], v / (nu * nv) - c * u / nu**2, u / (nu * nv) - c * v / nv**2

    c_ap, dap_a, dap_p = cos(a, pos)
    c_an, dan_a, dan_n = cos(a, neg)
    value = np.maximum(0.0, c_an - c_ap + margin)
    grad = np.stack([dan_a - dap_a, -dap_p, dan_n], axis=-2)
    return value, np.where((value > 0)[..., None, None], grad, 0.0)


def _cosine_distance(y: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1 − cos(y, ŷ) with the norms floored at 1e-6, and its gradient w.r.t. ŷ."""
    t = y / np.maximum(np.linalg.norm(y, axis=-1), 1e-6)[..., None]
    norm = np.linalg.norm(m, axis=-1)[..., None]
    value = 1 - np.sum(t * m, axis=-1) / np.maximum(norm[..., 0], 1e-6)
    free = norm > 1e-6  # above the floor: the norm's derivative counts
    grad = np.where(free, -(t / norm - np.sum(t * m, axis=-1)[..., None] * m / norm**3),
                    -t / 1e-6)
    return value, grad


def _complex_step(f: Callable[[Any, np.ndarray], np.ndarray], y: Any, raw: np.ndarray
                  ) -> np.ndarray:
    """The gradient of a per-sample ``f(y, raw)`` by the complex step (Im f(x + ih) / h,
    h = 1e-30: exact to rounding for a function analytic near x, with no cancellation); ``f``
    must take complex raw outputs. Each of a sample's raw outputs is stepped in turn."""
    grad = np.zeros(raw.shape)
    for index in np.ndindex(*raw.shape[1:]):
        step = np.zeros(raw.shape, dtype=complex)
        step[(slice(None), *index)] = 1e-30j
        grad[(slice(None), *index)] = np.imag(f(y, raw + step)) / 1e-30
    return grad


def _unit_rows(x: np.ndarray, floor: float) -> np.ndarray:
    """Rows divided by max(|x|, floor) (|x| = sqrt(Σ x²), analytic for the complex step)."""
    norm = np.sqrt(np.sum(x * x, axis=-1))
    return x / np.where(np.real(norm) > floor, norm, floor)[..., None]


def _logsumexp_c(z: np.ndarray) -> Any:
    """log Σ e^z, shifted by the largest real part (complex-safe)."""
    m = np.max(np.real(z))
    return m + np.log(np.sum(np.exp(z - m)))


def _ntxent(y: np.ndarray, raw: np.ndarray, temperature: float) -> np.ndarray:
    """optax's NT-Xent per batch: the mean over positive pairs (i ≠ j, same label) of
    −log(e^{s_ij} / (e^{s_ij} + Σ_{k: y_k ≠ y_i} e^{s_ik})), s = cos / τ with the norms
    floored at sqrt(float64 eps)."""
    out = []
    for labels, x in zip(y, raw, strict=True):
        u = _unit_rows(x, math.sqrt(np.finfo(np.float64).eps))
        s = u @ u.T / temperature
        terms = [_logsumexp_c(np.array([s[i, j], *(s[i, k] for k in range(len(labels))
                                                   if labels[k] != labels[i])])) - s[i, j]
                 for i in range(len(labels)) for j in range(len(labels))
                 if i != j and labels[i] == labels[j]]
        out.append(sum(terms) / len(terms))
    return np.array(out)


def _circle(y: np.ndarray, raw: np.ndarray, gamma: float, margin: float) -> np.ndarray:
    """Keras' Circle loss per batch (the mean over the rows that have a positive and a
    negative), on the cosine similarities (norms floored at 1e-6)."""
    out = []
    for labels, x in zip(y, raw, strict=True):
        u = _unit_rows(x, 1e-6)
        s = u @ u.T
        rows = []
        for i in range(len(labels)):
            pos = [s[i, j] for j in range(len(labels)) if j != i and labels[j] == labels[i]]
            neg = [s[i, k] for k in range(len(labels)) if labels[k] != labels[i]]
            if not pos or not neg:
                continue
            a = [-gamma * (1 + margin - v if np.real(1 + margin - v) > 0 else 0)
                 * (v - 1 + margin) for v in pos]
            b = [gamma * (v + margin if np.real(v + margin) > 0 else 0) * (v - margin)
                 for v in neg]
            t = _logsumexp_c(np.array(a)) + _logsumexp_c(np.array(b))
            rows.append(np.log1p(np.exp(t)) if np.real(t) < 30 else t + np.log1p(np.exp(-t)))
        out.append(sum(rows) / len(rows))
    return np.array(out)


def _pairwise(y: np.ndarray, s: np.ndarray, term: Callable[[float], tuple[float, float]]
              ) -> tuple[np.ndarray, np.ndarray]:
    """The mean over each list's pairs (i, j) with y_i > y_j of term(s_i − s_j), and its
    gradient, by explicit loops."""
    value, grad = np.zeros(s.shape[:-1]), np.zeros(s.shape)
    for index in np.ndindex(*s.shape[:-1]):
        pairs = [(i, j) for i in range(s.shape[-1]) for j in range(s.shape[-1])
                 if y[index][i] > y[index][j]]
        for i, j in pairs:
            v, d = term(s[index][i] - s[index][j])
            value[index] += v / len(pairs)
            grad[index][i] += d / len(pairs)
            grad[index][j] -= d / len(pairs)
    return value, grad


def _ranknet_term(d: float) -> tuple[float, float]:
    return math.log1p(math.exp(-d)), -1.0 / (1.0 + math.exp(d))


def _ranksvm_term(d: float) -> tuple[float, float]:
    return max(0.0, 1.0 - d), (-1.0 if 1.0 - d > 0 else 0.0)


def _dice(y: np.ndarray, p: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    inter, total = np.sum(y * p, axis=-1), np.sum(y, axis=-1) + np.sum(p, axis=-1) + eps
    grad = -2 * (y * total[..., None] - inter[..., None]) / total[..., None] ** 2
    return 1 - 2 * inter / total, grad


def _tversky(y: np.ndarray, p: np.ndarray, alpha: float, beta: float, eps: float
             ) -> tuple[np.ndarray, np.ndarray]:
    tp, fp, fn = np.sum(y * p, axis=-1), np.sum((1 - y) * p, axis=-1), np.sum(y * (1 - p), -1)
    d = (tp + alpha * fp + beta * fn + eps)[..., None]
    dd = y + alpha * (1 - y) - beta * y
    return 1 - tp / d[..., 0], -(y * d - tp[..., None] * dd) / d**2


def _generalized_dice(y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """optax's multiclass_generalized_dice_loss per sample (smooth 1, softmax of logits
    (n, pixels, C)) and its gradient w.r.t. the logits; weights from the batch's counts."""
    p = special.softmax(z, axis=-1)
    counts = y.reshape(-1, y.shape[-1]).sum(axis=0)
    w = 1 / (counts**2 + 1e-7)
    w = w / w.sum() * len(w)
    inter, total = (y * p).sum(axis=1), y.sum(axis=1) + p.sum(axis=1) + 2.0
    value = np.mean(w * (1 - (2 * inter + 2.0) / total), axis=-1)
    dp = w * (2 * (inter + 1.0)[:, None] - 2 * y * total[:, None]) / total[:, None] ** 2
    dp = dp / y.shape[-1]
    return value, p * (dp - np.sum(dp * p, axis=-1, keepdims=True))


def _sparse_plus(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    value = np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4))
    return value, np.clip((x + 1) / 2, 0.0, 1.0)


def _sparsemax(z: np.ndarray) -> np.ndarray:
    """The Euclidean projection of z onto the simplex (Martins & Astudillo, 2016)."""
    zs = -np.sort(-z, axis=-1)
    k = np.arange(1, z.shape[-1] + 1)
    cum = np.cumsum(zs, axis=-1)
    support = 1 + k * zs > cum
    size = np.sum(support, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cum, size - 1, axis=-1) - 1) / size
    return np.maximum(z - tau, 0.0)


def _multiclass_sparsemax(y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = _sparsemax(z)
    zy = np.take_along_axis(z, np.asarray(y, dtype=np.int64)[..., None], axis=-1)
    value = np.sum(p * (z - zy), axis=-1) + 0.5 * (1 - np.sum(p**2, axis=-1))
    return value, p - _onehot(y, z.shape[-1])


def _multi_margin(y: np.ndarray, s: np.ndarray, margin: float, power: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(1/C) Σ_{j≠y} max(0, margin − s_y + s_j)^p and its gradient."""
    n = s.shape[-1]
    right = _onehot(y, n)
    h = np.maximum(0.0, margin - np.sum(right * s, axis=-1, keepdims=True) + s) * (1 - right)
    slope = power * h ** (power - 1) * (h > 0) / n
    return np.sum(h**power, axis=-1) / n, slope - right * np.sum(slope, axis=-1, keepdims=True)


def _multilabel_margin(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ_{j ∈ T} Σ_{k ∉ T} max(0, 1 − s_j + s_k) / C, T the labels before the first −1."""
    n = s.shape[-1]
    value, grad = np.zeros(s.shape[:-1]), np.zeros_like(s)
    for i in np.ndindex(*s.shape[:-1]):
        targets = []
        for label in np.asarray(y[i], dtype=np.int64):
            if label < 0:
                break
            targets.append(int(label))
        for j in targets:
            for k in set(range(n)) - set(targets):
                h = 1 - s[i][j] + s[i][k]
                if h > 0:
                    value[i] += h / n
                    grad[i][j] -= 1 / n
                    grad[i][k] += 1 / n
    return value, grad


def _poly_one(y: np.ndarray, z: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Poly-1: cross-entropy + ε Σ y (1 − p), p = softmax(z), and its gradient."""
    p = special.softmax(z, axis=-1)
    py = np.sum(y * p, axis=-1, keepdims=True)
    value = -np.sum(y * special.log_softmax(z, axis=-1), axis=-1) + eps * (
        np.sum(y, axis=-1) - py[..., 0])
    return value, p - y - eps * (y * p - py * p)


def _linear_logits(h: np.ndarray, o: Any) -> tuple[np.ndarray, np.ndarray]:
    weight = np.asarray(o["weight"], dtype=np.float64)
    return h @ weight.T, weight


def _ctc(y: np.ndarray, z: np.ndarray, blank: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """CTC by brute force: −log Σ p(π) over every path π of T frames that collapses (merge
    repeats, drop blanks) to the labels before the first −1, and the gradient w.r.t. the raw
    scores, softmax − the paths' posterior class counts per frame."""
    frames, classes = z.shape[-2:]
    log_p = special.log_softmax(z, axis=-1)
    value, grad = np.zeros(z.shape[:-2]), np.zeros_like(z)
    for i in np.ndindex(*z.shape[:-2]):
        target: list[int] = []
        for label in np.asarray(y[i], dtype=np.int64):
            if label < 0:
                break
            target.append(int(label))
        weights, counts = [], []
        for path in np.ndindex(*(classes,) * frames):
            merged = [c for t, c in enumerate(path) if t == 0 or c != path[t - 1]]
            if [c for c in merged if c != blank] == target:
                weights.append(sum(log_p[i][t, c] for t, c in enumerate(path)))
                counts.append(_onehot(np.array(path), classes))
        total = special.logsumexp(weights)
        value[i] = -total
        posterior = np.exp(np.array(weights) - total)
        grad[i] = np.exp(log_p[i]) - np.tensordot(posterior, np.array(counts), axes=1)
    return value, grad


#: the losses of losskit.losses, by name
LOSSES: dict[str, Reference] = {
    "binary_cross_entropy": Reference(
        value=lambda y, z, o: _bernoulli(y, z),
        gradient=lambda y, z, o: special.expit(z) - y),
    "binary_focal_loss": Reference(
        value=lambda y, z, o: _focal_binary(y, z, o["gamma"])[0],
        gradient=lambda y, z, o: _focal_binary(y, z, o["gamma"])[1]),
    "hinge_loss": Reference(
        value=lambda y, s, o: np.maximum(0.0, 1.0 - _sign_label(y) * s),
        gradient=lambda y, s, o: np.where(_sign_label(y) * s < 1, -_sign_label(y), 0.0)),
    "squared_hinge_loss": Reference(
        value=lambda y, s, o: np.maximum(0.0, 1.0 - _sign_label(y) * s) ** 2,
        gradient=lambda y, s, o: -2 * _sign_label(y) * np.maximum(0.0, 1.0 - _sign_label(y) * s)),
    "categorical_cross_entropy": Reference(
        value=lambda y, z, o: -np.sum(y * special.log_softmax(z, axis=-1), axis=-1),
        gradient=lambda y, z, o: special.softmax(z, axis=-1) - y),
    "sparse_categorical_cross_entropy": Reference(
        value=lambda y, z, o: _label_nll(y, z),
        gradient=lambda y, z, o: _label_gradient(y, z)),
    "categorical_focal_loss": Reference(
        value=lambda y, z, o: _focal_categorical_value(y, z, o["gamma"]),
        gradient=lambda y, z, o: _focal_categorical_gradient(y, z, o["gamma"])),
    "generalized_cross_entropy": Reference(
        value=lambda y, z, o: _gce(y, z, o["q"])[0],
        gradient=lambda y, z, o: _gce(y, z, o["q"])[1]),
    "categorical_hinge_loss": Reference(
        value=lambda y, s, o: _categorical_hinge(y, s)[0],
        gradient=lambda y, s, o: _categorical_hinge(y, s)[1]),
    "kl_divergence": Reference(
        value=lambda y, z, o: np.sum(special.xlogy(y, y) - y * special.log_softmax(z, axis=-1),
                                     axis=-1),
        gradient=lambda y, z, o: special.softmax(z, axis=-1) - y),
    "entropy": Reference(
        value=lambda y, z, o: _entropy(z)[0],
        gradient=lambda y, z, o: _entropy(z)[1]),
    "perplexity": Reference(  # one sample: PPL = exp(its cross-entropy)
        value=lambda y, z, o: np.exp(_label_nll(y, z)),
        gradient=lambda y, z, o: np.exp(_label_nll(y, z))[..., None] * _label_gradient(y, z)),
    "mean_squared_error": Reference(
        value=lambda y, m, o: (m - y) ** 2,
        gradient=lambda y, m, o: 2 * (m - y)),
    "mean_absolute_error": Reference(
        value=lambda y, m, o: np.abs(m - y),
        gradient=lambda y, m, o: np.sign(m - y)),
    "huber_loss": Reference(
        value=lambda y, m, o: _huber(m - y, o["delta"]),
        gradient=lambda y, m, o: np.clip(m - y, -o["delta"], o["delta"])),
    "log_cosh_loss": Reference(
        value=lambda y, m, o: np.log(np.cosh(m - y)),
        gradient=lambda y, m, o: np.tanh(m - y)),
    "mean_absolute_percentage_error": Reference(
        value=lambda y, m, o: np.abs(m - y) / np.maximum(np.abs(y), np.finfo(float).eps),
        gradient=lambda y, m, o: np.sign(m - y) / np.maximum(np.abs(y), np.finfo(float).eps)),
    "mean_squared_log_error": Reference(
        value=lambda y, m, o: (np.log1p(m) - np.log1p(y)) ** 2,
        gradient=lambda y, m, o: 2 * (np.log1p(m) - np.log1p(y)) / (1 + m)),
    "pinball_loss": Reference(
        value=lambda y, m, o: _pinball(y - m, o["quantile"]),
        gradient=lambda y, m, o: np.where(m > y, 1 - o["quantile"],
                                          np.where(m < y, -o["quantile"], 0.0))),
    "gaussian_nll": Reference(
        value=lambda y, m, o: 0.5 * (np.log(o["var"]) + (y - m) ** 2 / o["var"]),
        gradient=lambda y, m, o: (m - y) / o["var"]),
    "laplace_nll": Reference(
        value=lambda y, m, o: np.log(2 * o["scale"]) + np.abs(y - m) / o["scale"],
        gradient=lambda y, m, o: np.sign(m - y) / o["scale"]),
    "student_t_nll": Reference(
        value=lambda y, m, o: _student_t(y, m, o["df"], o["scale"])[0],
        gradient=lambda y, m, o: _student_t(y, m, o["df"], o["scale"])[1]),
    "poisson_nll": Reference(
        value=lambda y, eta, o: np.exp(eta) - y * eta,
        gradient=lambda y, eta, o: np.exp(eta) - y),
    "negative_binomial_nll": Reference(
        value=lambda y, raw, o: _negative_binomial(y, raw)[0],
        gradient=lambda y, raw, o: _negative_binomial(y, raw)[1]),
    "gamma_nll": Reference(
        value=lambda y, eta, o: o["shape"] * (y * np.exp(-eta) + eta),
        gradient=lambda y, eta, o: o["shape"] * (1 - y * np.exp(-eta))),
    "tweedie_deviance": Reference(
        value=lambda y, eta, o: _tweedie(y, eta, o["power"])[0],
        gradient=lambda y, eta, o: _tweedie(y, eta, o["power"])[1]),
    "von_mises_nll": Reference(
        value=lambda y, eta, o: _von_mises(y, eta, o.get("degrees", False))[0],
        gradient=lambda y, eta, o: _von_mises(y, eta, o.get("degrees", False))[1]),
    "von_mises_fisher_nll": Reference(
        value=lambda x, eta, o: _von_mises_fisher(x, eta)[0],
        gradient=lambda x, eta, o: _von_mises_fisher(x, eta)[1]),
    "gaussian_mixture_nll": Reference(
        value=lambda y, raw, o: _mixture(y, raw)[0],
        gradient=lambda y, raw, o: _mixture(y, raw)[1]),
    "margin_ranking_loss": Reference(  # stacked pairs (s₁, s₂) on the last axis
        value=lambda y, s, o: np.maximum(0.0, -y * (s[..., 0] - s[..., 1]) + o["margin"]),
        gradient=lambda y, s, o: np.where(
            (-y * (s[..., 0] - s[..., 1]) + o["margin"] > 0)[..., None],
            np.stack([-y, y], axis=-1), 0.0)),
    "hinge_embedding_loss": Reference(  # margin 1
        value=lambda y, x, o: np.where(y > 0, x, np.maximum(0.0, 1.0 - x)),
        gradient=lambda y, x, o: np.where(y > 0, 1.0, np.where(1.0 - x > 0, -1.0, 0.0))),
    "soft_margin_loss": Reference(
        value=lambda y, s, o: -special.log_expit(y * s),
        gradient=lambda y, s, o: -y * special.expit(-y * s)),
    "cosine_embedding_loss": Reference(  # margin 0
        value=lambda y, raw, o: _cosine_embedding(y, raw, 0.0)[0],
        gradient=lambda y, raw, o: _cosine_embedding(y, raw, 0.0)[1]),
    "triplet_margin_loss": Reference(  # margin 1, p = 2, ε = 1e-6
        value=lambda y, raw, o: _triplet(raw, 1.0, 1e-6)[0],
        gradient=lambda y, raw, o: _triplet(raw, 1.0, 1e-6)[1]),
    "triplet_margin_with_distance_loss": Reference(  # cosine distance, margin 1
        value=lambda y, raw, o: _triplet_cosine(raw, 1.0)[0],
        gradient=lambda y, raw, o: _triplet_cosine(raw, 1.0)[1]),
    "cosine_similarity_loss": Reference(
        value=lambda y, m, o: _cosine_distance(y, m)[0],
        gradient=lambda y, m, o: _cosine_distance(y, m)[1]),
    "dice_loss": Reference(  # ε = 1e-7 (Keras' epsilon), sums over a sample's pixels
        value=lambda y, p, o: _dice(y, p, 1e-7)[0],
        gradient=lambda y, p, o: _dice(y, p, 1e-7)[1]),
    "ntxent": Reference(  # stacked batches (N, D) of embeddings, labels (N,)
        value=lambda y, raw, o: np.real(_ntxent(y, raw, o["temperature"])),
        gradient=lambda y, raw, o: _complex_step(
            lambda yy, x: _ntxent(yy, x, o["temperature"]), y, raw)),
    "circle_loss": Reference(  # margin 0.4
        value=lambda y, raw, o: np.real(_circle(y, raw, o["gamma"], 0.4)),
        gradient=lambda y, raw, o: _complex_step(
            lambda yy, x: _circle(yy, x, o["gamma"], 0.4), y, raw)),
    "ranking_softmax_loss": Reference(  # −Σ y_i log softmax(s)_i per list
        value=lambda y, s, o: -np.sum(y * special.log_softmax(s, axis=-1), axis=-1),
        gradient=lambda y, s, o: np.sum(y, axis=-1, keepdims=True) * special.softmax(s, -1) - y),
    "pairwise_logistic_loss": Reference(
        value=lambda y, s, o: _pairwise(y, s, _ranknet_term)[0],
        gradient=lambda y, s, o: _pairwise(y, s, _ranknet_term)[1]),
    "pairwise_hinge_loss": Reference(  # margin 1
        value=lambda y, s, o: _pairwise(y, s, _ranksvm_term)[0],
        gradient=lambda y, s, o: _pairwise(y, s, _ranksvm_term)[1]),
    "tversky_loss": Reference(
        value=lambda y, p, o: _tversky(y, p, o["alpha"], o["beta"], 1e-7)[0],
        gradient=lambda y, p, o: _tversky(y, p, o["alpha"], o["beta"], 1e-7)[1]),
    "generalized_dice_loss": Reference(  # optax's, smooth 1, from logits
        value=lambda y, z, o: _generalized_dice(y, z)[0],
        gradient=lambda y, z, o: _generalized_dice(y, z)[1]),
    "sparsemax_loss": Reference(  # sparse_plus((1 − 2y) z)
        value=lambda y, z, o: _sparse_plus((1 - 2 * y) * z)[0],
        gradient=lambda y, z, o: (1 - 2 * y) * _sparse_plus((1 - 2 * y) * z)[1]),
    "multiclass_sparsemax_loss": Reference(
        value=lambda y, z, o: _multiclass_sparsemax(y, z)[0],
        gradient=lambda y, z, o: _multiclass_sparsemax(y, z)[1]),
    "poly_loss_cross_entropy": Reference(
        value=lambda y, z, o: _poly_one(y, z, o["epsilon"])[0],
        gradient=lambda y, z, o: _poly_one(y, z, o["epsilon"])[1]),
    "multi_margin_loss": Reference(  # margin 1, p = 1
        value=lambda y, s, o: _multi_margin(y, s, 1.0, 1)[0],
        gradient=lambda y, s, o: _multi_margin(y, s, 1.0, 1)[1]),
    "multilabel_margin_loss": Reference(
        value=lambda y, s, o: _multilabel_margin(y, s)[0],
        gradient=lambda y, s, o: _multilabel_margin(y, s)[1]),
    "perceptron_loss": Reference(
        value=lambda y, s, o: np.maximum(0.0, -_sign_label(y) * s),
        gradient=lambda y, s, o: np.where(-_sign_label(y) * s > 0, -_sign_label(y), 0.0)),
    "multiclass_perceptron_loss": Reference(
        value=lambda y, s, o: np.max(s, axis=-1) - np.take_along_axis(
            s, np.asarray(y, dtype=np.int64)[..., None], axis=-1)[..., 0],
        gradient=lambda y, s, o: (_onehot(np.argmax(s, axis=-1), s.shape[-1])
                                  - _onehot(y, s.shape[-1]))),
    "generalized_kl_divergence": Reference(  # log-inputs: q = exp(η)
        value=lambda y, eta, o: np.sum(special.xlogy(y, y) - y * eta - y + np.exp(eta), axis=-1),
        gradient=lambda y, eta, o: np.exp(eta) - y),
    "ctc_loss": Reference(  # every alignment summed by brute force (blank 0)
        value=lambda y, z, o: _ctc(y, z)[0],
        gradient=lambda y, z, o: _ctc(y, z)[1]),
    "linear_cross_entropy": Reference(  # z = h Wᵀ; gradient w.r.t. the hidden states h
        value=lambda y, h, o: _label_nll(y, _linear_logits(h, o)[0]),
        gradient=lambda y, h, o: _label_gradient(y, _linear_logits(h, o)[0])
        @ _linear_logits(h, o)[1]),
}

#: the families of losskit.families, by name (``o``: the family's parameters)
FAMILIES: dict[str, Reference] = {
    "bernoulli": LOSSES["binary_cross_entropy"],
    "multilabel": Reference(  # the loss averages a sample's labels; the gradient is per label
        value=lambda y, z, o: np.mean(_bernoulli(y, z), axis=-1),
        gradient=lambda y, z, o: special.expit(z) - y),
    "categorical": LOSSES["sparse_categorical_cross_entropy"],
    "gaussian": Reference(
        value=lambda y, m, o: ((y - m) ** 2 / (2 * o["scale"] ** 2) + math.log(o["scale"])
                               + 0.5 * _LOG_2PI),
        gradient=lambda y, m, o: (m - y) / o["scale"] ** 2),
    "laplace": LOSSES["laplace_nll"],
    "student_t": LOSSES["student_t_nll"],
    "poisson": Reference(
        value=lambda y, eta, o: np.exp(eta) - y * eta + special.gammaln(y + 1),
        gradient=lambda y, eta, o: np.exp(eta) - y),
    "negative_binomial": Reference(
        value=lambda y, raw, o: _negative_binomial(y, raw)[0] + special.gammaln(y + 1),
        gradient=lambda y, raw, o: _negative_binomial(y, raw)[1]),
    "gamma": Reference(
        value=lambda y, eta, o: (o["shape"] * (y * np.exp(-eta) + eta)
                                 - o["shape"] * math.log(o["shape"]) + special.gammaln(o["shape"])
                                 - (o["shape"] - 1) * np.log(y)),
        gradient=lambda y, eta, o: o["shape"] * (1 - y * np.exp(-eta))),
    "heteroscedastic_gaussian": Reference(
        value=lambda y, raw, o: (0.5 * (raw[..., 1] + (y - raw[..., 0]) ** 2 * np.exp(-raw[..., 1]))
                                 + 0.5 * _LOG_2PI),
        gradient=lambda y, raw, o: np.stack([
            (raw[..., 0] - y) * np.exp(-raw[..., 1]),
            0.5 * (1 - (y - raw[..., 0]) ** 2 * np.exp(-raw[..., 1]))], axis=-1)),
    "gaussian_mixture": LOSSES["gaussian_mixture_nll"],
    "von_mises": LOSSES["von_mises_nll"],
    "von_mises_fisher": LOSSES["von_mises_fisher_nll"],
}
