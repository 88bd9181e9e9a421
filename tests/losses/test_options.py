"""The frameworks' options on losskit's classification and overlap losses (issue 15), over the
frameworks' own test cases: optax's ``where=`` masks and several class axes
(optax/losses/_classification_test.py: SoftmaxCrossEntropyTest,
SoftmaxCrossEntropyWithIntegerLabelsTest), PyTorch's per-label ``weight`` of
``BCEWithLogitsLoss``/``BCELoss``, Keras' ``axis=`` of ``binary_crossentropy``, and optax's dice
losses (optax/losses/_segmentation_test.py) — each on every backend, the gradient against the
framework's autograd and losskit's own against autograd through its value."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk
from references import keras_numpy

optax = pytest.importorskip("optax")
jax = pytest.importorskip("jax")
torch = pytest.importorskip("torch")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
F = torch.nn.functional

CE = lk.categorical_cross_entropy
SCE = lk.sparse_categorical_cross_entropy

# SoftmaxCrossEntropyTest.setUp / SoftmaxCrossEntropyWithIntegerLabelsTest.setUp
YS = np.array([[10.0, 1.0, -2.0], [1.0, 4.0, 0.2]])
TS = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
LABELS = np.array([1, 0])
MASK = np.array([True, False])
PER_LOGIT_MASK = np.array([[1, 0, 0], [0, 0, 0]]).astype(bool)
#: a class mask with a target on a masked class (sample 0's label 1) and a fully masked row
MIXED_MASK = np.array([[1, 0, 1], [1, 1, 0]]).astype(bool)


def _numpy(x):
    return np.asarray(x.detach() if hasattr(x, "detach") else x, dtype=np.float64)


def _optax_parts(fn, logits, labels, **options):
    """optax's per-sample losses and the gradient of their mean."""
    values = np.asarray(fn(jnp.asarray(logits), jnp.asarray(labels), **options))
    grad = np.asarray(jax.grad(lambda z: jnp.mean(fn(z, jnp.asarray(labels), **options)))(
        jnp.asarray(logits)))
    return values, grad


def _losskit_parts(backend, fn, y, z, **options):
    """losskit's per-sample losses and the gradient of its mean on ``backend``, the gradient
    also by autograd through the value where the backend has it."""
    yb, zb = backend.asarray(y), backend.asarray(z)
    if "where" in options and options["where"] is not None:
        options = {**options, "where": backend.asarray(options["where"])}
    values = _numpy(fn(yb, zb, reduction="none", **options))
    grad = _numpy(lk.gradient(fn, yb, zb, **options))
    if backend.name == "torch":
        zt = torch.tensor(z, requires_grad=True)
        fn(yb, zt, **options).backward()
        np.testing.assert_allclose(zt.grad.numpy(), grad, rtol=1e-10, atol=1e-12)
    if backend.name == "jax":
        auto = jax.grad(lambda q: fn(yb, q, **options))(jnp.asarray(z))
        np.testing.assert_allclose(np.asarray(auto), grad, rtol=1e-10, atol=1e-12)
    return values, grad


def _close(got, expected, rtol=1e-10):
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-12)


# ----------------------------------------------------------------------------- optax's where=

WHERE_CASES = {"per_sample": MASK, "per_logit": PER_LOGIT_MASK, "mixed": MIXED_MASK}


@pytest.mark.parametrize("case", sorted(WHERE_CASES))
def test_optax_where_masks_of_softmax_cross_entropy(backend, case):
    where = WHERE_CASES[case]
    expected, expected_grad = _optax_parts(optax.losses.softmax_cross_entropy, YS, TS,
                                           where=where)
    got, grad = _losskit_parts(backend, CE, TS, YS, from_logits=True, where=where,
                               convention="optax")
    _close(got, expected)
    _close(grad, expected_grad)
    # optax's test_per_logit_mask: a sample with no class left gives 0
    assert np.all(got[~np.any(np.broadcast_to(where.T, YS.T.shape).T, axis=-1)] == 0)


@pytest.mark.parametrize("case", sorted(WHERE_CASES))
def test_optax_where_masks_of_integer_labels(backend, case):
    where = WHERE_CASES[case]
    expected, expected_grad = _optax_parts(
        optax.losses.softmax_cross_entropy_with_integer_labels, YS, LABELS, where=where)
    got, grad = _losskit_parts(backend, SCE, LABELS, YS, from_logits=True, where=where,
                               convention="optax")
    _close(got, expected)
    _close(grad, expected_grad)
    assert np.all(np.isfinite(grad))  # optax's test_gradient: finite with a mask


@pytest.mark.parametrize("size", [5, 10])
def test_optax_mask_is_the_loss_of_the_kept_classes(size):
    """optax's test_mask: masking classes equals dropping them (both from optax here)."""
    rng = np.random.default_rng(size)
    preds = rng.normal(size=size)
    targets = rng.dirichlet(np.ones(size))
    mask = rng.integers(2, size=size).astype(bool)
    mask[0] = True
    dropped = optax.losses.softmax_cross_entropy(preds[mask], targets[mask])
    got = CE(targets, preds, from_logits=True, where=mask, convention="optax")
    _close(float(got), float(dropped))
    # losskit refuses the targets on the masked classes instead (their probability is 0)
    if (targets[~mask] > 0).any():
        with pytest.raises(ValueError, match=r"categorical_cross_entropy: y_true puts weight "
                                             r"on class \d+ of sample .*which where masks"):
            CE(targets, preds, from_logits=True, where=mask)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_optax_axis_cases(backend, axis):
    """test_axis of both optax tests (shape [4, 5, 6])."""
    rng = np.random.default_rng(axis)
    shape = (4, 5, 6)
    preds = rng.normal(size=shape)
    targets = np.moveaxis(rng.dirichlet(np.ones(shape[axis]), size=np.delete(shape, axis)),
                          -1, axis)
    expected, expected_grad = _optax_parts(optax.losses.softmax_cross_entropy, preds,
                                           targets, axis=axis)
    got, grad = _losskit_parts(backend, CE, targets, preds, from_logits=True, axis=axis)
    _close(got, expected)
    _close(grad, expected_grad)
    labels = rng.integers(shape[axis], size=tuple(np.delete(shape, axis)))
    expected, expected_grad = _optax_parts(
        optax.losses.softmax_cross_entropy_with_integer_labels, preds, labels, axis=axis)
    got, grad = _losskit_parts(backend, SCE, labels, preds, from_logits=True, axis=axis)
    _close(got, expected)
    _close(grad, expected_grad)


