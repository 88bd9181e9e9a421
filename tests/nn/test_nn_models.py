"""losskit.nn: heads, the MLP, autograd through losskit's losses, several heads."""

import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import losskit as lk  # noqa: E402
from losskit.nn import LOSS_HEADS, MLP, Head, Trainer  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: one intra-op thread is faster and not disturbed by other processes
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_import_losskit_does_not_import_torch():
    code = ("import sys, losskit, losskit.losses, losskit.metrics, losskit.families, "
            "losskit.nn, losskit.nn.cli; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "losskit.nn.MLP; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("loss", "task", "kw", "n_out", "activation"), [
    ("mean_squared_error", "regression", {"n_targets": 3}, 3, "identity"),
    ("gaussian_nll", "regression", {"n_targets": 2}, 4, "identity,exp"),
    ("poisson_nll", "regression", {}, 1, "exp"),
    ("cross_entropy", "classification", {"n_classes": 2}, 1, "sigmoid"),
    ("cross_entropy", "classification", {"n_classes": 5}, 5, "softmax"),
    ("sparse_categorical_cross_entropy", "classification", {"n_classes": 2}, 2, "softmax"),
    ("mean_squared_error", "classification", {"n_classes": 2}, 1, "sigmoid"),
    (lk.families.HeteroscedasticGaussian(), "regression", {"n_targets": 2}, 4, "identity,exp"),
    (lk.families.Categorical(), "classification", {"n_classes": 4}, 4, "softmax"),
    (lk.families.Bernoulli(), "classification", {"n_classes": 2}, 1, "sigmoid"),
])
def test_head_outputs_follow_the_loss(loss, task, kw, n_out, activation):
    head = Head(loss, task=task, **kw)
    assert head.n_outputs == n_out
    assert head.activation == activation


def test_every_catalogue_head_builds():
    for name, spec in LOSS_HEADS.items():
        kw = {"n_classes": 2} if spec.task == "classification" else {}
        assert Head(name, task=spec.task, **kw).n_outputs >= 1


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"loss": "nope"}, ValueError, r"^Head: loss is 'nope', which is not a regression loss"),
    ({"loss": "cross_entropy"}, ValueError, "not a regression loss"),
    ({"loss": "binary_cross_entropy", "task": "classification", "n_classes": 3}, ValueError,
     "3 classes"),
    ({"loss": 3}, TypeError, "Head: loss is int"),
    ({"task": "clustering"}, ValueError, "Head: task is 'clustering'"),
    ({"task": "classification"}, ValueError, "Head: n_classes is None"),
    ({"weight": -1.0}, ValueError, "Head: weight is -1.0"),
    ({"loss": lk.families.Bernoulli()}, ValueError, "does not fit this regression target"),
])
def test_head_bad_inputs(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Head(**kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
    ({"activation": "swish"}, "MLP: activation is 'swish'"),
    ({"init": "zeros"}, "MLP: init is 'zeros'"),
])
def test_mlp_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(3, Head(), **kwargs)


def test_mlp_heads_must_be_heads():
    with pytest.raises(TypeError, match="MLP: heads is"):
        MLP(3, {"a": "mse"})


def test_he_uniform_initialisation():
    model = MLP(400, Head(), hidden_layer_sizes=(300, 200), random_state=0)
    w = model.trunk[0].weight.detach().double()
    bound = math.sqrt(6.0 / 400)
    assert float(w.abs().max()) <= bound
    # U(-b, b) has variance b²/3 = 2/fan_in (He et al.); 120,000 draws: 1% agreement
    assert float(w.var()) == pytest.approx(2.0 / 400, rel=0.02)
    assert float(model.trunk[0].bias.detach().abs().max()) == 0.0
    w2 = model.trunk[2].weight.detach().double()
    assert float(w2.var()) == pytest.approx(2.0 / 300, rel=0.02)


def test_initialisation_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = MLP(5, Head(), hidden_layer_sizes=(7,), random_state=1)
    assert torch.equal(torch.rand(1), expected)
    b = MLP(5, Head(), hidden_layer_sizes=(7,), random_state=1)
    c = MLP(5, Head(), hidden_layer_sizes=(7,), random_state=2)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(a.trunk[0].weight, c.trunk[0].weight)


