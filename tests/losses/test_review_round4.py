"""Hostile review of issue 19's fourth round (NumPy paths in place, fast input paths).

NumPy subclasses reach the losses unchanged through ``host_array``: a ``numpy.matrix``
(whose ``*`` is a matrix product and whose reductions keep two axes) and a masked array
(whose ``max`` takes no ``initial=``) broke the new in-place and fast paths with NumPy's own
errors (``log_cosh_loss`` of a masked array without masked entries: ``TypeError:
MaskedArray.max() got an unexpected keyword argument 'initial'``;
``categorical_cross_entropy`` of a matrix: "output parameter for reduction operation
maximum has the wrong number of dimensions"), where the commit before the round
computed them. They are now taken in as plain arrays (masked entries refused with
losskit's error), so every loss gives the plain array's numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

RNG = np.random.default_rng(19)
Y = RNG.normal(size=12)
P = RNG.normal(size=12)
LABELS = np.eye(3)[RNG.integers(0, 3, size=12)]
LOGITS = RNG.normal(size=(12, 3))

#: (loss, y_true, y_pred, options): losses whose fourth-round paths failed on a subclass
CASES = [
    (lk.log_cosh_loss, Y, P, {}),
    (lk.mean_squared_error, Y, P, {}),
    (lk.huber_loss, Y, P, {}),
    (lk.categorical_cross_entropy, LABELS, LOGITS, {"from_logits": True}),
    (lk.kl_divergence, LABELS * 0.8 + 0.2 / 3, LOGITS, {"from_logits": True}),
    (lk.multiclass_perceptron_loss, RNG.integers(0, 3, size=12), LOGITS, {}),
    (lk.cosine_similarity_loss, LOGITS, LOGITS[::-1].copy(), {}),
]


def _masked(a: np.ndarray) -> np.ndarray:
    return np.ma.masked_array(a.copy())


def _matrix(a: np.ndarray) -> np.ndarray:
    return np.matrix(a.copy()) if a.ndim == 2 else _masked(a)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize("wrap", [_masked, _matrix], ids=["masked", "matrix"])
@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize(("loss", "y", "p", "options"), CASES,
                         ids=[c[0].__name__ for c in CASES])
def test_numpy_subclasses_give_the_plain_arrays_numbers(loss, y, p, options, which, wrap):
    args = [y.copy(), p.copy()]
    args[which] = wrap(args[which])
    expected = lk.value_and_gradient(loss, y, p, reduction="none", **options)
    value, grad = lk.value_and_gradient(loss, *args, reduction="none", **options)
    assert type(value) is np.ndarray and type(grad) is np.ndarray
    np.testing.assert_array_equal(value, expected[0])
    np.testing.assert_array_equal(grad, expected[1])
    assert float(loss(*args, **options)) == float(loss(y, p, **options))


def test_masked_entries_are_refused_with_losskits_error():
    y = np.ma.masked_array(Y.copy(), mask=np.arange(12) == 4)
    with pytest.raises(ValueError, match=r"^log_cosh_loss: y_true is a masked array with "
                       r"masked entries \(at index 4\)\. "):
        lk.log_cosh_loss(y, P)
    with pytest.raises(ValueError, match="masked entries"):
        lk.families.Gaussian().gradient(Y, np.ma.masked_array(P, mask=np.arange(12) == 0))


# ------------------------------------------- families: targets beyond the raw outputs' dtype


@pytest.mark.parametrize("name", ["gaussian", "laplace", "poisson", "heteroscedastic_gaussian"])
@pytest.mark.parametrize("method", ["gradient", "hessian", "value_and_gradient"])
def test_a_family_refuses_targets_its_raw_dtype_cannot_hold(name, method):
    """A float64 target of 1e300 with float32 raw outputs became inf in the family's cast:
    ``gradient`` and the new ``value_and_gradient`` returned an infinite gradient (and value)
    with success, where ``loss`` refuses the same inputs."""
    fam = lk.family(name)
    y = np.array([0.0, 1e300, 1.0])
    raw = np.zeros((3, *([fam.n_outputs()] if fam.n_outputs() > 1 else [])), dtype=np.float32)
    with pytest.raises(ValueError):
        fam.loss(y, raw)
    with pytest.raises(ValueError, match=rf"^{type(fam).__name__}\.{method}: y_true has the "
                       r"value 1e\+300 at index 1, beyond the range of the raw outputs' dtype "
                       r"float32"):
        getattr(fam, method)(y, raw)
    # targets that fit, and the same targets with float64 raw outputs, are computed
    assert np.all(np.isfinite(fam.gradient(y[[0, 2]], raw[[0, 2]])))
    getattr(fam, method)(y, raw.astype(np.float64))


def test_the_cast_check_on_torch():
    torch = pytest.importorskip("torch")
    fam = lk.families.Gaussian()
    y = torch.tensor([0.0, 1e300], dtype=torch.float64)
    raw = torch.zeros(2, dtype=torch.float32, requires_grad=True)
    with pytest.raises(ValueError, match="beyond the range of the raw outputs' dtype float32"):
        fam.value_and_gradient(y, raw)


def test_targets_near_the_top_of_float32_still_pass_the_cast_check():
    """Targets that fit float32 but whose sum overflows it (the NumPy check's quick sum)
    are not refused."""
    y = np.full(4, 3e38)
    grad = lk.families.Gaussian().gradient(y, np.zeros(4, dtype=np.float32))
    np.testing.assert_array_equal(grad, np.full(4, -3e38, dtype=np.float32))