AXES = [(1, 3), (3, 2), (2, 3), (-3, -1), (-1, -2), (-2, -1), (0, 1, 3), (-4, -3, -1)]


@pytest.mark.parametrize("axis", AXES)
def test_optax_several_class_axes_with_integer_labels(backend, axis):
    """SoftmaxCrossEntropyWithIntegerLabelsTest.test_axes (shape (2, 3, 4, 5))."""
    shape, ndim = (2, 3, 4, 5), 4
    class_axes = tuple(a % ndim for a in axis)
    batch = tuple(shape[i] for i in range(ndim) if i not in class_axes)
    rng = np.random.default_rng(len(axis))
    logits = rng.uniform(size=shape)
    labels = rng.integers(0, int(np.prod([shape[a] for a in class_axes])), size=batch)
    fn = optax.losses.softmax_cross_entropy_with_integer_labels
    expected, expected_grad = _optax_parts(fn, logits, labels, axis=axis)
    got, grad = _losskit_parts(backend, SCE, labels, logits, from_logits=True, axis=axis)
    _close(got, expected)
    _close(grad, expected_grad)


@pytest.mark.parametrize("axis", [(1, 2), (2, 1), (0, 2)])
def test_several_class_axes_of_soft_targets_and_a_where_mask(backend, axis):
    """optax's softmax_cross_entropy takes a tuple too (its log_softmax over both axes)."""
    rng = np.random.default_rng(7)
    shape = (3, 2, 4)
    logits = rng.normal(size=shape)
    where = rng.random(shape) > 0.3
    assert np.all(np.any(where, axis=axis))
    targets = np.where(where, rng.random(shape), 0.0)
    targets = targets / np.sum(targets, axis=axis, keepdims=True)
    expected, expected_grad = _optax_parts(optax.losses.softmax_cross_entropy, logits, targets,
                                           axis=axis, where=where)
    got, grad = _losskit_parts(backend, CE, targets, logits, from_logits=True, axis=axis,
                               where=where)
    _close(got, expected)
    _close(grad, expected_grad)


@pytest.mark.parametrize("size", [5, 10])
def test_optax_poly_loss_mask(backend, size):
    """PolyLossTest.test_mask, against optax's own masked number and gradient."""
    rng = np.random.default_rng(size)
    preds = rng.normal(size=(2, size))
    targets = rng.dirichlet(np.ones(size), size=2)
    mask = rng.integers(2, size=(2, size)).astype(bool)
    mask[:, 0] = True
    fn = optax.losses.poly_loss_cross_entropy
    expected, expected_grad = _optax_parts(fn, preds, targets, where=mask, epsilon=1.5)
    got, grad = _losskit_parts(backend, lk.poly_loss_cross_entropy, targets, preds,
                               where=mask, epsilon=1.5, convention="optax")
    _close(got, expected)
    _close(grad, expected_grad)


@pytest.mark.parametrize("axis", [0, 1, 2, (1, 2), (2, 0)])
def test_optax_poly_loss_axis(backend, axis):
    """PolyLossTest.test_axis, and a tuple of axes with a class mask."""
    rng = np.random.default_rng(3)
    shape = (4, 5, 6)
    preds = rng.normal(size=shape)
    axes = (axis,) if isinstance(axis, int) else axis
    where = rng.random(shape) > 0.3
    targets = np.where(where, rng.random(shape), 0.0)
    targets = targets / np.sum(targets, axis=axes, keepdims=True)
    fn = optax.losses.poly_loss_cross_entropy
    expected, expected_grad = _optax_parts(fn, preds, targets, axis=axis, where=where)
    got, grad = _losskit_parts(backend, lk.poly_loss_cross_entropy, targets, preds, axis=axis,
                               where=where)
    _close(got, expected)
    _close(grad, expected_grad)


# ------------------------------------------------------------- losskit's meaning of where=


def test_losskit_drops_masked_samples_from_the_mean_and_optax_keeps_their_zero():
    kept = float(CE(TS[:1], YS[:1], from_logits=True))
    assert float(CE(TS, YS, from_logits=True, where=MASK)) == pytest.approx(kept, rel=1e-15)
    assert float(CE(TS, YS, from_logits=True, where=MASK, convention="optax")) == \
        pytest.approx(kept / 2, rel=1e-15)
    where = np.array([[1, 1, 0], [0, 0, 0]], dtype=bool)
    assert float(SCE(LABELS, YS, from_logits=True, where=where)) == pytest.approx(
        float(SCE(LABELS[:1], YS[:1, :2], from_logits=True)), rel=1e-15)