def test_forward_shapes_and_predict_activation():
    heads = {"y": Head("poisson_nll", n_targets=2),
             "c": Head("cross_entropy", task="classification", n_classes=3)}
    model = MLP(4, heads, hidden_layer_sizes=(6,), random_state=0)
    x = torch.randn(5, 4)
    out = model(x)
    assert out["y"].shape == (5, 2) and out["c"].shape == (5, 3)
    pred = model.predict(x)
    torch.testing.assert_close(pred["y"], torch.exp(out["y"]).detach())
    torch.testing.assert_close(pred["c"], torch.softmax(out["c"], dim=1).detach())


@pytest.mark.parametrize(("loss", "n_classes", "reference"), [
    ("cross_entropy", 2, lambda y, z: torch.nn.functional.binary_cross_entropy_with_logits(
        z[:, 0], y.double())),
    ("cross_entropy", 3, lambda y, z: torch.nn.functional.cross_entropy(z, y)),
    ("mean_squared_error", 3, lambda y, z: torch.mean(torch.sum(
        (torch.softmax(z, 1) - torch.nn.functional.one_hot(y, 3)) ** 2, 1) / 3)),
])
def test_autograd_through_losskit_matches_torch(loss, n_classes, reference):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, n_classes, (20,), generator=g)
    head = Head(loss, task="classification", n_classes=n_classes)
    a = MLP(3, head, hidden_layer_sizes=(5,), random_state=0, dtype=torch.float64)
    b = MLP(3, head, hidden_layer_sizes=(5,), random_state=0, dtype=torch.float64)
    total, _ = a.loss(a(x), {"output": head.target(y, torch.float64)})
    total.backward()
    ref = reference(y, b(x)["output"])
    ref.backward()
    torch.testing.assert_close(total, ref, rtol=1e-12, atol=0)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-14)


def test_gaussian_head_is_the_exact_gaussian_nll():
    from scipy import stats

    head = Head("gaussian_nll", n_targets=1)
    raw = torch.tensor([[0.3, -0.2], [1.5, 0.4]], dtype=torch.float64)  # (mean, log var)
    y = torch.tensor([[0.1], [2.0]], dtype=torch.float64)
    expected = -np.mean(stats.norm.logpdf([0.1, 2.0], loc=[0.3, 1.5],
                                          scale=np.exp(np.array([-0.2, 0.4]) / 2)))
    assert float(head.batch_loss(y, raw, None)) == pytest.approx(expected, rel=1e-12)
    # the HeteroscedasticGaussian family's layout exactly (one layout, from the family)
    fam = Head(lk.families.HeteroscedasticGaussian(), n_targets=1)
    assert float(fam.batch_loss(y, raw, None)) == pytest.approx(expected, rel=1e-12)


def test_several_heads_weighted_sum_and_per_head_history():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y_reg = X[:, :1] * 2.0
    y_cls = (X[:, 1] > 0).astype(np.int64)
    heads = {"value": Head("mean_squared_error"),
             "aux": Head("cross_entropy", task="classification", n_classes=2, weight=0.3)}
    model = MLP(3, heads, hidden_layer_sizes=(8,), random_state=0, dtype=torch.float64)
    x = torch.as_tensor(X)
    targets = {"value": torch.as_tensor(y_reg),
               "aux": heads["aux"].target(torch.as_tensor(y_cls), torch.float64)}
    total, parts = model.loss(model(x), targets)
    value, aux = float(parts["value"].detach()), float(parts["aux"].detach())
    assert float(total.detach()) == pytest.approx(value + 0.3 * aux, rel=1e-14)
    hist = Trainer(epochs=3, learning_rate=0.05, random_state=0).fit(
        model, X, {"value": y_reg, "aux": y_cls}, validation_data=(X[:20], {
            "value": y_reg[:20], "aux": y_cls[:20]}))
    row = hist.rows[-1]
    for key in ("loss/value", "loss/aux", "val_loss/value", "val_loss/aux"):
        assert math.isfinite(row[key])
    assert row["loss"] == pytest.approx(row["loss/value"] + 0.3 * row["loss/aux"], rel=1e-12)
    # the validation losses per head are the losses of the final model on those samples
    with torch.no_grad():
        out = model(x[:20])
    assert row["val_loss/value"] == pytest.approx(float(lk.mean_squared_error(
        targets["value"][:20], out["value"])), rel=1e-12)


