"""The losses added for issue 15: analytic gradients against finite differences, every backend,
float32, and the errors on bad input. (PyTorch's own cases: tests/test_framework_cases.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

_RNG = np.random.default_rng(7)
_PAIRS = _RNG.normal(size=(6, 2))
_SIGNS = np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
_VECTOR_PAIRS = _RNG.normal(size=(5, 2, 4))
_TRIPLETS = _RNG.normal(size=(5, 3, 4))
_SCORES = _RNG.normal(size=(5, 4))
_LABELS = np.array([0, 3, 1, 2, 3])
_MULTI = np.array([[0, 2, -1, 1], [3, -1, 0, 0], [1, 1, 2, -1], [-1, 0, 1, 2], [0, 1, 2, 3]])
_PROBS = _RNG.uniform(0.05, 0.95, size=(3, 2, 4))
_MASKS = (_RNG.uniform(size=(3, 2, 4)) > 0.5).astype(float)

#: (loss, y_true, y_pred, options, per-sample shape)
CASES = [
    (lk.margin_ranking_loss, _SIGNS, _PAIRS, {"margin": 0.3}),
    (lk.margin_ranking_loss, _SIGNS.reshape(2, 3), _PAIRS.reshape(2, 3, 2), {"margin": 0.5}),
    (lk.hinge_embedding_loss, _SIGNS, np.abs(_PAIRS[:, 0]) * 2, {"margin": 1.5}),
    (lk.soft_margin_loss, _SIGNS.reshape(3, 2), _PAIRS[:, 0].reshape(3, 2), {}),
    (lk.cosine_embedding_loss, _SIGNS[:5], _VECTOR_PAIRS, {"margin": -0.2}),
    (lk.triplet_margin_loss, None, _TRIPLETS, {"margin": 1.0}),
    (lk.triplet_margin_loss, None, _TRIPLETS, {"margin": 1.5, "swap": True, "p": 3.0}),
    (lk.triplet_margin_loss, None, _TRIPLETS, {"margin": 2.0, "p": 1.0}),
    (lk.cosine_similarity_loss, _VECTOR_PAIRS[:, 0], _VECTOR_PAIRS[:, 1], {}),
    (lk.cosine_similarity_loss, _VECTOR_PAIRS[:, 0], _VECTOR_PAIRS[:, 1],
     {"convention": "keras", "axis": 0}),
    (lk.multi_margin_loss, _LABELS, _SCORES, {}),
    (lk.multi_margin_loss, _LABELS, _SCORES, {"p": 2, "margin": 0.7,
                                              "class_weight": np.array([1.0, 2.0, 0.5, 1.0])}),
    (lk.multi_margin_loss, _LABELS, _SCORES.T, {"axis": 0}),
    (lk.multilabel_margin_loss, _MULTI, _SCORES, {}),
    (lk.perceptron_loss, _SIGNS, _PAIRS[:, 0], {}),
    (lk.multiclass_perceptron_loss, _LABELS, _SCORES, {}),
    (lk.sparsemax_loss, (_SIGNS.reshape(3, 2) + 1) / 2, _PAIRS[:, 0].reshape(3, 2) * 1.5, {}),
    (lk.multiclass_sparsemax_loss, _LABELS, _SCORES * 2, {}),
    (lk.poly_loss_cross_entropy, np.eye(4)[_LABELS], _SCORES, {"epsilon": -0.7}),
    (lk.generalized_kl_divergence, _PROBS[0] * 3, _SCORES[:2], {}),
    (lk.generalized_kl_divergence, _PROBS[0] * 3, _PROBS[1] + 0.1, {"log_input": False}),
    (lk.dice_loss, _MASKS, _PROBS, {}),
    (lk.dice_loss, _MASKS, _PROBS, {"axis": -1, "eps": 0.5}),
    (lk.tversky_loss, _MASKS, _PROBS, {"alpha": 0.3, "beta": 0.9}),
    (lk.tversky_loss, _MASKS, _PROBS, {"axis": (1, 2), "convention": "keras"}),
]
IDS = [f"{fn.__name__}-{i}" for i, (fn, *_rest) in enumerate(CASES)]
#: one case per loss for the backends (JAX compiles every new operation: seconds each)
_FIRST = {fn: i for i, (fn, *_rest) in reversed(list(enumerate(CASES)))}
BACKEND_CASES = [CASES[i] for i in sorted(_FIRST.values())]
BACKEND_IDS = [IDS[i] for i in sorted(_FIRST.values())]


def _per_sample_shape(fn, y, p, options):
    return np.shape(fn(y, p, reduction="none", **options))


def _finite_difference(fn, y, p, options, h=1e-6):
    grad = np.zeros_like(p)
    for index in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (float(fn(y, up, **options)) - float(fn(y, down, **options))) / (2 * h)
    return grad


@pytest.mark.parametrize("fn,y,p,options", CASES, ids=IDS)
def test_gradient_matches_finite_differences(fn, y, p, options):
    # "sum" with weights: the mean's factor is the reduction's, common to every loss
    reduction = "sum"
    shape = _per_sample_shape(fn, y, p, options)
    weight = np.linspace(0.5, 2.0, int(np.prod(shape))).reshape(shape)
    options = {**options, "reduction": reduction, "sample_weight": weight}
    value, grad = lk.value_and_gradient(fn, y, p, **options)
    assert float(value) == pytest.approx(float(fn(y, p, **options)), rel=1e-12)
    np.testing.assert_allclose(grad, _finite_difference(fn, y, p, options), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("fn,y,p,options", BACKEND_CASES, ids=BACKEND_IDS)
def test_every_backend_gives_numpys_numbers(backend, fn, y, p, options):
    expected, expected_grad = lk.value_and_gradient(fn, y, p, **options)
    to = backend.asarray
    value, grad = lk.value_and_gradient(fn, None if y is None else to(y), to(p), **options)
    assert backend.is_native(value) and backend.is_native(grad)
    np.testing.assert_allclose(backend.to_numpy(value), expected, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(grad), expected_grad, rtol=1e-10, atol=1e-14)
    value32 = fn(None if y is None else to(y), to(p, "float32"), **options)
    assert str(value32.dtype).endswith("float32")
    np.testing.assert_allclose(backend.to_numpy(value32), expected, rtol=1e-5)


def test_torch_autograd_on_the_stacked_inputs():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    p = torch.tensor(_VECTOR_PAIRS, requires_grad=True)
    y = torch.tensor(_SIGNS[:5])
    F.cosine_embedding_loss(p[:, 0], p[:, 1], y, margin=-0.2).backward()
    np.testing.assert_allclose(
        lk.gradient(lk.cosine_embedding_loss, _SIGNS[:5], _VECTOR_PAIRS, margin=-0.2),
        p.grad.numpy(), rtol=1e-10)
    q = torch.tensor(_VECTOR_PAIRS[:, 1], requires_grad=True)
    (1 - F.cosine_similarity(q, torch.tensor(_VECTOR_PAIRS[:, 0]), dim=-1)).mean().backward()
    np.testing.assert_allclose(
        lk.gradient(lk.cosine_similarity_loss, _VECTOR_PAIRS[:, 0], _VECTOR_PAIRS[:, 1]),
        q.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("call,message", [
    (lambda: lk.margin_ranking_loss([1.0, 0.0], [[0.0, 1.0], [1.0, 0.0]]),
     r"margin_ranking_loss: y_true has the value 0 at index 1, not -1 or \+1"),
    (lambda: lk.margin_ranking_loss([1.0, -1.0], [[0.0, 1.0, 2.0], [1.0, 0.0, 2.0]]),
     r"margin_ranking_loss: y_pred has shape \(2, 3\) but holds the two scores of each pair "
     r"stacked on axis -1, which must have length 2"),
    (lambda: lk.margin_ranking_loss([1.0], [[0.0, 1.0], [1.0, 0.0]]),
     r"margin_ranking_loss: y_true has shape \(1,\) but y_pred of shape \(2, 2\) needs one "
     r"target per stacked pair: shape \(2,\)"),
    (lambda: lk.cosine_embedding_loss([1.0], [[[0.0, 1.0], [1.0, np.nan]]]),
     r"cosine_embedding_loss: y_pred has NaN or infinite values"),
    (lambda: lk.triplet_margin_loss([1.0], _TRIPLETS),
     r"triplet_margin_loss: y_true is list, but a triplet holds its own supervision"),
    (lambda: lk.triplet_margin_loss(None, _VECTOR_PAIRS),
     r"triplet_margin_loss: y_pred has shape \(5, 2, 4\) .* must have length 3"),
    (lambda: lk.triplet_margin_loss(None, _TRIPLETS, margin=-1.0),
     r"triplet_margin_loss: margin must be a number in \[0.0, inf\)"),
    (lambda: lk.hinge_embedding_loss([2.0], [0.5]),
     r"hinge_embedding_loss: y_true has the value 2 at index 0, not -1 or \+1"),
    (lambda: lk.multi_margin_loss([4], [[0.0, 1.0]]),
     r"multi_margin_loss: y_true has values outside \[0, 2\) \(4 at index 0"),
    (lambda: lk.multi_margin_loss([0], [[0.0, 1.0]], p=3),
     r"multi_margin_loss: p must be 1 or 2"),
    (lambda: lk.multi_margin_loss([0], [[0.0, 1.0]], class_weight=[1.0, -1.0]),
     r"multi_margin_loss: class_weight has values outside \[0, inf\)"),
    (lambda: lk.multilabel_margin_loss([[0, 5]], [[0.0, 1.0]]),
     r"multilabel_margin_loss: y_true has 5 at index \(0, 1\), not a class index in \[0, 2\) "
     r"or -1"),
    (lambda: lk.multilabel_margin_loss([[0, 1.5]], [[0.0, 1.0]]),
     r"multilabel_margin_loss: y_true has 1.5"),
    (lambda: lk.dice_loss([[1.0, 0.0]], [[1.5, 0.0]]),
     r"dice_loss: y_pred has values outside \[0, 1\]"),
    (lambda: lk.dice_loss(_MASKS, _PROBS, axis=1),
     r"dice_loss: axis is 1, which are not the last axes of y_pred's 3"),
    (lambda: lk.tversky_loss(_MASKS, _PROBS, axis=5),
     r"tversky_loss: axis is 5 but y_pred has 3 dimension"),
    (lambda: lk.cosine_similarity_loss([[1.0, 0.0]], [[1.0, 0.0, 0.0]]),
     r"cosine_similarity_loss: y_true has shape \(1, 2\) but y_pred has shape \(1, 3\)"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_check_values_false_takes_any_target_as_torch():
    torch = pytest.importorskip("torch")
    y = np.array([0.5, 0.0, 2.0])
    x = np.array([0.3, -1.0, 0.7])
    expected = torch.nn.functional.hinge_embedding_loss(torch.tensor(x), torch.tensor(y),
                                                        reduction="none").numpy()
    np.testing.assert_allclose(lk.hinge_embedding_loss(y, x, reduction="none",
                                                       check_values=False), expected)


def test_soft_margin_is_binary_cross_entropy_on_mapped_labels():
    s, y = _PAIRS[:, 0], _SIGNS
    assert float(lk.soft_margin_loss(y, s)) == pytest.approx(
        float(lk.binary_cross_entropy((y + 1) / 2, s, from_logits=True)), rel=1e-12)
    # finite far beyond exp's range, where log1p(exp(-ys)) overflows
    assert float(lk.soft_margin_loss([1.0], [-1000.0])) == 1000.0


def test_zero_vector_has_cosine_zero():
    assert float(lk.cosine_similarity_loss([[1.0, 0.0]], [[0.0, 0.0]])) == 1.0
    grad = lk.gradient(lk.cosine_similarity_loss, [[1.0, 0.0]], [[0.0, 0.0]])
    assert np.all(np.isfinite(grad)) and grad[0, 0] < 0


NEW_LOSSES = sorted({fn for fn, *_rest in CASES}, key=lambda fn: fn.__name__)


@pytest.mark.parametrize("fn", NEW_LOSSES, ids=lambda fn: fn.__name__)
def test_declared_explanation_and_its_worked_case(fn):
    spec = lk.losses.spec_of(fn)
    e = spec.explanation
    assert isinstance(e, lk.losses.LossExplanation)
    for text in (e.formula, e.distribution, e.raw_output, e.gradient, e.when):
        assert len(text) > 10
    assert e.pitfalls and all(len(p) > 20 for p in e.pitfalls)
    assert all(name in lk.losses.loss_specs() for name in e.related)
    case = e.case  # one sample: Case.batch makes the batch of one the loss takes
    y, raw = case.batch(case.y_true)
    value, grad = lk.value_and_gradient(fn, y, raw, **case.options)
    assert np.isfinite(float(value)) and np.all(np.isfinite(grad))
    assert np.shape(grad) == raw.shape == (1, *np.shape(case.y_pred))


def test_tversky_with_equal_weights_is_dice():
    # (up to eps, which Tversky adds to half the denominator)
    np.testing.assert_allclose(lk.tversky_loss(_MASKS, _PROBS, reduction="none", eps=0.0),
                               lk.dice_loss(_MASKS, _PROBS, reduction="none", eps=0.0),
                               rtol=1e-12)


def test_kl_divergence_log_target_against_torch_and_optax():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(4), 5)
    p[0, 1] = 0.0  # an impossible class: log p = -inf, exact with log targets
    p[0] /= p[0].sum()
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    z = rng.normal(size=(5, 4))
    # PyTorch's exp(-inf) * (-inf - log q) is NaN: compare on the rows without a -inf
    zt = torch.tensor(z[1:], requires_grad=True)
    expected = F.kl_div(torch.log_softmax(zt, 1), torch.tensor(log_p[1:]), log_target=True,
                        reduction="batchmean")
    assert torch.isnan(F.kl_div(torch.log_softmax(torch.tensor(z), 1), torch.tensor(log_p),
                                log_target=True, reduction="batchmean"))
    expected.backward()
    value, grad = lk.value_and_gradient(lk.kl_divergence, log_p[1:], z[1:], from_logits=True,
                                        log_target=True)
    assert float(value) == pytest.approx(float(expected.detach()), rel=1e-12)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-10, atol=1e-14)
    value = lk.kl_divergence(log_p, z, from_logits=True, log_target=True)
    # the same number as from the probabilities
    assert float(value) == pytest.approx(float(lk.kl_divergence(np.exp(log_p), z,
                                                                from_logits=True)), rel=1e-12)
    optax = pytest.importorskip("optax")
    theirs = optax.losses.kl_divergence_with_log_targets(
        np.asarray(torch.log_softmax(torch.tensor(z), 1)), log_p)
    ours = lk.kl_divergence(log_p, z, from_logits=True, log_target=True, reduction="none")
    assert np.isnan(theirs[0]) and np.isfinite(ours[0])  # optax too: NaN at a -inf target
    np.testing.assert_allclose(ours[1:], theirs[1:], rtol=1e-6)
    with pytest.raises(ValueError, match="kl_divergence: y_true has NaN or infinite values"):
        lk.kl_divergence(np.full((1, 2), np.inf), z[:1, :2], log_target=True,
                         from_logits=True)
    with pytest.raises(ValueError, match="kl_divergence: y_true rows do not sum to 1"):
        lk.kl_divergence(np.zeros((1, 2)), z[:1, :2], log_target=True, from_logits=True)


def test_multilabel_margin_on_torch_tensors_is_the_formula():
    # torch tensors of (n, C) scores take PyTorch's own kernel (issue 19: 5x faster than the
    # (n, C, C) pairs); the same value and gradient as the formula on NumPy, padding, repeated
    # labels and rows without a target included
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(40, 5))
    labels = rng.integers(0, 5, size=(40, 5))
    labels[rng.random(size=(40, 5)) < 0.3] = -1
    labels[0] = -1
    labels[1] = [2, 2, 0, -1, 4]
    weight = rng.random(40)
    expected = lk.multilabel_margin_loss(labels, scores, reduction="none")
    expected_grad = lk.gradient(lk.multilabel_margin_loss, labels, scores, sample_weight=weight)
    leaf = torch.tensor(scores, requires_grad=True)
    got = lk.multilabel_margin_loss(torch.tensor(labels), leaf, reduction="none")
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-13, atol=1e-15)
    lk.multilabel_margin_loss(torch.tensor(labels), leaf, sample_weight=torch.tensor(weight)
                              ).backward()
    np.testing.assert_allclose(leaf.grad.numpy(), expected_grad, rtol=1e-13, atol=1e-15)
    _, grad = lk.value_and_gradient(lk.multilabel_margin_loss, torch.tensor(labels),
                                    torch.tensor(scores), sample_weight=torch.tensor(weight))
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-13, atol=1e-15)
    # more than one sample axis: the generic path, the same numbers
    np.testing.assert_allclose(
        lk.multilabel_margin_loss(torch.tensor(labels).reshape(4, 10, 5),
                                  torch.tensor(scores).reshape(4, 10, 5),
                                  reduction="none").reshape(-1).numpy(), expected, rtol=1e-13)


@pytest.mark.parametrize("fn, y, raw", [
    (lk.perceptron_loss, [1.0, -1.0], [0.0, 0.0]),
    (lk.margin_ranking_loss, [1.0, -1.0], [[0.5, 0.5], [0.2, 0.2]]),
    (lk.hinge_embedding_loss, [-1.0, -1.0], [1.0, 1.0]),
    (lk.multilabel_margin_loss, [[0, -1, -1]], [[1.0, 0.0, 0.5]]),
])
def test_torch_autograd_at_the_kink_is_the_analytic_gradient(fn, y, raw):
    # the hinges run as torch.relu on tensors (issue 19: maximum's backward was 30x slower),
    # whose derivative at the kink is losskit's 0 (maximum gave half of it)
    torch = pytest.importorskip("torch")
    expected = lk.gradient(fn, np.asarray(y), np.asarray(raw))
    leaf = torch.tensor(raw, dtype=torch.float64, requires_grad=True)
    fn(torch.tensor(y), leaf).backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), expected)