def test_a_mean_over_no_sample_left_is_an_error_but_a_sum_is_zero():
    nothing = np.zeros((2, 3), dtype=bool)
    with pytest.raises(ValueError, match=r"categorical_cross_entropy: where leaves no sample.*"
                                         r"reduction='sum'"):
        CE(TS, YS, from_logits=True, where=nothing)
    assert float(CE(TS, YS, from_logits=True, where=nothing, reduction="sum")) == 0.0
    assert float(SCE(LABELS, YS, from_logits=True, where=nothing, convention="optax")) == 0.0
    np.testing.assert_array_equal(lk.gradient(SCE, LABELS, YS, from_logits=True,
                                              where=nothing, reduction="sum"), 0.0)


def test_a_label_on_a_masked_class_is_refused_unless_optax():
    with pytest.raises(ValueError, match=r"sparse_categorical_cross_entropy: y_true puts weight "
                                         r"on class 1 of sample 0, which where masks out. "
                                         r"Mask only classes a sample cannot take"):
        SCE(LABELS, YS, from_logits=True, where=MIXED_MASK)
    # optax's value there: logsumexp of the classes left minus the label's logit
    got = SCE(LABELS, YS, from_logits=True, where=MIXED_MASK, convention="optax",
              reduction="none")
    assert float(got[0]) == pytest.approx(np.logaddexp(10.0, -2.0) - 1.0, rel=1e-14)


def test_ignored_labels_on_masked_classes_are_not_refused():
    got = SCE([-100, 1], YS, from_logits=True, ignore_index=-100,
              where=np.array([[0, 1, 1], [1, 1, 1]], dtype=bool))
    assert float(got) == pytest.approx(float(SCE([1], YS[1:], from_logits=True)), rel=1e-15)


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_smoothing_with_a_class_mask_spreads_over_the_classes_left(smoothing):
    where = np.array([[1, 1, 0], [1, 1, 1]], dtype=bool)
    got = SCE(LABELS, YS, from_logits=True, where=where, label_smoothing=smoothing,
              reduction="none")
    _close(float(got[0]), float(SCE([1], YS[:1, :2], from_logits=True,
                                    label_smoothing=smoothing)))
    _close(float(got[1]), float(SCE([0], YS[1:], from_logits=True,
                                    label_smoothing=smoothing)))
    same = CE(np.eye(3)[LABELS], YS, from_logits=True, where=where, label_smoothing=smoothing,
              reduction="none")
    _close(same, got)
    z = torch.tensor(YS, requires_grad=True)
    SCE(torch.tensor(LABELS), z, from_logits=True, where=torch.tensor(where),
        label_smoothing=smoothing, class_weight=torch.tensor([1.0, 2.0, 0.5])).backward()
    _close(z.grad.numpy(), lk.gradient(SCE, LABELS, YS, from_logits=True, where=where,
                                       label_smoothing=smoothing,
                                       class_weight=[1.0, 2.0, 0.5]))


@pytest.mark.parametrize(("where", "error", "message"), [
    (np.ones((2, 3)), TypeError, r"where has dtype float64. Pass a boolean mask"),
    (np.ones((3,), dtype=bool), ValueError, r"where has shape \(3,\) but y_pred has 3 classes "
                                            r"and \(2,\) samples"),
])
def test_bad_masks_get_the_error_template(where, error, message):
    with pytest.raises(error, match=rf"categorical_cross_entropy: {message}"):
        CE(TS, YS, from_logits=True, where=where)


def test_a_class_mask_needs_logits():
    with pytest.raises(ValueError, match=r"categorical_cross_entropy: where masks classes of "
                                         r"probabilities. A class mask excludes logits"):
        CE(TS, np.full((2, 3), 1 / 3), where=PER_LOGIT_MASK)
    # a per-sample mask is fine with probabilities
    assert float(CE(TS, np.full((2, 3), 1 / 3), where=MASK)) == pytest.approx(np.log(3))


@pytest.mark.parametrize(("axis", "message"), [
    ((0, 3), r"axis is \(0, 3\) but y_pred has 2 dimension\(s\)"),
    ((1, -1), r"axis is \(1, -1\), which names one axis twice"),
])
def test_bad_class_axes_get_the_error_template(axis, message):
    with pytest.raises(ValueError, match=rf"sparse_categorical_cross_entropy: {message}"):
        SCE(LABELS, YS, from_logits=True, axis=axis)


def test_labels_for_several_axes_must_have_the_other_axes_shape():
    with pytest.raises(ValueError, match=r"y_true has shape \(2, 3\) but labels for y_pred of "
                                         r"shape \(2, 3, 4\) \(class axes \(1, 2\)\) need "
                                         r"shape \(2,\)"):
        SCE(np.zeros((2, 3), dtype=int), np.zeros((2, 3, 4)), from_logits=True, axis=(1, 2))


def test_several_class_axes_on_torch_tensors_do_not_take_the_native_kernel():
    z = np.random.default_rng(3).normal(size=(4, 2, 3))
    labels = np.array([0, 5, 3, 2])
    expected = float(SCE(labels, z.reshape(4, 6), from_logits=True))
    got = SCE(torch.tensor(labels), torch.tensor(z), from_logits=True, axis=(1, 2))
    assert float(got) == pytest.approx(expected, rel=1e-14)


# ---------------------------------------------------------- PyTorch's per-label BCE weight


def _bce_case(seed=0, shape=(5, 3)):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape), (rng.random(shape) > 0.5).astype(np.float64),
            rng.uniform(0.0, 2.0, size=shape[-1]))


