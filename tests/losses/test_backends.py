"""Every public loss on every backend: same kind of array out, same numbers, autograd and jit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import losskit as lk

N, C = 9, 4


def _inputs(rng):
    z = rng.normal(size=(N, C)) * 3
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    labels = rng.integers(0, C, size=N)
    return {
        "mean_squared_error": (lk.mean_squared_error, rng.normal(size=N), rng.normal(size=N), {}),
        "binary_cross_entropy": (lk.binary_cross_entropy, rng.integers(0, 2, N).astype(float),
                                 rng.uniform(0.01, 0.99, N), {}),
        "binary_cross_entropy-logits": (lk.binary_cross_entropy,
                                        rng.integers(0, 2, (N, C)).astype(float), z,
                                        {"from_logits": True}),
        "categorical_cross_entropy": (lk.categorical_cross_entropy, np.eye(C)[labels], p, {}),
        "categorical_cross_entropy-logits": (lk.categorical_cross_entropy, np.eye(C)[labels], z,
                                             {"from_logits": True, "label_smoothing": 0.1}),
        "sparse_categorical_cross_entropy": (lk.sparse_categorical_cross_entropy, labels, p, {}),
        "sparse_categorical_cross_entropy-logits": (
            lk.sparse_categorical_cross_entropy, labels, z,
            {"from_logits": True, "class_weight": np.linspace(0.5, 2, C)}),
    }


CASES = list(_inputs(np.random.default_rng(0)))
PUBLIC_LOSSES = {lk.mean_squared_error, lk.binary_cross_entropy, lk.categorical_cross_entropy,
                 lk.sparse_categorical_cross_entropy}


def test_every_public_loss_is_covered():
    covered = {case[0] for case in _inputs(np.random.default_rng(0)).values()}
    assert covered == PUBLIC_LOSSES


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", CASES)
def test_same_numbers_and_array_type_on_every_backend(backend, rng, case, reduction):
    loss, y, p, options = _inputs(rng)[case]
    expected = loss(y, p, reduction=reduction, **options)
    yb = backend.asarray(y)
    pb = backend.asarray(p)
    out = loss(yb, pb, reduction=reduction, **options)
    assert backend.is_native(out)
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-12)
    value, grad = lk.value_and_gradient(loss, yb, pb, reduction=reduction, **options)
    np.testing.assert_allclose(backend.to_numpy(value), expected, rtol=1e-12)
    assert backend.is_native(grad) and tuple(grad.shape) == tuple(np.shape(p))
    np.testing.assert_allclose(backend.to_numpy(grad),
                               lk.gradient(loss, y, p, reduction=reduction, **options),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("case", CASES)
def test_low_precision_is_computed_in_float32_and_returned_in_its_dtype(backend, rng, case,
                                                                        dtype):
    if (dtype == "bfloat16" and backend.name in ("numpy", "array_api_strict")) or (
            dtype == "float16" and backend.name == "array_api_strict"):
        pytest.skip(f"{backend.name} has no {dtype}")
    loss, y, p, options = _inputs(rng)[case]
    pb = backend.asarray(p, dtype)
    out = loss(backend.asarray(y), pb, **options, check_values=dtype == "float32")
    assert out.dtype == backend.dtype(dtype)
    # the reference: the same rounded inputs, in float64, clipped at the input dtype's eps
    p_rounded = backend.to_numpy(pb).astype("float64")
    reference_options = dict(options, check_values=False)
    if loss is not lk.mean_squared_error:
        reference_options["eps"] = {"float16": 2.0**-10, "bfloat16": 2.0**-7,
                                    "float32": 2.0**-23}[dtype]
    expected = float(loss(y, p_rounded, **reference_options))
    tolerance = {"float16": 2e-3, "bfloat16": 1e-2, "float32": 1e-6}[dtype]
    np.testing.assert_allclose(float(backend.to_numpy(out)), expected, rtol=tolerance * 4)
    grad = lk.gradient(loss, backend.asarray(y), pb, **options, check_values=False)
    assert grad.dtype == backend.dtype(dtype)


def test_lists_are_numpy():
    out = lk.binary_cross_entropy([1, 0], [0.9, 0.1])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64


def test_numpy_labels_with_torch_predictions():
    torch = pytest.importorskip("torch")
    z = torch.randn(5, 3, dtype=torch.float64)
    out = lk.sparse_categorical_cross_entropy(np.array([0, 1, 2, 1, 0]), z, from_logits=True)
    assert isinstance(out, torch.Tensor)


def test_mixing_two_non_numpy_libraries_is_a_type_error():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TypeError,
                       match=r"mean_squared_error: y_true comes from JAX .* but y_pred from torch"):
        lk.mean_squared_error(jnp.ones(3), torch.ones(3))


def test_torch_autograd_flows_through(rng):
    torch = pytest.importorskip("torch")
    z = torch.tensor(rng.normal(size=(6, 3)), requires_grad=True)
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    loss = lk.sparse_categorical_cross_entropy(labels, z, from_logits=True)
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy(), lk.gradient(
        lk.sparse_categorical_cross_entropy, labels.numpy(), z.detach().numpy(),
        from_logits=True), rtol=1e-12)


def test_jax_grad_and_jit_flow_through(rng):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    z = jnp.asarray(rng.normal(size=(6, 3)))
    labels = jnp.asarray([0, 1, 2, 2, 1, 0])

    def f(logits):
        return lk.sparse_categorical_cross_entropy(labels, logits, from_logits=True,
                                                   check_values=False)

    expected = lk.gradient(lk.sparse_categorical_cross_entropy, np.asarray(labels),
                           np.asarray(z), from_logits=True)
    np.testing.assert_allclose(np.asarray(jax.grad(f)(z)), expected, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(f))(z)), expected, rtol=1e-12)
    np.testing.assert_allclose(float(jax.jit(f)(z)), float(f(z)), rtol=1e-12)
    # eager jax.grad can still run the value checks
    g = jax.grad(lambda q: lk.binary_cross_entropy(jnp.ones(3), q, from_logits=True))(jnp.zeros(3))
    np.testing.assert_allclose(np.asarray(g), [-0.5 / 3] * 3)


def test_explicit_checks_inside_jit_ask_for_check_values_false():
    # by default a loss skips its value checks on traced inputs (tests/test_jax_jit.py); asked
    # for explicitly, they cannot run and say what to do
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    with pytest.raises(TypeError, match="Pass check_values=False in traced code"):
        jax.jit(lambda q: lk.binary_cross_entropy(jnp.ones(3), q, check_values=True))(
            jnp.full(3, 0.5))


def test_jax_without_x64_labels_do_not_warn_at_every_call(rng):
    # JAX without x64 holds integers as int32: asking it for int64 labels warned
    # ("Explicitly requested dtype int64 ... truncated to int32") at every call
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    with jax.enable_x64(False), warnings.catch_warnings():
        warnings.simplefilter("error")
        z = jnp.asarray(rng.normal(size=(6, 3)), dtype=jnp.float32)
        labels = jnp.asarray([0, 1, 2, 2, 1, 0])
        expected = lk.sparse_categorical_cross_entropy(
            np.asarray(labels), np.asarray(z, dtype=np.float64), from_logits=True)
        for y in (labels, labels.astype(jnp.float32), np.asarray([0, 1, 2, 2, 1, 0])):
            loss = lk.sparse_categorical_cross_entropy(y, z, from_logits=True)
            np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
        _, grad = lk.value_and_gradient(lk.sparse_categorical_cross_entropy, labels, z,
                                            from_logits=True)
        assert grad.dtype == jnp.float32
        traced = jax.jit(jax.value_and_grad(lambda q: lk.sparse_categorical_cross_entropy(
            labels, q, from_logits=True, check_values=False)))(z)
        np.testing.assert_allclose(float(traced[0]), expected, rtol=1e-6)
        # float labels are checked before the cast to int32 narrows them
        with pytest.raises(ValueError, match="int32 cannot hold"):
            lk.sparse_categorical_cross_entropy(jnp.asarray([3e9, 0.0]), z[:2], from_logits=True)
