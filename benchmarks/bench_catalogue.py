"""Every catalogue loss and family NLL against the framework's own function, on every backend.

Run: ``python benchmarks/bench_catalogue.py [--quick] [--repeats R] [--only NAME ...]``.

Rows: every registered loss (``losskit.losses.loss_specs()``) and every family
(``losskit.families.registered_families()``). Inputs are built at size from each one's worked
example (``spec.explanation.case``): the example's target repeated (integer labels and 0/1
labels drawn at random, one-hot rows too), its raw output plus N(0, 1) noise, float32.

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
in NumPy, and NumPy ``losskit.value_and_gradient`` against PyTorch eager forward + backward (NumPy
has no autograd). losskit runs with its default value checks on NumPy and torch; the last
column is torch ``v+g L`` with ``check_values=False``. ``agree`` is the largest relative
difference of the two values on the small batch (float64 on NumPy): it shows that both sides
compute the same loss (PyTorch's ``poisson_nll_loss(full=True)`` uses Stirling's
approximation, so the Poisson family differs there by design).
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

def _inputs(case: Any, n_elements: int, rng: np.random.Generator,
            labels: bool) -> tuple[np.ndarray, np.ndarray]:
    y1, raw1 = case.batch(case.y_true)
    width = max(1, raw1[0].size)
    n = max(1, math.ceil(n_elements / width))
    raw = np.repeat(raw1, n, axis=0) + rng.normal(size=(n, *raw1.shape[1:]))
    y = np.repeat(y1, n, axis=0)
    if y.dtype.kind in "iu":
        y = rng.integers(0, raw1.shape[-1], size=n)
    elif y.ndim == 2 and np.all((y1 == 0) | (y1 == 1)) and y1.sum() == 1:
        y = np.eye(y1.shape[-1])[rng.integers(0, y1.shape[-1], size=n)]
    elif labels and np.all((y1 == 0) | (y1 == 1)):
        y = rng.integers(0, 2, size=y.shape).astype(np.float64)
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
            self.m, self.F = jnp, optax
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
        self.labels = name in {"binary_cross_entropy", "binary_focal_loss", "hinge_loss",
                               "squared_hinge_loss", "bernoulli", "multilabel"}

    def losskit(self, y: Any, raw: Any, **extra: Any) -> Any:
        if self.is_family:
            return self.fn(y, raw, **extra)
        return self.fn(y, raw, **self.opts, **extra)


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


def _measure(row: _Row, refs: tuple[Any, Any, Any], y: np.ndarray, raw: np.ndarray,
             large: bool, repeats: int, calls: int, backends: tuple[str, ...] = BACKENDS,
             stat: str = "min") -> dict[str, float]:
    import torch

    t_ref, j_ref, np_ref = refs
    size = "L" if large else "S"
    ty = torch.from_numpy(y if y.dtype.kind in "iu" else y.astype(np.float32))
    tz = torch.from_numpy(raw)

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
        return row.losskit(a, b, check_values=False)

    def generic(a: Any, b: Any) -> Any:
        with native_kernels(False):
            return row.losskit(a, b)

    if "jax" in backends:
        import jax
        import jax.numpy as jnp

        jy = jnp.asarray(y if y.dtype.kind in "iu" else y.astype(np.float32))
        jz = jnp.asarray(raw)
        # the targets are arguments of the jitted functions (closed over, XLA folds them in)
        lk_j, lk_jg = jax.jit(lk_off), jax.jit(jax.value_and_grad(lk_off, argnums=1))
        rf_j, rf_jg = jax.jit(j_ref), jax.jit(jax.value_and_grad(j_ref, argnums=1))
    if row.is_family:
        def np_grad() -> object:
            return row.fn(y, raw), row.fn.__self__.gradient(y, raw)
    else:
        def np_grad() -> object:
            return lk.value_and_gradient(row.fn, y, raw, **row.opts)

    every = {
        "np": {
            "np value lk": lambda: row.losskit(y, raw),
            "np value ref": (lambda: np_ref(y, raw)) if np_ref else t_val(t_ref),
            "np v+g lk": np_grad,
        },
        "torch": {
            "torch value lk": t_val(row.losskit),
            "torch value ref": t_val(t_ref),
            "torch v+g lk": t_grad(row.losskit),
            "torch v+g ref": t_grad(t_ref),
            "torch value lk off": t_val(lk_off),
            "torch v+g lk off": t_grad(lk_off),
            # the generic path (native kernels off), checks on: what a kernel replaced
            "torch v+g lk generic": t_grad(generic),
        },
    }
    if "jax" in backends:
        every["jax"] = {
            "jax value lk": lambda: lk_j(jy, jz).block_until_ready(),
            "jax value ref": lambda: rf_j(jy, jz).block_until_ready(),
            "jax v+g lk": lambda: jax.block_until_ready(lk_jg(jy, jz)),
            "jax v+g ref": lambda: jax.block_until_ready(rf_jg(jy, jz)),
        }
    contenders = {k: v for b in backends for k, v in every[b].items()}
    if "np" in backends and "torch" not in backends:
        contenders["torch v+g ref"] = every["torch"]["torch v+g ref"]
    times = _time(contenders, repeats, calls, stat)
    out = {f"{key} {size}": times[f"{key} lk"] / times[f"{key} ref"]
           for key in ("np value", "torch value", "torch v+g", "jax value", "jax v+g")
           if f"{key} ref" in times}
    if "np" in backends:
        out[f"np v+g {size}"] = times["np v+g lk"] / times["torch v+g ref"]
    if "torch" in backends:
        for key in ("torch value", "torch v+g"):
            out[f"{key} {size} off"] = times[f"{key} lk off"] / times[f"{key} ref"]
        out[f"torch v+g {size} generic"] = times["torch v+g lk generic"] / times["torch v+g ref"]
        out[f"torch v+g {size} ms"] = times["torch v+g ref"] * 1e3
        out[f"torch v+g {size} lk ms"] = times["torch v+g lk"] * 1e3
    if not large:
        raw64 = raw.astype(np.float64)
        if row.probabilities:
            raw64 /= raw64.sum(axis=-1, keepdims=True)
        a = float(row.losskit(y, raw64))
        b = (float(np_ref(y, raw64)) if np_ref else
             float(t_ref(torch.from_numpy(y), torch.from_numpy(raw64))))
        out["agree"] = abs(a - b) / max(abs(b), 1e-12)
    return out


def run_row(row: _Row, large: int, repeats: int, small_calls: int,
            backends: tuple[str, ...] = BACKENDS, stat: str = "min") -> dict[str, Any]:
    rng = np.random.default_rng(0)
    np_ref = None if row.probabilities else _numpy_reference(row.name, row.opts)
    refs = (_reference(_Ops("torch"), row.name, row.opts),
            _reference(_Ops("jax"), row.name, row.opts) if "jax" in backends else None,
            np_ref)

    def inputs(n_elements: int) -> tuple[np.ndarray, np.ndarray]:
        y, raw = _inputs(row.case, n_elements, rng, row.labels)
        if row.probabilities:
            shifted = np.exp(raw - raw.max(axis=-1, keepdims=True))
            raw = (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)
        return y, raw

    y, raw = inputs(large)
    out = _measure(row, refs, y, raw, True, repeats, 1, backends, stat)
    if small_calls:
        y, raw = inputs(SMALL * raw[0].size)
        out.update(_measure(row, refs, y[:SMALL], raw[:SMALL], False, repeats, small_calls,
                            backends, stat))
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
    head += ["torch v+g L off", "ref torch v+g L", "agree"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in _rows():
        if args.only and row.name not in args.only:
            continue
        r = run_row(row, large, repeats, small_calls)
        cells = [row.label] + [_fmt(r.get(f"{b} {k} {s}")) for b, k in COLUMNS for s in ("L", "S")]
        cells += [_fmt(r["torch v+g L off"]), f"{r['torch v+g L ms']:.1f} ms",
                  f"{r['agree']:.0e}" if "agree" in r else "—"]
        print("| " + " | ".join(cells) + " |", flush=True)


TORCH_COLUMNS = [f"{k} {s}{off}" for s in ("L", "S") for k in ("torch value", "torch v+g")
                 for off in ("", " off")] + ["torch v+g L generic", "torch v+g S generic"]


def _torch_table(only: list[str] | None, large: int, repeats: int, small_calls: int,
                 stat: str) -> None:
    """The torch rows alone: each cell losskit / reference, checks on and off (``off``), and
    the generic path's (native kernels off, checks on: the ``before`` of a kernel)."""
    head = ["row", *(c.replace("torch ", "") for c in TORCH_COLUMNS), "ref v+g L", "lk v+g L"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in _rows():
        if only and row.name not in only and row.label not in only:
            continue
        r = run_row(row, large, repeats, small_calls, ("torch",), stat)
        cells = [row.label, *(_fmt(r.get(c)) for c in TORCH_COLUMNS),
                 f"{r['torch v+g L ms']:.1f} ms", f"{r['torch v+g L lk ms']:.1f} ms"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