@pytest.mark.parametrize("reduction", ["mean", "none", "sum"])
def test_label_weight_is_torchs_bce_with_logits_weight(backend, reduction):
    z, y, w = _bce_case()
    pos = np.array([2.0, 1.0, 0.5])
    module = torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(pos),
                                        reduction=reduction)
    zt = torch.tensor(z, requires_grad=True)
    theirs = module(zt, torch.tensor(y))
    options = {"from_logits": True, "label_weight": backend.asarray(w),
               "pos_weight": backend.asarray(pos), "convention": "torch"}
    got = _numpy(lk.binary_cross_entropy(backend.asarray(y), backend.asarray(z),
                                         reduction=reduction, **options))
    if reduction == "none":  # losskit's per-sample loss is the mean of the sample's labels
        _close(got, theirs.detach().numpy().mean(axis=-1))
        return
    k = 1 if reduction == "mean" else z.shape[-1]  # losskit sums per-sample means
    _close(got * k, float(theirs.detach()))
    theirs.backward()
    _close(_numpy(lk.gradient(lk.binary_cross_entropy, backend.asarray(y),
                              backend.asarray(z), reduction=reduction, **options)) * k,
           zt.grad.numpy())


def test_label_weight_from_probabilities_is_torchs_bce_loss_weight():
    z, y, w = _bce_case(1)
    p = 1 / (1 + np.exp(-z))
    per_entry = np.random.default_rng(2).uniform(size=p.shape)
    for weight in (w, per_entry):
        pt = torch.tensor(p, requires_grad=True)
        theirs = F.binary_cross_entropy(pt, torch.tensor(y), weight=torch.tensor(weight))
        theirs.backward()
        _close(float(lk.binary_cross_entropy(y, p, label_weight=weight, convention="torch")),
               float(theirs))
        _close(lk.gradient(lk.binary_cross_entropy, y, p, label_weight=weight,
                           convention="torch"), pt.grad.numpy())


def test_label_weight_is_not_sample_weight():
    z, y, _ = _bce_case(3, (4,))
    w = np.array([1.0, 0.0, 2.0, 1.0])
    theirs = float(F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y),
                                                      weight=torch.tensor(w)))
    by_label = float(lk.binary_cross_entropy(y, z, from_logits=True, label_weight=w))
    by_sample = float(lk.binary_cross_entropy(y, z, from_logits=True, sample_weight=w))
    assert by_label == pytest.approx(theirs, rel=1e-14)  # divided by n = 4
    assert by_sample == pytest.approx(theirs * len(w) / w.sum(), rel=1e-14)  # by sum(w)


@pytest.mark.parametrize(("weight", "error", "message"), [
    ([1.0, 2.0], ValueError, r"label_weight has shape \(2,\) but \(3,\) is needed"),
    ([1.0, -2.0, 1.0], ValueError, r"label_weight has values outside"),
])
def test_bad_label_weights_get_the_error_template(weight, error, message):
    z, y, _ = _bce_case()
    with pytest.raises(error, match=rf"binary_cross_entropy: {message}"):
        lk.binary_cross_entropy(y, z, from_logits=True, label_weight=weight)


# -------------------------------------------------------- Keras' axis= of the binary CE


@pytest.fixture(scope="module")
def keras():
    return keras_numpy()


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("from_logits", [False, True])
def test_keras_binary_crossentropy_axis(keras, backend, axis, from_logits):
    rng = np.random.default_rng(axis + 5)
    y = (rng.random((3, 4, 2)) > 0.5).astype(np.float32)
    raw = rng.normal(size=y.shape).astype(np.float32)
    p = raw if from_logits else 1 / (1 + np.exp(-raw))
    theirs = np.asarray(keras.losses.binary_crossentropy(y, p, from_logits=from_logits,
                                                         axis=axis, label_smoothing=0.1))
    got = _numpy(lk.binary_cross_entropy(backend.asarray(y), backend.asarray(p), axis=axis,
                                         from_logits=from_logits, label_smoothing=0.1,
                                         convention="keras", reduction="none"))
    np.testing.assert_allclose(got, theirs, rtol=2e-6, atol=1e-7)


def test_axis_moves_the_label_axis_and_its_weights(backend):
    rng = np.random.default_rng(11)
    z = rng.normal(size=(2, 3, 4))
    y = (rng.random(z.shape) > 0.5).astype(np.float64)
    w = np.array([0.5, 1.0, 2.0])
    options = {"from_logits": True, "label_weight": w, "pos_weight": w[::-1].copy()}
    moved = lk.binary_cross_entropy(np.moveaxis(y, 1, -1), np.moveaxis(z, 1, -1),
                                    reduction="none", **options)
    got, grad = _losskit_parts(backend, lk.binary_cross_entropy, y, z, axis=1, **options)
    _close(got, moved)
    _close(grad, np.moveaxis(lk.gradient(lk.binary_cross_entropy, np.moveaxis(y, 1, -1),
                                         np.moveaxis(z, 1, -1), **options), -1, 1))


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_a_label_axis_on_torch_tensors_does_not_take_the_native_kernel(reduction):
    z, y, _ = _bce_case(4, (2, 3, 5))
    expected = lk.binary_cross_entropy(y, z, from_logits=True, axis=1, reduction=reduction)
    got = lk.binary_cross_entropy(torch.tensor(y), torch.tensor(z), from_logits=True, axis=1,
                                  reduction=reduction)
    _close(_numpy(got), expected)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: axis is 3 but y_pred has 3 "
                                         r"dimension\(s\)"):
        lk.binary_cross_entropy(y, z, from_logits=True, axis=3)


# ------------------------------------------------------------------------- optax's dice losses


