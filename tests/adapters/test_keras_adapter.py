"""losskit.keras: a Keras loss for every catalogue loss, serialisable, inside model.fit on the
Keras 3 backends that install here (JAX and PyTorch in their own processes; NumPy here)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import losskit as lk
from adapter_cases import adapter_cases
from keras_runs import FIT_LOSSES, keras_runs
from losskit._adapters import catalogue

os.environ.setdefault("KERAS_BACKEND", "numpy")  # as tests/references.py: one backend a process
keras = pytest.importorskip("keras")
lkk = pytest.importorskip("losskit.keras")

CASES = adapter_cases(np.random.default_rng(0))
KERAS_BACKENDS = ("jax", "torch")  # the same call as test_diagnose: one run per session


def test_a_keras_loss_for_every_catalogue_loss():
    assert set(lkk.LOSSES) == set(catalogue()) == set(CASES)
    for loss, cls in lkk.LOSSES.items():
        assert getattr(lkk, cls.__name__) is cls and cls.__name__ in lkk.__all__
        assert issubclass(cls, keras.losses.Loss) and loss in cls.__doc__
        assert keras.saving.get_registered_object(f"losskit>{cls.__name__}") is cls
    assert [lkk.LOSSES[n].__name__ for n in ("gaussian_nll", "kl_divergence", "huber_loss")] \
        == ["GaussianNLL", "KLDivergence", "HuberLoss"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_loss_is_its_function_and_round_trips_its_config(name):
    y, raw, options = CASES[name]
    loss = lkk.LOSSES[name](**options)
    expected = float(catalogue()[name](y, raw, **options))
    np.testing.assert_allclose(float(loss(y, raw)), expected, rtol=1e-5)
    config = loss.get_config()
    assert {k: config[k] for k in options} == options and config["name"] == name
    for clone in (type(loss).from_config(config),
                  keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(
                      loss))):
        assert type(clone) is type(loss) and clone.options == options
        np.testing.assert_allclose(float(clone(y, raw)), expected, rtol=1e-5)


def test_the_generic_loss_and_array_options_serialise():
    labels, logits, _ = CASES["sparse_categorical_cross_entropy"]
    weights = np.array([0.5, 1.0, 3.0])
    loss = lkk.Loss("sparse_categorical_cross_entropy", from_logits=True, class_weight=weights)
    config = loss.get_config()
    assert config["loss"] == "sparse_categorical_cross_entropy"
    assert config["class_weight"] == [0.5, 1.0, 3.0]  # JSON, not an array
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    # per-sample values w[y] l, averaged by Keras' reduction over the batch: sum(w l) / n
    expected = np.mean(lk.sparse_categorical_cross_entropy(
        labels, logits, from_logits=True, class_weight=weights, reduction="none"))
    for each in (loss, clone):
        np.testing.assert_allclose(float(each(labels, logits)), expected, rtol=1e-5)


def test_keras_conventions_shapes_and_weights():
    y, raw, _ = CASES["mean_squared_error"]
    w = np.linspace(0.5, 2.0, len(y))
    mse = lkk.MeanSquaredError()
    # Keras feeds (n,) targets to (n, 1) outputs, and (n, 1) labels to (n, C) outputs
    np.testing.assert_allclose(float(mse(y[:, 0], raw)), lk.mean_squared_error(y, raw),
                               rtol=1e-6)
    labels, logits, options = CASES["sparse_categorical_cross_entropy"]
    np.testing.assert_allclose(
        float(lkk.SparseCategoricalCrossEntropy(**options)(labels[:, None], logits)),
        lk.sparse_categorical_cross_entropy(labels, logits, **options), rtol=1e-6)
    # Keras' reduction of sample weights: sum(w l) / n, losskit's convention="keras"
    np.testing.assert_allclose(float(mse(y, raw, sample_weight=w)), lk.mean_squared_error(
        y, raw, sample_weight=w, convention="keras"), rtol=1e-6)
    # convention="keras" reproduces Keras' own loss (its probability clipping)
    p = np.array([[0.0], [0.3], [1.0]])
    t = np.array([[1.0], [0.0], [1.0]])
    np.testing.assert_allclose(
        float(lkk.BinaryCrossEntropy(convention="keras")(t, p)),
        float(keras.losses.BinaryCrossentropy()(t, p)), rtol=1e-5)


def test_construction_checks_the_options():
    with pytest.raises(ValueError, match=r"Loss: loss is 'mse', not a catalogue loss"):
        lkk.Loss("mse")
    with pytest.raises(TypeError, match=r"HuberLoss: gamma is not an option of huber_loss"):
        lkk.HuberLoss(gamma=1.0)
    with pytest.raises(ValueError, match=r"binary_focal_loss: gamma must be a number in"):
        lkk.BinaryFocalLoss(gamma=-2.0)


def test_numpy_backend_evaluates_and_saves_but_keras_cannot_fit_there(tmp_path):
    if keras.backend.backend() != "numpy":
        pytest.skip(f"this process runs Keras' {keras.backend.backend()} backend")
    y, _, options = CASES["poisson_nll"]
    X = np.random.default_rng(2).normal(size=(len(y), 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=lkk.PoissonNLL(**options))
    outputs = keras.ops.convert_to_numpy(model(X)).astype(np.float64)
    np.testing.assert_allclose(model.evaluate(X, y, verbose=0), lk.poisson_nll(y, outputs),
                               rtol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.loss) is lkk.PoissonNLL
    np.testing.assert_allclose(loaded.evaluate(X, y, verbose=0), model.evaluate(X, y, verbose=0))
    with pytest.raises(NotImplementedError, match="fit not implemented for NumPy backend"):
        model.fit(X, y, epochs=1, verbose=0)  # Keras' limit, not losskit's


@pytest.mark.parametrize("backend", KERAS_BACKENDS)
@pytest.mark.parametrize("name", FIT_LOSSES)
def test_model_fit_save_and_reload_on_each_backend(backend, name):
    run = keras_runs(KERAS_BACKENDS, logs="jax")[backend]
    if "skipped" in run:
        pytest.skip(run["skipped"])
    result = run[name]
    history = result["history"]
    assert history[-1] < history[0]  # it trained
    assert result["loaded_class"] == lkk.LOSSES[name].__name__
    assert result["loaded_options"] == CASES[name][2]
    assert result["evaluate_loaded"] == pytest.approx(result["evaluate"], rel=1e-6)
    # Keras' number is losskit's function on the trained model's outputs
    assert result["evaluate"] == pytest.approx(result["function"], rel=1e-4)


def test_the_docs_example_ran_on_the_jax_backend():
    run = keras_runs(KERAS_BACKENDS, logs="jax")["jax"]
    if "skipped" in run:
        pytest.skip(run["skipped"])
    assert run["docs_example"] == "ran"  # the process fails (and the test with it) otherwise


def test_a_loss_from_a_family_is_the_familys_nll():
    y, raw, _ = CASES["poisson_nll"]
    loss = lkk.Loss.from_family("poisson")
    assert type(loss) is lkk.PoissonNLL
    np.testing.assert_allclose(float(loss(y, raw)), lk.family("poisson").loss(y, raw),
                               rtol=1e-5)
