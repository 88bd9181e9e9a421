"""ctc_loss (issue 15) against the frameworks: PyTorch's ``F.ctc_loss`` on random and edge
inputs and on the inputs of its own tests (``torch/testing/_internal``: the OpInfo samples of
``sample_inputs_ctc_loss`` and the ``CTCLoss`` module inputs of ``common_modules``), Keras 3's
``CTCTest`` (``keras/src/losses/losses_test.py``) and ``keras.ops.ctc_loss``, optax's
``CTCTest`` (``optax/losses/_classification_test.py``) and ``optax.ctc_loss``; gradients
against autograd and finite differences; and a brute-force sum over every alignment."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import losskit as lk
from formulas import central_difference
from references import keras_numpy

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _torch_ctc(log_probs, targets, input_lengths, target_lengths, **options):
    """``F.ctc_loss`` on float64 NumPy inputs, as NumPy."""
    return F.ctc_loss(torch.tensor(log_probs), torch.as_tensor(targets),
                      torch.as_tensor(input_lengths), torch.as_tensor(target_lengths),
                      **options).numpy()


def _log_probs(rng, shape):
    return special.log_softmax(rng.normal(size=shape) * 2.0, axis=-1)


def _brute_force(labels, log_p, blank=0):
    """−log Σ over every path of the frames that collapses to ``labels`` (one sequence)."""
    frames, classes = log_p.shape
    total = -math.inf
    for path in itertools.product(range(classes), repeat=frames):
        merged = [c for t, c in enumerate(path) if t == 0 or c != path[t - 1]]
        if [c for c in merged if c != blank] == list(labels):
            total = np.logaddexp(total, sum(log_p[t, c] for t, c in enumerate(path)))
    return -total


# ------------------------------------------------------------------------------ PyTorch


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("concatenated", [False, True])
def test_random_batches_match_torch(reduction, concatenated):
    rng = np.random.default_rng(0)
    frames, n, classes, width = 12, 6, 5, 4
    lp = _log_probs(rng, (frames, n, classes))
    targets = rng.integers(1, classes, size=(n, width))
    targets[0, 1] = targets[0, 0]  # a repeat that needs a blank between
    input_lengths = np.array([12, 11, 9, 5, 12, 1])
    target_lengths = np.array([4, 3, 0, 2, 1, 1])
    y = (np.concatenate([targets[i, :k] for i, k in enumerate(target_lengths)])
         if concatenated else targets)
    expected = _torch_ctc(lp, y, input_lengths, target_lengths, reduction=reduction)
    for lengths in ((input_lengths, target_lengths),
                    (tuple(input_lengths.tolist()), list(target_lengths.tolist()))):
        got = lk.ctc_loss(y, lp, input_lengths=lengths[0], target_lengths=lengths[1],
                          reduction=reduction, convention="torch")
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # on PyTorch tensors, in float32 as well
    for dtype in (torch.float64, torch.float32):
        got = lk.ctc_loss(torch.as_tensor(y), torch.tensor(lp, dtype=dtype),
                          input_lengths=torch.as_tensor(input_lengths),
                          target_lengths=torch.as_tensor(target_lengths),
                          reduction=reduction, convention="torch")
        assert got.dtype == dtype
        np.testing.assert_allclose(got.double().numpy(), expected,
                                   rtol=1e-12 if dtype == torch.float64 else 2e-5)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("zero_infinity", [True, False])
def test_torch_opinfo_samples(reduction, zero_infinity):
    # sample_inputs_ctc_loss: (50, 16, 20) log-probabilities, targets (16, 30) in [1, 20),
    # all 50 frames, target lengths in [10, 30)
    gen = torch.Generator().manual_seed(0)
    lp = torch.rand((50, 16, 20), generator=gen, dtype=torch.float64).mul(18).sub(9)
    lp = lp.log_softmax(2)
    targets = torch.randint(1, 20, (16, 30), generator=gen)
    input_lengths = torch.full((16,), 50)
    target_lengths = torch.randint(10, 30, (16,), generator=gen)
    expected = F.ctc_loss(lp, targets, input_lengths, target_lengths, reduction=reduction,
                          zero_infinity=zero_infinity)
    got = lk.ctc_loss(targets, lp, input_lengths=input_lengths, target_lengths=target_lengths,
                      reduction=reduction, zero_infinity=zero_infinity, convention="torch")
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("target_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("options", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                     {"blank": 14}])
@pytest.mark.parametrize("concatenated", [False, True])
def test_torch_module_inputs(target_dtype, options, concatenated):
    # module_inputs_torch_nn_CTCLoss: (50, 3, 15), targets in [1, 15) (blank 14: [0, 14)),
    # input lengths (50, 50, 50), target lengths (30, 25, 20), padded or concatenated
    gen = torch.Generator().manual_seed(1)
    blank = options.get("blank", 0)
    low, high = (0, 14) if blank == 14 else (1, 15)
    lp = torch.rand((50, 3, 15), generator=gen, dtype=torch.float64).mul(18).sub(9)
    lp = lp.log_softmax(2)
    targets = torch.randint(low, high, (75,) if concatenated else (3, 30), generator=gen,
                            dtype=target_dtype)
    lengths = ((50, 50, 50), (30, 25, 20))
    expected = F.ctc_loss(lp, targets, *lengths, **options)
    got = lk.ctc_loss(targets, lp, input_lengths=lengths[0], target_lengths=lengths[1],
                      convention="torch", **options)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_edge_cases_match_torch():
    rng = np.random.default_rng(3)
    classes = 4
    cases = [  # (frames, targets, input length, target length)
        (1, [2], 1, 1),            # one frame, one label
        (1, [0], 1, 0),            # one frame, empty target: the blank's probability
        (5, [0, 0], 5, 0),         # empty target over many frames
        (3, [2, 2], 3, 2),         # a repeat: 2 ∅ 2 is the only alignment
        (4, [1, 1, 1], 4, 3),      # more repeats than frames allow: impossible
        (4, [1, 2, 3], 2, 3),      # fewer frames than labels: impossible
        (3, [1, 2], 0, 0),         # no frames, no labels: log 1
        (3, [1, 2], 0, 1),         # no frames, one label: impossible
    ]
    for frames, target, t_len, s_len in cases:
        lp = _log_probs(rng, (frames, 1, classes))
        y = np.array([target])
        for zero_infinity in (False, True):
            expected = _torch_ctc(lp, y, [t_len], [s_len], reduction="none",
                                  zero_infinity=zero_infinity)
            got = lk.ctc_loss(y, lp, input_lengths=[t_len], target_lengths=[s_len],
                              reduction="none", zero_infinity=zero_infinity,
                              convention="torch")
            np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
            assert not np.any(np.isnan(got))


def test_unbatched_sequence_as_torch():
    rng = np.random.default_rng(4)
    lp = _log_probs(rng, (6, 5))
    expected = _torch_ctc(lp, [1, 3, 3], 6, 3, reduction="none")
    for lengths, pred in ((([6], [3]), lp), ((6, 3), lp),
                          ((torch.tensor(6), torch.tensor(3)), torch.tensor(lp))):  # as PyTorch
        got = lk.ctc_loss(np.array([1, 3, 3]), pred, input_lengths=lengths[0],
                          target_lengths=lengths[1], reduction="none", convention="torch")
        assert tuple(got.shape) == expected.shape == ()
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12)
    grad = lk.gradient(lk.ctc_loss, np.array([1, 3, 3]), lp, input_lengths=[6],
                       target_lengths=[3], convention="torch")
    assert grad.shape == lp.shape


def test_impossible_alignments_are_refused_or_inf_as_the_convention_says():
    lp = np.log(np.full((2, 1, 3), 1 / 3))
    y = np.array([[1, 1]])  # needs 1 ∅ 1: three frames
    with pytest.raises(ValueError, match=r"^ctc_loss: y_pred has no alignment with the target "
                       r"of sequence 0 .*zero_infinity=True"):
        lk.ctc_loss(y, np.zeros((1, 2, 3)))
    assert lk.ctc_loss(y, np.zeros((1, 2, 3)), check_values=False) == math.inf
    assert lk.ctc_loss(y, np.zeros((1, 2, 3)), zero_infinity=True) == 0.0
    assert lk.gradient(lk.ctc_loss, y, np.zeros((1, 2, 3)), zero_infinity=True).tolist() == \
        np.zeros((1, 2, 3)).tolist()
    # PyTorch returns inf (its mean too); losskit under convention="torch" as well
    assert _torch_ctc(lp, y, [2], [2]) == math.inf
    assert lk.ctc_loss(y, lp, target_lengths=[2], convention="torch") == math.inf
    # an impossible sequence beside a possible one: the possible one's gradient is unchanged
    z = np.random.default_rng(5).normal(size=(2, 2, 3))
    both = lk.gradient(lk.ctc_loss, np.array([[1, 1], [1, -1]]), z, zero_infinity=True,
                       reduction="sum")
    alone = lk.gradient(lk.ctc_loss, np.array([[1, -1]]), z[1:], reduction="sum")
    np.testing.assert_array_equal(both[0], 0.0)
    np.testing.assert_allclose(both[1:], alone, rtol=1e-12)


# ------------------------------------------------------------------------------ gradients


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_torch_autograd_through_log_softmax(reduction):
    rng = np.random.default_rng(6)
    n, frames, classes = 4, 7, 5
    z = rng.normal(size=(n, frames, classes))
    targets = np.array([[1, 2, 2], [3, 4, 0], [1, 0, 0], [0, 0, 0]])
    input_lengths, target_lengths = np.array([7, 6, 3, 4]), np.array([3, 2, 1, 0])
    x = torch.tensor(z, requires_grad=True)
    F.ctc_loss(x.log_softmax(-1).transpose(0, 1), torch.tensor(targets),
               torch.tensor(input_lengths), torch.tensor(target_lengths),
               reduction=reduction).backward()
    # losskit's own layout: batch-major raw scores (reduction="mean" is the plain mean there)
    options = {"input_lengths": input_lengths, "target_lengths": target_lengths}
    if reduction == "mean":
        scaled = lk.gradient(lk.ctc_loss, targets, z, reduction="none", **options)
        scaled = scaled / np.maximum(target_lengths, 1)[:, None, None] / n
    else:
        scaled = lk.gradient(lk.ctc_loss, targets, z, reduction="sum", **options)
    np.testing.assert_allclose(scaled, x.grad.numpy(), rtol=1e-10, atol=1e-13)
    # convention="torch" with from_logits=True: the time-major scores, PyTorch's mean
    zt = np.ascontiguousarray(z.transpose(1, 0, 2))
    grad = lk.gradient(lk.ctc_loss, targets, zt, from_logits=True, reduction=reduction,
                       convention="torch", **options)
    np.testing.assert_allclose(grad.transpose(1, 0, 2), x.grad.numpy(), rtol=1e-10,
                               atol=1e-13)


def test_gradient_with_respect_to_log_probabilities():
    # losskit's is the partial derivative −γ (what autograd of the same maths gives);
    # PyTorch's kernel returns p − γ, the logits' gradient: the two agree through log_softmax
    rng = np.random.default_rng(7)
    lp = _log_probs(rng, (6, 2, 4))
    targets, lengths = np.array([[1, 2], [3, 3]]), ([6, 6], [2, 2])
    options = {"input_lengths": lengths[0], "target_lengths": lengths[1],
               "convention": "torch", "reduction": "sum"}
    analytic = lk.gradient(lk.ctc_loss, targets, lp, **options)
    x = torch.tensor(lp, requires_grad=True)
    lk.ctc_loss(torch.tensor(targets), x, **options).backward()
    np.testing.assert_allclose(analytic, x.grad.numpy(), rtol=1e-10, atol=1e-13)
    theirs = torch.tensor(lp, requires_grad=True)
    F.ctc_loss(theirs, torch.tensor(targets), *lengths, reduction="sum").backward()
    np.testing.assert_allclose(np.exp(lp) + analytic, theirs.grad.numpy(), rtol=1e-10,
                               atol=1e-13)
    # −γ is the partial derivative: finite differences of the unnormalised log-probabilities
    # (check_values=False computes with them as given, as PyTorch does)
    numeric = central_difference(
        lambda q: np.array([float(lk.ctc_loss(targets, q[0], check_values=False, **options))]),
        lp[None])[0]
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("from_logits", [True, False])
def test_gradient_agrees_with_finite_differences(from_logits):
    rng = np.random.default_rng(8)
    z = rng.normal(size=(3, 5, 4))
    pred = z if from_logits else special.softmax(z, axis=-1)
    y = np.array([[1, 1, -1], [2, 3, 1], [-1, -1, -1]])
    options = {"from_logits": from_logits, "input_lengths": [5, 5, 2]}
    analytic = lk.gradient(lk.ctc_loss, y, pred, reduction="sum", **options)
    numeric = np.zeros_like(pred)
    h = 1e-6
    for index in np.ndindex(*pred.shape):
        step = np.zeros_like(pred)
        step[index] = h
        numeric[index] = (lk.ctc_loss(y, pred + step, reduction="sum", check_values=False,
                                      **options)
                          - lk.ctc_loss(y, pred - step, reduction="sum", check_values=False,
                                        **options)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)
    assert np.all(analytic[2, 2:] == 0.0)  # frames after the input length


def test_every_backend_gives_numpys_value_and_gradient(backend):
    rng = np.random.default_rng(9)
    z = rng.normal(size=(3, 6, 4))
    y = np.array([[1, 2, 2], [3, -1, -1], [2, 1, -1]])
    lengths = np.array([6, 4, 5])
    expected = lk.value_and_gradient(lk.ctc_loss, y, z, input_lengths=lengths)
    value, grad = lk.value_and_gradient(lk.ctc_loss, backend.asarray(y), backend.asarray(z),
                                        input_lengths=backend.asarray(lengths))
    assert backend.is_native(value) and backend.is_native(grad)
    np.testing.assert_allclose(backend.to_numpy(value), expected[0], rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(grad), expected[1], rtol=1e-10, atol=1e-14)


def test_jax_autograd_equals_the_analytic_gradient():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(10)
    z = rng.normal(size=(2, 5, 3))
    y = np.array([[1, 2], [2, 2]])
    auto = jax.grad(lambda q: lk.ctc_loss(jax.numpy.asarray(y), q))(jax.numpy.asarray(z))
    np.testing.assert_allclose(np.asarray(auto), lk.gradient(lk.ctc_loss, y, z), rtol=1e-10,
                               atol=1e-14)
    # under jit, with the lengths traced too (the checks are skipped: the traced-code rule)
    lengths = np.array([5, 3])

    @jax.jit
    def step(q, t, lens):
        return jax.value_and_grad(lambda r: lk.ctc_loss(t, r, input_lengths=lens))(q)

    value, grad = step(jax.numpy.asarray(z), jax.numpy.asarray(y), jax.numpy.asarray(lengths))
    expected = lk.value_and_gradient(lk.ctc_loss, y, z, input_lengths=lengths)
    np.testing.assert_allclose(float(value), expected[0], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(grad), expected[1], rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------------------------ Keras


@pytest.fixture(scope="module")
def keras():
    return keras_numpy()


def test_keras_ctc_test_correctness(keras):
    # CTCTest.test_correctness: its second target has the blank (0) inside it (3 non-blank
    # entries, so its first three labels 1, 2, 0 are used): losskit refuses that target, and
    # with check_values=False computes what Keras computes
    logits = (np.arange(24).reshape((2, 4, 3)).astype("float32") - 12) / 100
    y_true = np.array([[1, 2, 1, 0], [1, 2, 0, 2]])
    got = lk.ctc_loss(y_true, logits, convention="keras", check_values=False)
    np.testing.assert_allclose(got, 2.448645, rtol=1e-6)
    np.testing.assert_allclose(got, keras.losses.CTC()(y_true, logits), rtol=1e-6)
    with pytest.raises(ValueError, match=r"^ctc_loss: y_true has the blank \(0\) as a label "
                                         r"at \(1, 2\)"):
        lk.ctc_loss(y_true, logits, convention="keras")
    # the first target alone is valid: no check_values needed
    np.testing.assert_allclose(
        lk.ctc_loss(y_true[:1], logits[:1], convention="keras"),
        keras.losses.CTC()(y_true[:1], logits[:1]), rtol=1e-6)


def test_keras_random_batches_with_weights_and_ops_lengths(keras):
    rng = np.random.default_rng(11)
    n, frames, classes = 5, 8, 6
    logits = rng.normal(size=(n, frames, classes)).astype("float32")
    y = rng.integers(1, classes, size=(n, 4))
    y[:, 3] = 0
    y[2, 1:] = 0  # padded with the blank, Keras' way
    w = np.array([1.0, 0.5, 2.0, 0.0, 1.5], dtype="float32")
    for reduction, theirs in (("mean", "sum_over_batch_size"), ("sum", "sum"),
                              ("none", None)):
        expected = keras.losses.CTC(reduction=theirs)(y, logits, sample_weight=w)
        got = lk.ctc_loss(y, logits, sample_weight=w, reduction=reduction, convention="keras")
        np.testing.assert_allclose(got, expected, rtol=2e-6)
    # keras.ops.ctc_loss(target, output, target_length, output_length, mask_index)
    target_lengths, input_lengths = np.array([3, 2, 1, 3, 0]), np.array([8, 7, 4, 8, 3])
    y_ops = rng.integers(0, classes - 1, size=(n, 4))
    expected = keras.ops.ctc_loss(y_ops, logits, target_lengths, input_lengths,
                                  mask_index=classes - 1)
    got = lk.ctc_loss(y_ops, logits, target_lengths=target_lengths,
                      input_lengths=input_lengths, blank=classes - 1, reduction="none",
                      convention="keras")
    np.testing.assert_allclose(got, expected, rtol=2e-6)


# ------------------------------------------------------------------------------ optax


def _paddings(lengths, width):
    return (np.arange(width)[None, :] >= np.asarray(lengths)[:, None]).astype(np.float64)


def test_optax_one_to_one_alignment():
    # CTCTest.test_with_one_to_one_alignment: as many frames as labels, no repeats, so the
    # only alignment is the labels themselves
    rng = np.random.default_rng(1234)
    batch, steps, classes = 8, 50, 40
    logits = rng.normal(size=(batch, steps, classes))
    labels = rng.integers(1, classes, size=(batch, steps))
    for b, t in itertools.product(range(batch), range(1, steps)):
        while labels[b, t] == labels[b, t - 1]:
            labels[b, t] = rng.integers(1, classes)
    log_p = special.log_softmax(logits, axis=-1)
    expected = -np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0].sum(axis=1)
    got = lk.ctc_loss(labels, logits, logit_paddings=np.zeros((batch, steps)),
                      label_paddings=np.zeros((batch, steps)), reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_optax_one_to_one_alignment_with_paddings():
    # CTCTest.test_with_one_to_one_alignment_and_paddings: the same with 3 to 5 valid steps
    # of 7; the gradient of the average is (softmax − onehot(label)) / batch on valid frames
    rng = np.random.default_rng(1234)
    batch, classes, steps = 5, 13, 7
    logits = rng.normal(size=(batch, steps, classes))
    labels = np.array([rng.permutation(np.arange(1, classes))[:steps] for _ in range(batch)])
    lengths = rng.integers(3, 6, size=batch)
    paddings = _paddings(lengths, steps)
    value, grad = lk.value_and_gradient(lk.ctc_loss, labels, logits, logit_paddings=paddings,
                                        label_paddings=paddings)
    per_seq = lk.ctc_loss(labels, logits, logit_paddings=paddings, label_paddings=paddings,
                          reduction="none")
    log_p = special.log_softmax(logits, axis=-1)
    for b in range(batch):
        expected = -sum(log_p[b, t, k] for t, k in enumerate(labels[b, :lengths[b]]))
        np.testing.assert_allclose(per_seq[b], expected, rtol=1e-10)
        expected_grad = np.exp(log_p[b])
        expected_grad[lengths[b]:] = 0.0
        for t, k in enumerate(labels[b, :lengths[b]]):
            expected_grad[t, k] -= 1.0
        np.testing.assert_allclose(grad[b], expected_grad / batch, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(value, per_seq.mean(), rtol=1e-12)


def test_optax_repeat_with_one_to_one_alignment():
    # CTCTest.test_repeat_with_one_to_one_alignment: repeated labels need a blank between, so
    # the minimal alignments below are the only ones
    labels = np.array([[1, 2, 2, 3], [2, 3, 4, 4], [1, 1, 1, 1], [1, 1, 2, 3], [1, 1, 1, 2]])
    alignments = [[1, 2, 0, 2, 3], [2, 3, 4, 0, 4], [1, 0, 1, 0, 1, 0, 1], [1, 0, 1, 2, 3],
                  [1, 0, 1, 0, 1, 2]]
    labels = np.pad(labels, [(0, 0), (0, 2)])  # two padding entries on the right
    label_paddings = _paddings([4] * 5, 6)
    logit_lengths = [len(a) for a in alignments]
    logits = np.random.default_rng(1234).normal(size=(5, max(logit_lengths), 5))
    got = lk.ctc_loss(labels, logits, logit_paddings=_paddings(logit_lengths, 7),
                      label_paddings=label_paddings, reduction="none")
    log_p = special.log_softmax(logits, axis=-1)
    for b, alignment in enumerate(alignments):
        expected = -sum(log_p[b, t, k] for t, k in enumerate(alignment))
        np.testing.assert_allclose(got[b], expected, rtol=1e-10)
    # and fewer frames are impossible: optax's log_epsilon (-1e5) gives about 1e5, losskit
    # refuses (or, unchecked, returns inf)
    optax = pytest.importorskip("optax")
    theirs = optax.ctc_loss(logits[:1, :4], np.zeros((1, 4)), labels[:1], label_paddings[:1])
    np.testing.assert_allclose(theirs, 1e5, rtol=1e-4)
    with pytest.raises(ValueError, match="no alignment with the target of sequence 0"):
        lk.ctc_loss(labels[:1], logits[:1, :4], label_paddings=label_paddings[:1])
    assert lk.ctc_loss(labels[:1], logits[:1, :4], label_paddings=label_paddings[:1],
                       check_values=False) == math.inf


def test_random_batches_match_optax():
    optax = pytest.importorskip("optax")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(12)
    n, frames, classes, width = 6, 10, 5, 4
    logits = rng.normal(size=(n, frames, classes))
    labels = rng.integers(0, classes - 1, size=(n, width))  # blank: the last class
    logit_paddings = _paddings([10, 9, 6, 10, 3, 7], frames)
    label_paddings = _paddings([4, 2, 3, 0, 1, 2], width)
    labels[0, 1] = labels[0, 0]
    args = (logits, logit_paddings, labels, label_paddings)

    def average(q):
        return optax.ctc_loss(q, *args[1:], blank_id=classes - 1).mean()

    expected = optax.ctc_loss(*args, blank_id=classes - 1)
    options = {"logit_paddings": logit_paddings, "label_paddings": label_paddings,
               "blank": classes - 1}
    np.testing.assert_allclose(lk.ctc_loss(labels, logits, reduction="none", **options),
                               expected, rtol=1e-10)
    np.testing.assert_allclose(lk.gradient(lk.ctc_loss, labels, logits, **options),
                               jax.grad(average)(logits), rtol=1e-8, atol=1e-14)


# ------------------------------------------------------------------------------ properties


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_equals_the_brute_force_sum_over_alignments(data):
    frames = data.draw(st.integers(1, 4))
    classes = data.draw(st.integers(2, 3))
    blank = data.draw(st.integers(0, classes - 1))
    others = [c for c in range(classes) if c != blank]
    length = data.draw(st.integers(0, 3))
    labels = data.draw(st.lists(st.sampled_from(others), min_size=length, max_size=length))
    scale = data.draw(st.floats(0.1, 4.0))
    z = np.random.default_rng(data.draw(st.integers(0, 2**16))).normal(
        size=(1, frames, classes)) * scale
    y = np.array([labels + [-1] * (3 - length)])
    expected = _brute_force(labels, special.log_softmax(z[0], axis=-1), blank)
    got = lk.ctc_loss(y, z, blank=blank, reduction="none", check_values=False)
    if math.isinf(expected):
        assert got[0] == math.inf
        with pytest.raises(ValueError, match="no alignment"):
            lk.ctc_loss(y, z, blank=blank)
    else:
        assert got[0] >= 0.0
        np.testing.assert_allclose(got[0], expected, rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_loss_is_non_negative_and_finite_where_an_alignment_exists(data):
    n = data.draw(st.integers(1, 4))
    frames = data.draw(st.integers(1, 8))
    classes = data.draw(st.integers(2, 6))
    z = np.random.default_rng(data.draw(st.integers(0, 2**16))).normal(
        size=(n, frames, classes)) * data.draw(st.floats(0.01, 20.0))
    labels = np.array([[data.draw(st.integers(1, classes - 1)) for _ in range(frames)]
                       for _ in range(n)])
    lengths = np.array([data.draw(st.integers(0, frames)) for _ in range(n)])
    repeats = [int(np.sum(labels[i, 1:k] == labels[i, :k - 1])) if k > 1 else 0
               for i, k in enumerate(lengths)]
    feasible = lengths + np.array(repeats) <= frames
    values = lk.ctc_loss(labels, z, target_lengths=lengths, reduction="none",
                         zero_infinity=True)
    assert np.all(values >= 0.0) and np.all(np.isfinite(values))
    # a sequence with no alignment is +inf unless zero_infinity counts it 0
    assert np.all(values[~feasible] == 0.0)
    np.testing.assert_array_equal(
        lk.ctc_loss(labels, z, target_lengths=lengths, reduction="none",
                    check_values=False) == math.inf, ~feasible)


def test_probabilities_give_the_logits_value():
    rng = np.random.default_rng(13)
    z = rng.normal(size=(2, 5, 4))
    y = np.array([[1, 2], [3, -1]])
    np.testing.assert_allclose(lk.ctc_loss(y, special.softmax(z, axis=-1), from_logits=False),
                               lk.ctc_loss(y, z), rtol=1e-12)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("call", "message"), [
    (lambda: lk.ctc_loss([[1, 3]], np.zeros((1, 4, 3))),
     r"^ctc_loss: y_true has the label 3 at \(0, 1\), outside \[0, 3\)"),
    (lambda: lk.ctc_loss([[1, 0]], np.zeros((1, 4, 3))),
     r"^ctc_loss: y_true has the blank \(0\) as a label"),
    (lambda: lk.ctc_loss([[1, -2]], np.zeros((1, 4, 3))),
     r"^ctc_loss: y_true has the label -2"),
    (lambda: lk.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), input_lengths=[5]),
     r"^ctc_loss: input_lengths has values outside \[0, 4\]"),
    (lambda: lk.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), input_lengths=[-1]),
     r"^ctc_loss: input_lengths has values outside \[0, 4\]"),
    (lambda: lk.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), target_lengths=[3]),
     r"^ctc_loss: target_lengths has values outside \[0, 2\]"),
    (lambda: lk.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), input_lengths=[4, 4]),
     r"^ctc_loss: input_lengths has shape \(2,\) but \(1,\) is needed"),
    (lambda: lk.ctc_loss([[1, 2]], np.full((1, 4, 3), 0.3), from_logits=False),
     r"^ctc_loss: y_pred rows do not sum to 1"),
    (lambda: lk.ctc_loss([[1, 2]], np.full((4, 1, 3), 0.5), target_lengths=[2],
                         convention="torch"),
     r"^ctc_loss: y_pred rows do not sum to 1 .*apply log_softmax"),
    (lambda: lk.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), blank=3),
     r"^ctc_loss: blank is 3, not a class"),
    (lambda: lk.ctc_loss([1, 2], np.zeros((4, 1, 3)), convention="torch"),
     r"^ctc_loss: target_lengths is not given, but y_true is 1-D"),
    (lambda: lk.ctc_loss([1, 2], np.log(np.full((4, 2, 3), 1 / 3)), target_lengths=[1, 2],
                         convention="torch"),
     r"^ctc_loss: target_lengths sum to 3 but y_true holds 2"),
    (lambda: lk.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), input_lengths=[4],
                         logit_paddings=np.zeros((1, 4))),
     r"^ctc_loss: logit_paddings is given with input_lengths"),
    (lambda: lk.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), label_paddings=[[1.0, 0.0]]),
     r"^ctc_loss: label_paddings has a value after padding"),
    (lambda: lk.ctc_loss([[1, 2]], np.zeros((4, 3))),
     r"^ctc_loss: y_pred has shape \(4, 3\), not \(N, T, C\)"),
    (lambda: lk.ctc_loss([[1, 2], [1, 1]], np.zeros((1, 4, 3))),
     r"^ctc_loss: y_true has shape \(2, 2\) but \(1, S\) is needed"),
    (lambda: lk.ctc_loss([[1, 2]], np.full((1, 4, 3), np.nan)),
     r"^ctc_loss: y_pred has NaN"),
])
def test_bad_inputs_get_the_error_with_the_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_explanation_page_renders():
    page = lk.explain("ctc")
    assert "ctc_loss" in str(page)


def test_the_conventions_page_example_is_each_frameworks_number(keras):
    # docs/conventions.md's CTC example: its inputs, and what each framework computes on them
    import doctest
    from pathlib import Path

    optax = pytest.importorskip("optax")
    page = Path(__file__).resolve().parents[2] / "docs" / "conventions.md"
    test = doctest.DocTestParser().get_doctest(page.read_text(), {}, "conventions.md",
                                               str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, clear_globs=False)
    assert runner.summarize(verbose=False).failed == 0
    g = test.globs
    y, z = g["ctc_y"], g["ctc_z"]
    lengths = (y >= 0).sum(axis=1)
    theirs_optax = optax.ctc_loss(z, np.zeros(z.shape[:2]), np.maximum(y, 0),
                                  _paddings(lengths, y.shape[1]))
    np.testing.assert_allclose(float(lk.ctc_loss(y, z)), np.mean(theirs_optax), rtol=1e-6)
    log_p = special.log_softmax(z, axis=-1).transpose(1, 0, 2)
    theirs_torch = _torch_ctc(log_p, np.maximum(y, 0), [5, 5], lengths)
    np.testing.assert_allclose(float(lk.ctc_loss(np.maximum(y, 0), g["ctc_log_p"],
                                                 target_lengths=[3, 1], convention="torch")),
                               theirs_torch, rtol=1e-12)
    theirs_keras = keras.losses.CTC()(np.maximum(y, 0), z.astype("float32"))
    np.testing.assert_allclose(float(lk.ctc_loss(np.maximum(y, 0), z, convention="keras")),
                               theirs_keras, rtol=1e-6)