def _segmentation(seed, shape=(2, 4, 4, 3)):
    """optax's DiceLossTest inputs: normal logits and one-hot targets of random labels."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape)
    targets = np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    return logits, targets


DICE_CASES = {
    "default": ({}, {}),
    # test_class_weights
    "class_weights": ({"class_weights": np.array([1.0, 2.0, 0.5])},
                      {"class_weight": np.array([1.0, 2.0, 0.5])}),
    # test_ignore_background_parameter
    "ignore_background": ({"ignore_background": True}, {"ignore_background": True}),
    # test_smoothing_parameter
    "smooth_0": ({"smooth": 0.0}, {"eps": 0.0}),
    "smooth_10": ({"smooth": 10.0}, {"eps": 10.0}),
    "axis": ({"axis": (2,)}, {"axis": 2}),
}


@pytest.mark.parametrize("case", sorted(DICE_CASES))
def test_optax_dice_loss_cases(backend, case):
    theirs, ours = DICE_CASES[case]
    logits, targets = _segmentation(len(case))
    fn = optax.losses.dice_loss
    expected = np.asarray(fn(jnp.asarray(logits), jnp.asarray(targets), **theirs))
    expected_grad = np.asarray(jax.grad(lambda z: jnp.mean(fn(z, jnp.asarray(targets),
                                                              **theirs)))(jnp.asarray(logits)))
    if "class_weight" in ours:
        ours = {**ours, "class_weight": backend.asarray(ours["class_weight"])}
    got, grad = _losskit_parts(backend, lk.dice_loss, targets, logits, from_logits=True,
                               convention="optax", **ours)
    _close(np.reshape(got, expected.shape), expected)
    _close(np.reshape(grad, expected_grad.shape), expected_grad)


@pytest.mark.parametrize(("alpha", "beta"), [(0.3, 0.7), (0.5, 0.5), (0.9, 0.1)])
def test_optax_dice_weighting_parameters_are_tversky(backend, alpha, beta):
    """test_dice_loss_weighting_parameters: probabilities (apply_softmax=False)."""
    probs = np.array([[[0.1, 0.9], [0.8, 0.2]]])
    targets = np.array([[[0.0, 1.0], [1.0, 0.0]]])
    expected = np.asarray(optax.losses.dice_loss(jnp.asarray(probs), jnp.asarray(targets),
                                                 alpha=alpha, beta=beta, apply_softmax=False))
    got, grad = _losskit_parts(backend, lk.tversky_loss, targets, probs, alpha=alpha, beta=beta,
                               convention="optax")
    _close(got, expected)
    expected_grad = np.asarray(jax.grad(lambda p: jnp.mean(optax.losses.dice_loss(
        p, jnp.asarray(targets), alpha=alpha, beta=beta, apply_softmax=False)))(
        jnp.asarray(probs)))
    _close(grad, expected_grad)


@pytest.mark.parametrize("shape", [(4, 8, 8), (2, 3, 4, 4), (3, 5)])
def test_optax_binary_dice_loss_is_dice_with_a_class_axis_of_one(backend, shape):
    rng = np.random.default_rng(len(shape))
    logits = rng.normal(size=shape)
    targets = (rng.random(shape) > 0.5).astype(np.float64)
    fn = optax.losses.binary_dice_loss
    expected = np.asarray(fn(jnp.asarray(logits), jnp.asarray(targets)))
    expected_grad = np.asarray(jax.grad(lambda z: jnp.mean(fn(z, jnp.asarray(targets))))(
        jnp.asarray(logits)))
    got, grad = _losskit_parts(backend, lk.dice_loss, targets[..., None], logits[..., None],
                               from_logits=True, convention="optax")
    _close(got, expected)
    _close(grad[..., 0], expected_grad)


@pytest.mark.parametrize("ignore_background", [False, True])
def test_optax_multiclass_generalized_dice_loss(backend, ignore_background):
    """test_multiclass_generalized_dice_loss (imbalanced classes 0.8/0.15/0.05) and
    test_generalized_dice_loss_ignore_background."""
    rng = np.random.default_rng(21)
    logits = rng.normal(size=(4, 8, 8, 3))
    targets = np.eye(3)[rng.choice(3, size=(4, 8, 8), p=[0.8, 0.15, 0.05])]
    fn = optax.losses.multiclass_generalized_dice_loss
    expected = float(fn(jnp.asarray(logits), jnp.asarray(targets),
                        ignore_background=ignore_background))
    expected_grad = np.asarray(jax.grad(lambda z: fn(z, jnp.asarray(targets),
                                                     ignore_background=ignore_background))(
        jnp.asarray(logits)))
    got, grad = _losskit_parts(backend, lk.generalized_dice_loss, targets, logits,
                               from_logits=True, ignore_background=ignore_background)
    _close(float(np.mean(got)), expected)
    _close(grad, expected_grad)
    # not the plain Dice loss (the weighting matters here)
    assert abs(expected - float(lk.dice_loss(targets, logits, from_logits=True,
                                             convention="optax"))) > 1e-3


def test_per_class_options_need_optax_and_bad_ones_get_the_error_template():
    logits, targets = _segmentation(0)
    with pytest.raises(ValueError, match=r"dice_loss: class_weight is given with "
                                         r"convention='losskit'.*Pass convention='optax'"):
        lk.dice_loss(targets, logits, from_logits=True, class_weight=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"tversky_loss: ignore_background is given"):
        lk.tversky_loss(targets, logits, from_logits=True, ignore_background=True)
    with pytest.raises(ValueError, match=r"dice_loss: class_weight has shape \(2,\) but \(3,\)"):
        lk.dice_loss(targets, logits, from_logits=True, class_weight=[1.0, 1.0],
                     convention="optax")
    with pytest.raises(ValueError, match=r"dice_loss: y_pred has 1 dimension, but "
                                         r"convention='optax' takes the last axis"):
        lk.dice_loss([1.0, 0.0], [0.5, 0.5], convention="optax")
    with pytest.raises(ValueError, match=r"dice_loss: axis is -1 but y_pred has 4 dimension"):
        lk.dice_loss(targets, logits, from_logits=True, axis=-1, convention="optax")
    with pytest.raises(ValueError, match=r"dice_loss: y_pred has values outside \[0, 1\].*"
                                         r"or logits with from_logits=True"):
        lk.dice_loss(targets, logits)


def test_dice_from_logits_takes_the_sigmoid_of_each_entry_under_losskit(backend):
    rng = np.random.default_rng(9)
    z = rng.normal(size=(3, 6))
    y = (rng.random(z.shape) > 0.5).astype(np.float64)
    p = 1 / (1 + np.exp(-z))
    for fn, options in ((lk.dice_loss, {}), (lk.tversky_loss, {"alpha": 0.3, "beta": 0.7})):
        got, grad = _losskit_parts(backend, fn, y, z, from_logits=True, **options)
        _close(got, fn(y, p, reduction="none", **options))
        _close(grad, lk.gradient(fn, y, p, **options) * p * (1 - p))


# ------------------------------------------------------ hyperparameters as (traced) arrays

P0 = np.array([[1.0, 0.0, 0.0], [0.3, 0.6, 0.1]])  # exact 0s and 1s: the eps = 0 edge
HYPER = [
    # the clipping bound, traced (was: a TracerBoolConversionError from `eps == 0`)
    ("binary_cross_entropy", TS, P0, {}, "eps", 0.0),
    ("binary_cross_entropy", TS, P0, {}, "eps", 1e-3),
    ("categorical_cross_entropy", TS, P0, {}, "eps", 0.0),
    ("categorical_cross_entropy", TS, P0, {}, "eps", 1e-3),
    ("sparse_categorical_cross_entropy", LABELS, P0, {}, "eps", 0.0),
    ("sparse_categorical_cross_entropy", LABELS, P0, {}, "eps", 1e-3),
    # label smoothing with a class mask
    ("sparse_categorical_cross_entropy", LABELS, YS,
     {"from_logits": True, "where": MIXED_MASK, "convention": "optax"}, "label_smoothing", 0.1),
    ("categorical_cross_entropy", TS, YS,
     {"from_logits": True, "where": MIXED_MASK, "convention": "optax"}, "label_smoothing", 0.2),
    # optax's ArrayLike smooth, alpha, beta of its dice_loss
    ("dice_loss", *_segmentation(1)[::-1], {"from_logits": True, "convention": "optax"},
     "eps", 0.5),
    ("tversky_loss", *_segmentation(2)[::-1], {"from_logits": True, "convention": "optax"},
     "alpha", 0.3),
    ("tversky_loss", *_segmentation(3)[::-1], {"from_logits": True, "convention": "optax"},
     "beta", 0.7),
    ("tversky_loss", *_segmentation(4)[::-1], {"from_logits": True}, "alpha", 0.3),
    ("poly_loss_cross_entropy", TS, YS, {}, "epsilon", 1.5),
]


@pytest.fixture(scope="module")
def traced_hyperparameters():
    """Each case's value and its gradients (hyperparameter and y_pred), from one jitted
    function whose arguments are the hyperparameters (so they are traced)."""

    def results(values):
        out = []
        for (name, y, raw, options, option, _), h in zip(HYPER, values, strict=True):
            fn = getattr(lk, name)

            def loss(h, q, fn=fn, y=y, options=options, option=option):
                return fn(y, q, **options, **{option: h})

            q = jnp.asarray(raw)
            out.append((loss(h, q), jax.grad(loss)(h, q), jax.grad(loss, 1)(h, q)))
        return out

    return jax.jit(results)([jnp.asarray(case[-1]) for case in HYPER])


@pytest.mark.parametrize("index", range(len(HYPER)),
                         ids=[f"{c[0]}-{c[4]}-{c[5]}" for c in HYPER])
def test_hyperparameters_may_be_traced(index, traced_hyperparameters):
    name, y, raw, options, option, value = HYPER[index]
    fn = getattr(lk, name)
    value_got, slope_got, grad_got = traced_hyperparameters[index]
    _close(float(value_got), float(fn(y, raw, **options, **{option: value})))
    _close(np.asarray(grad_got), lk.gradient(fn, y, raw, **options, **{option: value}))
    if option == "eps" and value == 0.0:
        return  # one-sided: eps >= 0
    step = 1e-3 * value
    slope = (float(fn(y, raw, **options, **{option: value + step}))
             - float(fn(y, raw, **options, **{option: value - step}))) / (2 * step)
    np.testing.assert_allclose(float(slope_got), slope, rtol=1e-5, atol=1e-10)


# ------------------------------------------------------ Keras' axis= of the binary focal loss
# Keras' losses_test.py (BinaryFocalCrossentropyTest) has no case with axis: its own inputs
# (test_unweighted, test_sample_weighted) are laid out along each axis and compared with
# keras.losses.binary_focal_crossentropy(..., axis=) and BinaryFocalCrossentropy(axis=).

FOCAL = lk.binary_focal_loss
#: BinaryFocalCrossentropyTest.test_unweighted: the probability and the logit case
FOCAL_PROBABILITIES = (np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.9, 0.8], [0.7, 0.2]]),
                       2.0)
FOCAL_LOGITS = (np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]),
                np.array([[1.5, -2.7, 2.9], [-3.8, 1.2, -4.5]]), 3.0)


def _focal_case(from_logits, three_d):
    y, x, gamma = FOCAL_LOGITS if from_logits else FOCAL_PROBABILITIES
    if three_d:  # the case twice, along a new last axis
        rng = np.random.default_rng(7)
        y = np.stack([y, 1.0 - y], axis=-1)
        x = np.stack([x, rng.normal(size=x.shape) if from_logits
                      else rng.uniform(0.05, 0.95, size=x.shape)], axis=-1)
    return y.astype(np.float32), x.astype(np.float32), gamma


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("three_d", [False, True])
@pytest.mark.parametrize("alpha", [None, 0.3])
def test_keras_binary_focal_crossentropy_axis(keras, backend, axis, from_logits, three_d,
                                              alpha):
    y, x, gamma = _focal_case(from_logits, three_d)
    options = {} if alpha is None else {"apply_class_balancing": True, "alpha": alpha}
    theirs = np.asarray(keras.losses.binary_focal_crossentropy(
        y, x, from_logits=from_logits, gamma=gamma, axis=axis, label_smoothing=0.1, **options))
    got = _numpy(FOCAL(backend.asarray(y), backend.asarray(x), gamma=gamma, alpha=alpha,
                       axis=axis, from_logits=from_logits, label_smoothing=0.1,
                       convention="keras", reduction="none"))
    np.testing.assert_allclose(got, theirs, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_keras_binary_focal_crossentropy_axis_with_sample_weight(keras, backend, axis):
    # BinaryFocalCrossentropyTest.test_sample_weighted's weights, one per sample
    y, z, gamma = _focal_case(True, three_d=True)
    samples = tuple(s for i, s in enumerate(y.shape) if i != axis % y.ndim)
    w = np.linspace(1.2, 3.4, math.prod(samples)).reshape(samples).astype(np.float32)
    loss = keras.losses.BinaryFocalCrossentropy(gamma=gamma, from_logits=True, axis=axis)
    theirs = float(loss(y, z, sample_weight=w))
    got = float(FOCAL(backend.asarray(y), backend.asarray(z), gamma=gamma, from_logits=True,
                      axis=axis, sample_weight=backend.asarray(w), convention="keras"))
    assert got == pytest.approx(theirs, rel=2e-6)


def _torch_focal(y, z, axis, gamma, alpha):
    """The focal loss from logits written out in torch (autograd's reference): the mean over
    the label ``axis`` of alpha_t (1 - p_t)^gamma BCE, then over the samples."""
    p = torch.sigmoid(z)
    bce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    p_t = y * p + (1 - y) * (1 - p)
    balance = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return (balance * (1 - p_t) ** gamma * bce).mean(dim=axis).mean()


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_binary_focal_axis_gradient_is_torch_autograd(backend, axis, alpha):
    rng = np.random.default_rng(axis + 3)
    z = rng.normal(scale=2.0, size=(3, 4, 2))
    y = (rng.random(z.shape) > 0.5).astype(np.float64)
    options = {"from_logits": True, "gamma": 2.0, "alpha": alpha}
    zt = torch.tensor(z, requires_grad=True)
    _torch_focal(torch.tensor(y), zt, axis, 2.0, alpha).backward()
    values, grad = _losskit_parts(backend, FOCAL, y, z, axis=axis, **options)
    _close(grad, zt.grad.numpy())
    # and the same as moving the label axis last
    moved = FOCAL(np.moveaxis(y, axis, -1), np.moveaxis(z, axis, -1), reduction="none",
                  **options)
    _close(values, moved)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_binary_focal_axis_gradient_from_probabilities(backend, axis):
    rng = np.random.default_rng(axis + 13)
    p = rng.uniform(0.05, 0.95, size=(3, 2, 4))
    y = rng.random(p.shape)  # soft targets
    values, grad = _losskit_parts(backend, FOCAL, y, p, axis=axis, gamma=1.5, alpha=0.4)
    pt = torch.tensor(p, requires_grad=True)
    yt = torch.tensor(y)
    bce = F.binary_cross_entropy(pt, yt, reduction="none")
    miss = yt * (1 - pt) + (1 - yt) * pt
    balance = 0.4 * yt + 0.6 * (1 - yt)
    per_sample = (balance * miss ** 1.5 * bce).mean(dim=axis)
    per_sample.mean().backward()
    _close(values, per_sample.detach().numpy())
    _close(grad, pt.grad.numpy())


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_a_focal_label_axis_on_torch_tensors_does_not_take_the_native_kernel(keras, reduction):
    # hard labels from logits: the native kernel's case, which averages the last axis only
    # (axis 0 of length 3, the last of 2: the native kernel's sum would differ too)
    y, z, gamma = (np.ascontiguousarray(a.transpose(1, 0, 2)) if i < 2 else a
                   for i, a in enumerate(_focal_case(True, three_d=True)))
    theirs = np.asarray(keras.losses.binary_focal_crossentropy(y, z, from_logits=True,
                                                               gamma=gamma, axis=0))
    expected = {"none": theirs, "sum": theirs.sum(), "mean": theirs.mean()}[reduction]
    got = FOCAL(torch.tensor(y), torch.tensor(z), from_logits=True, gamma=gamma, axis=0,
                reduction=reduction)
    np.testing.assert_allclose(_numpy(got), expected, rtol=2e-6, atol=1e-7)
    # the last axis named explicitly may take it: the same numbers as the default
    last = FOCAL(torch.tensor(y), torch.tensor(z), from_logits=True, gamma=gamma, axis=2,
                 reduction=reduction)
    _close(_numpy(last), _numpy(FOCAL(torch.tensor(y), torch.tensor(z), from_logits=True,
                                      gamma=gamma, reduction=reduction)), rtol=1e-6)


@pytest.mark.parametrize(("axis", "error", "message"), [
    (3, ValueError, r"axis is 3 but y_pred has 3 dimension\(s\)"),
    (-4, ValueError, r"axis is -4 but y_pred has 3 dimension\(s\)"),
    (1.0, TypeError, r"axis"),
    ("0", TypeError, r"axis"),
])
def test_bad_focal_axes_get_the_error_template(axis, error, message):
    y, z, _ = _focal_case(True, three_d=True)
    with pytest.raises(error, match=rf"binary_focal_loss: {message}"):
        FOCAL(y, z, from_logits=True, axis=axis)


# ------------------------------------------------------------ optax's where= of kl_divergence
# optax/losses/_classification_test.py KLDivergenceTest.test_mask (sizes 5 and 10: the
# divergence over the entries kept) with optax's log-predictions the masked log-softmax of
# logits, as losskit's from_logits=True computes them.

KL = lk.kl_divergence


def _kl_case(size, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(2, size))
    p = rng.dirichlet(np.ones(size), size=2)
    mask = rng.integers(0, 2, size=(2, size)).astype(bool)
    mask[:, 0] = True  # a class left in each row
    return z, p, mask


def _optax_kl(z, p, where):
    return optax.losses.kl_divergence(jax.nn.log_softmax(z, where=where), p, where=where)


@pytest.mark.parametrize("size", [5, 10])
def test_optax_kl_divergence_where_mask(backend, size):
    z, p, mask = _kl_case(size, size)
    theirs, their_grad = _optax_parts(lambda q, t: _optax_kl(q, t, jnp.asarray(mask)), z, p)
    got, grad = _losskit_parts(backend, KL, p, z, from_logits=True, where=mask,
                               convention="optax")
    _close(got, theirs)
    _close(grad, their_grad)
    # optax's own identity: the divergence over the entries kept (targets as given)
    for row in range(2):
        kept = mask[row]
        _close(float(got[row]), float(KL(p[row, kept], z[row, kept], from_logits=True,
                                         convention="optax", check_values=False)))


@pytest.mark.parametrize("size", [5, 10])
def test_kl_where_is_the_divergence_over_the_classes_left(backend, size):
    z, p, mask = _kl_case(size, size + 1)
    p = np.where(mask, p, 0.0)
    p /= p.sum(axis=-1, keepdims=True)  # no target on a masked class
    got, grad = _losskit_parts(backend, KL, p, z, from_logits=True, where=mask)
    for row in range(2):
        kept = mask[row]
        _close(float(got[row]), float(KL(p[row, kept], z[row, kept], from_logits=True)))
        _close(grad[row, kept], lk.gradient(KL, p[row, kept], z[row, kept],
                                            from_logits=True) / 2)
    np.testing.assert_array_equal(grad[~mask], 0.0)


def test_kl_where_refuses_a_target_on_a_masked_class_unless_optax():
    z, p, mask = _kl_case(5, 3)
    with pytest.raises(ValueError, match=r"kl_divergence: y_true puts weight on class \d of "
                                         r"sample \d, which where masks out"):
        KL(p, z, from_logits=True, where=mask)
    assert np.isfinite(float(KL(p, z, from_logits=True, where=mask, convention="optax")))


@pytest.mark.parametrize("from_logits", [False, True])
def test_kl_where_per_sample_drops_samples_and_optax_keeps_their_zero(backend, from_logits):
    z, p, _ = _kl_case(4, 9)
    x = z if from_logits else np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    keep = np.array([True, False])
    kept = float(KL(p[:1], x[:1], from_logits=from_logits))
    got = _numpy(KL(backend.asarray(p), backend.asarray(x), from_logits=from_logits,
                    where=backend.asarray(keep)))
    assert float(got) == pytest.approx(kept, rel=1e-12)
    optax_mean = KL(p, x, from_logits=from_logits, where=keep, convention="optax")
    assert float(optax_mean) == pytest.approx(kept / 2, rel=1e-12)
    grad = _numpy(lk.gradient(KL, backend.asarray(p), backend.asarray(x),
                              from_logits=from_logits, where=backend.asarray(keep)))
    _close(grad[0], lk.gradient(KL, p[:1], x[:1], from_logits=from_logits)[0])
    np.testing.assert_array_equal(grad[1], 0.0)
    if backend.name == "torch":  # autograd through the value
        xt = torch.tensor(x, requires_grad=True)
        KL(torch.tensor(p), xt, from_logits=from_logits, where=torch.tensor(keep)).backward()
        _close(xt.grad.numpy(), grad)


@pytest.mark.parametrize(("where", "error", "message"), [
    (np.ones((2, 5)), TypeError, r"where has dtype float64. Pass a boolean mask"),
    (np.ones((5,), dtype=bool), ValueError, r"where has shape \(5,\) but y_pred has 5 "
                                            r"classes and \(2,\) samples"),
])
def test_bad_kl_masks_get_the_error_template(where, error, message):
    z, p, _ = _kl_case(5, 1)
    with pytest.raises(error, match=rf"kl_divergence: {message}"):
        KL(p, z, from_logits=True, where=where)


def test_a_kl_class_mask_needs_logits():
    z, p, mask = _kl_case(5, 2)
    with pytest.raises(ValueError, match=r"kl_divergence: where masks classes of probabilities"):
        KL(p, np.full((2, 5), 0.2), where=mask)
    # the where of each sample on torch tensors leaves the native kernel to the generic path
    got = KL(torch.tensor(p), torch.tensor(z), from_logits=True, where=torch.tensor(mask),
             convention="optax", reduction="none")
    _close(_numpy(got), np.asarray(_optax_kl(jnp.asarray(z), jnp.asarray(p),
                                             jnp.asarray(mask))))
