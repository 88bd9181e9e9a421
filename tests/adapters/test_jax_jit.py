"""Losses inside traced JAX code (jit, grad, vmap, an optax step) without check_values=False, and
hyperparameters as traced arrays (the traced-code rule of losskit._validation)."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from adapter_cases import adapter_cases, doc_example
from losskit._adapters import catalogue

jax = pytest.importorskip("jax")
jnp = jax.numpy

CASES = adapter_cases(np.random.default_rng(0))
#: the vmapped batch's second member is the raw outputs times this (inside [0, 1] stays inside)
SECOND = 0.5


def test_the_cases_cover_the_catalogue():
    assert set(CASES) == set(catalogue())


@pytest.fixture(scope="module")
def traced_results():
    """Every loss's value, gradient and a batch of two, from ONE jitted function (one
    compilation instead of one per loss: the suite must stay fast on 2 cores)."""

    def results(raws, ys):
        out = {}
        for name, (_, _, options) in CASES.items():
            fn = catalogue()[name]

            def loss(r, t, fn=fn, options=options):
                return fn(t, r, **options)

            r, t = raws[name], ys[name]
            out[name] = (loss(r, t), jax.grad(loss)(r, t),
                         jax.vmap(loss)(jnp.stack([r, SECOND * r]), jnp.stack([t, t])))
        return out

    raws = {name: jnp.asarray(raw, jnp.float32) for name, (_, raw, _) in CASES.items()}
    ys = {name: jnp.asarray(y) for name, (y, _, _) in CASES.items()}
    return jax.jit(results)(raws, ys)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_loss_runs_under_jit_grad_and_vmap_with_default_options(name, traced_results):
    y, raw, options = CASES[name]
    fn = catalogue()[name]
    value, grad, batched = traced_results[name]
    eager = float(fn(y, raw, **options))
    np.testing.assert_allclose(float(value), eager, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), lk.gradient(fn, y, raw, **options),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(batched),
                               [eager, float(fn(y, SECOND * raw, **options))], rtol=1e-5)


def test_bad_values_do_not_fail_a_jitted_step_but_fail_eagerly():
    y, p = jnp.asarray([1.0, 0.0]), jnp.asarray([1.5, 0.2])  # 1.5 is no probability
    with pytest.raises(ValueError, match=r"binary_cross_entropy: y_pred has values outside"):
        lk.binary_cross_entropy(y, p)
    value = jax.jit(lambda a, b: lk.binary_cross_entropy(a, b))(y, p)
    assert value.shape == ()  # computed (NaN here: log of a negative), not raised


def test_explicit_checks_in_traced_code_say_what_to_do():
    with pytest.raises(TypeError, match=r"huber_loss: value checks need concrete arrays"):
        jax.jit(lambda p: lk.huber_loss(jnp.zeros(2), p, check_values=True))(jnp.ones(2))


HYPER = [("binary_focal_loss", "gamma", 2.0), ("binary_focal_loss", "alpha", 0.25),
         ("binary_focal_loss", "label_smoothing", 0.1),
         ("categorical_focal_loss", "gamma", 1.5), ("categorical_focal_loss", "alpha", 0.3),
         ("binary_cross_entropy", "label_smoothing", 0.1),
         ("categorical_cross_entropy", "label_smoothing", 0.2),
         ("sparse_categorical_cross_entropy", "label_smoothing", 0.1),
         ("huber_loss", "delta", 0.5), ("pinball_loss", "quantile", 0.8)]


@pytest.fixture(scope="module")
def traced_hyperparameters():
    """Value, derivative and a batch of two for each (loss, option), from one jitted function
    whose arguments are the option values (so they are traced)."""

    def results(values):
        out = []
        for (name, option, _), h in zip(HYPER, values, strict=True):
            y, raw, options = CASES[name]
            rest = {k: v for k, v in options.items() if k != option}
            fn = catalogue()[name]

            def loss(h, fn=fn, y=y, raw=raw, rest=rest, option=option):
                return fn(y, jnp.asarray(raw), **rest, **{option: h})

            out.append((loss(h), jax.grad(loss)(h), jax.vmap(loss)(jnp.stack([h, h / 2]))))
        return out

    return jax.jit(results)([jnp.asarray(value, jnp.float32) for _, _, value in HYPER])


@pytest.mark.parametrize("index", range(len(HYPER)), ids=[f"{n}-{o}" for n, o, _ in HYPER])
def test_hyperparameters_may_be_traced(index, traced_hyperparameters):
    name, option, value = HYPER[index]
    y, raw, options = CASES[name]
    fn = catalogue()[name]
    rest = {k: v for k, v in options.items() if k != option}
    got, slope_got, batched = traced_hyperparameters[index]
    expected = float(fn(y, raw, **rest, **{option: value}))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    step = 1e-3
    slope = (float(fn(y, raw, **rest, **{option: value + step}))
             - float(fn(y, raw, **rest, **{option: value - step}))) / (2 * step)
    np.testing.assert_allclose(float(slope_got), slope, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(np.asarray(batched),
                               [expected, float(fn(y, raw, **rest, **{option: value / 2}))],
                               rtol=1e-5)


def test_a_traced_zero_label_smoothing_takes_the_general_branch_exactly():
    y, raw, options = CASES["categorical_cross_entropy"]
    plain = {k: v for k, v in options.items() if k != "label_smoothing"}
    traced = jax.jit(lambda s: lk.categorical_cross_entropy(y, jnp.asarray(raw), **plain,
                                                            label_smoothing=s))(0.0)
    np.testing.assert_allclose(float(traced), float(lk.categorical_cross_entropy(
        y, raw, **plain)), rtol=1e-6)


def test_concrete_array_hyperparameters_are_checked_like_numbers():
    y, p = [1.0, 0.0], [0.8, 0.3]
    assert float(lk.binary_focal_loss(y, p, gamma=jnp.asarray(2.0))) == pytest.approx(
        float(lk.binary_focal_loss(y, p, gamma=2.0)))
    with pytest.raises(ValueError, match=r"binary_focal_loss: gamma must be a number in"):
        lk.binary_focal_loss(y, p, gamma=jnp.asarray(-1.0))
    with pytest.raises(TypeError, match=r"binary_focal_loss: gamma must be .*0-d real array"):
        lk.binary_focal_loss(y, p, gamma=jnp.asarray([1.0, 2.0]))


@pytest.mark.parametrize(("name", "option"), [("student_t_nll", "df"), ("gamma_nll", "shape")])
def test_options_that_set_host_constants_refuse_tracers_clearly(name, option):
    y, raw, options = CASES[name]
    fn = catalogue()[name]
    rest = {k: v for k, v in options.items() if k != option}
    with pytest.raises(TypeError, match=rf"{name}: {option} is a traced array.*Python number"):
        jax.jit(lambda h: fn(y, jnp.asarray(raw), **rest, **{option: h}))(3.0)


def test_an_optax_training_loop_with_a_traced_gamma():
    optax = pytest.importorskip("optax", reason="optax is not installed (test extra)")
    rng = np.random.default_rng(1)
    X = jnp.asarray(rng.normal(size=(64, 3)), jnp.float32)
    y = jnp.asarray((np.asarray(X) @ [2.0, -1.0, 0.5] > 0).astype(np.float32))
    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    optimiser = optax.adam(0.1)

    def objective(p, gamma):
        return lk.binary_focal_loss(y, X @ p["w"] + p["b"], from_logits=True, gamma=gamma)

    @jax.jit
    def step(p, state, gamma):
        value, grads = jax.value_and_grad(objective)(p, gamma)
        updates, state = optimiser.update(grads, state, p)
        return optax.apply_updates(p, updates), state, value

    state = optimiser.init(params)
    first = None
    for _ in range(60):
        params, state, value = step(params, state, jnp.asarray(2.0))
        first = float(value) if first is None else first
    assert float(value) < 0.2 * first
    assert step._cache_size() == 1  # one trace: gamma was traced, not baked in
    accuracy = float(jnp.mean((X @ params["w"] + params["b"] > 0) == (y > 0.5)))
    assert accuracy > 0.9


def test_the_docs_example_runs(capsys):
    pytest.importorskip("optax", reason="optax is not installed (test extra)")
    exec(compile(doc_example("jax.md"), "docs/jax.md", "exec"), {})
    assert "final focal loss" in capsys.readouterr().out