def test_uncertainty_weighting_formula_and_learning():
    heads = {"a": Head("mean_squared_error"),
             "b": Head("cross_entropy", task="classification", n_classes=2)}
    model = MLP(2, heads, hidden_layer_sizes=(4,), uncertainty_weighting=True,
                random_state=0, dtype=torch.float64)
    with torch.no_grad():
        model.log_vars.copy_(torch.tensor([0.5, -0.3], dtype=torch.float64))
    la, lb = torch.tensor(2.0, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64)
    total = model.combine({"a": la, "b": lb})
    expected = 0.5 * math.exp(-0.5) * 2.0 + 0.25 + math.exp(0.3) * 0.7 - 0.15
    assert float(total.detach()) == pytest.approx(expected, rel=1e-14)
    # a noisy regression head learns a larger variance than a clean one
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = {"clean": X[:, :1] * 1.0, "noisy": X[:, :1] + 3.0 * rng.normal(size=(200, 1))}
    model = MLP(2, {"clean": Head(), "noisy": Head()}, hidden_layer_sizes=(8,),
                uncertainty_weighting=True, random_state=0, dtype=torch.float64)
    hist = Trainer(epochs=40, learning_rate=0.02, random_state=0).fit(model, X, y)
    assert hist.rows[-1]["log_var/noisy"] > hist.rows[-1]["log_var/clean"] + 1.0


def test_callable_loss_trains_like_the_named_loss():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, -1.0, 0.5])

    def squared(y_true, y_pred):
        return torch.mean((y_true - y_pred) ** 2, dim=1)

    histories = []
    for loss in ("mean_squared_error", squared):
        model = MLP(3, Head(loss), hidden_layer_sizes=(6,), random_state=0,
                    dtype=torch.float64)
        histories.append(Trainer(epochs=4, random_state=0).fit(model, X, y))
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-12)


def test_callable_loss_must_return_one_value_per_sample():
    model = MLP(2, Head(lambda yt, yp: torch.sum((yt - yp) ** 2)), hidden_layer_sizes=(3,),
                random_state=0)
    with pytest.raises(ValueError, match="loss: callable returned shape"):
        Trainer(epochs=1).fit(model, np.zeros((4, 2), np.float32), np.zeros(4, np.float32))


def test_start_at_baseline_sets_the_output_bias_of_each_head():
    heads = {"count": Head("poisson_nll"), "value": Head("gaussian_nll"),
             "kind": Head("cross_entropy", task="classification", n_classes=3),
             "mix": Head(lk.families.GaussianMixture(k=2))}
    model = MLP(2, heads, hidden_layer_sizes=(4,), random_state=0, dtype=torch.float64)
    before = model.heads["mix"].bias.detach().clone()
    y = {"count": np.array([1.0, 3.0]), "value": np.array([[1.0], [3.0]]),
         "kind": np.array([0, 2]), "mix": np.array([1.0, 2.0])}
    done = model.start_at_baseline(y)
    assert done == {"count": True, "value": True, "kind": True, "mix": False}
    b = {k: v.bias.detach().numpy() for k, v in model.heads.items()}
    np.testing.assert_allclose(b["count"], [np.log(2.0)])
    np.testing.assert_allclose(b["value"], [2.0, 0.0])  # mean, log sd (sd 1)
    np.testing.assert_allclose(b["kind"][[0, 2]], [np.log(0.5)] * 2)
    assert b["kind"][1] < -20  # an unseen class starts improbable (log 1e-12)
    assert torch.equal(model.heads["mix"].bias, before)  # no closed form: left alone
