"""Issue 19, fourth round: the classification kernels' faster paths agree with the old ones,
and the binary cross-entropy's derivative in the labels is right at labels exactly 0 and 1
(each test failed before its change)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import losskit as lk
from losskit._array import mul_zero_safe
from losskit._torch import native_kernels

Y = [0.0, 1.0, 0.3, 0.0, 1.0, 0.0, 1.0]
Z = [2.0, -1.5, 0.7, -3.0, 4.0, 30.0, -30.0]


def _plain_label_gradient_torch(y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """autograd of the textbook formula -(y log σ(z) + (1 - y) log σ(-z)) in the labels."""
    y = y.detach().clone().requires_grad_()
    f = torch.nn.functional.logsigmoid
    (-(y * f(z) + (1 - y) * f(-z))).sum().backward()
    return y.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("from_logits", [True, False])
def test_bce_label_gradient_torch_at_labels_0_and_1(dtype, native, from_logits):
    # mul_zero_safe masked the product, so the derivative in a label of exactly 0 or 1 was
    # softplus(±z) instead of -z (distillation, soft targets that saturate)
    z = torch.tensor(Z[:5], dtype=dtype)  # |z| small enough for probabilities unclipped
    y = torch.tensor(Y[:5], dtype=dtype, requires_grad=True)
    x = z if from_logits else torch.sigmoid(z)
    with native_kernels(native):
        lk.binary_cross_entropy(y, x, from_logits=from_logits, reduction="sum").backward()
    expected = _plain_label_gradient_torch(y, z)
    torch.testing.assert_close(y.grad, expected, rtol=1e-5 if dtype == torch.float32 else 1e-12,
                               atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_label_gradient_torch_extreme_logits(dtype):
    y = torch.tensor(Y, dtype=dtype, requires_grad=True)
    z = torch.tensor(Z, dtype=dtype)
    lk.binary_cross_entropy(y, z, from_logits=True, reduction="sum").backward()
    torch.testing.assert_close(y.grad, -z)  # d/dy = log σ(-z) - log σ(z) = -z


@pytest.mark.parametrize("from_logits", [True, False])
def test_bce_label_gradient_jax_matches_plain_formula(from_logits):
    z = jnp.asarray(Z[:5])
    x = z if from_logits else jax.nn.sigmoid(z)

    def ours(y):
        return lk.binary_cross_entropy(y, x, from_logits=from_logits, reduction="sum",
                                       check_values=False)

    def plain(y):
        return -jnp.sum(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z))

    y = jnp.asarray(Y[:5])
    np.testing.assert_allclose(jax.grad(ours)(y), jax.grad(plain)(y), rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_eps0_autograd_stays_finite_at_probabilities_0_and_1(dtype):
    # the mask moved to where the log is infinite: autograd in p at p = 0 / 1 with a zero
    # coefficient stays finite (the other term's derivative, 1/(1 - p) or -1/p), not NaN
    p = torch.tensor([0.0, 1.0, 0.5], dtype=dtype, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 1.0], dtype=dtype)
    for native in (True, False):
        with native_kernels(native):
            value = lk.binary_cross_entropy(y, p, eps=0.0, reduction="sum")
            (grad,) = torch.autograd.grad(value, p)
        assert torch.isfinite(grad).all()
        torch.testing.assert_close(grad, torch.tensor([1.0, -1.0, -2.0], dtype=dtype))
        torch.testing.assert_close(value, -torch.log(torch.tensor(0.5, dtype=dtype)))


def test_categorical_eps0_autograd_finite_and_label_gradient():
    p = torch.tensor([[0.0, 0.25, 0.75]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[0.0, 0.5, 0.5]], dtype=torch.float64, requires_grad=True)
    value = lk.categorical_cross_entropy(y, p, eps=0.0, reduction="sum")
    grad_p, grad_y = torch.autograd.grad(value, (p, y))
    assert torch.isfinite(grad_p).all() and grad_p[0, 0] == 0.0
    # d/dy_c = -log p_c: infinite at the masked class is taken as 0 (0 · log 0 = 0)
    torch.testing.assert_close(grad_y[0, 1:], -torch.log(p.detach()[0, 1:]))


@pytest.mark.parametrize("lib", ["torch", "jax"])
def test_mul_zero_safe_derivatives(lib):
    a0, b0 = [0.0, 0.0, 0.0, 2.0, 2.0], [-1.5, -np.inf, np.nan, -np.inf, 3.0]
    if lib == "torch":
        a = torch.tensor(a0, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
        out = mul_zero_safe(torch, a, b)
        da, db = torch.autograd.grad(out.sum(), (a, b))
        out, da, db = out.detach().numpy(), da.numpy(), db.numpy()
    else:
        import array_api_compat

        xp = array_api_compat.array_namespace(jnp.zeros(1))
        a, b = jnp.asarray(a0), jnp.asarray(b0)
        out = np.asarray(mul_zero_safe(xp, a, b))
        da, db = (np.asarray(g) for g in jax.grad(
            lambda u, v: jnp.sum(mul_zero_safe(xp, u, v)), argnums=(0, 1))(a, b))
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, -np.inf, 6.0])
    # d/da = b where b is finite (it was 0 at a = 0), 0 where 0 · b was taken as 0
    np.testing.assert_array_equal(da, [-1.5, 0.0, 0.0, -np.inf, 3.0])
    np.testing.assert_array_equal(db, [0.0, 0.0, 0.0, 2.0, 2.0])


def test_mul_zero_safe_numpy_value():
    a = np.array([0.0, 0.0, 1.0])
    b = np.array([-np.inf, 2.0, -np.inf])
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(mul_zero_safe(np, a, b), [0.0, 0.0, -np.inf])
    assert float(lk.binary_cross_entropy([1.0, 0.0], [np.inf, -np.inf], from_logits=True)) == 0.0


def _hinge_cases():
    rng = np.random.default_rng(3)
    s = rng.normal(size=(50, 3)) * 3
    s[0, 0], s[1, 1] = 1.0, -1.0  # on the margin
    y01 = rng.integers(0, 2, size=s.shape).astype(np.float64)
    return s, y01


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("coding", ["01", "pm1", "01 list", "01 other dtype"])
def test_squared_hinge_numpy_buffers_same_numbers_and_inputs_untouched(dtype, coding):
    s, y01 = _hinge_cases()
    s = s.astype(dtype)
    t = 2.0 * y01 - 1.0
    y = {"01": y01.astype(dtype), "pm1": t.astype(dtype), "01 list": y01.tolist(),
         "01 other dtype": y01.astype(np.float32 if dtype == np.float64 else np.float64)}[coding]
    before = np.array(y, copy=True)
    gap = np.maximum(1.0 - t.astype(dtype) * s, 0.0)
    per_sample = lk.squared_hinge_loss(y, s, reduction="none")
    np.testing.assert_array_equal(per_sample, (gap * gap).mean(axis=-1))
    value, grad = lk.value_and_gradient(lk.squared_hinge_loss, y, s, reduction="sum")
    np.testing.assert_array_equal(grad, (t.astype(dtype) * -2.0) * gap / 3)
    assert value.dtype == dtype and grad.dtype == dtype
    np.testing.assert_array_equal(np.asarray(y), before)  # the caller's labels unchanged
    # hinge shares the signs: the caller's labels stay too, and its value is unchanged
    np.testing.assert_array_equal(lk.hinge_loss(y, s, reduction="none"), gap.mean(axis=-1))
    np.testing.assert_array_equal(np.asarray(y), before)


def test_squared_hinge_bad_labels_still_named():
    with pytest.raises(ValueError, match=r"has label 0.5 at index 1"):
        lk.squared_hinge_loss(np.array([1.0, 0.5]), np.array([0.2, 0.3], dtype=np.float32))


def _strict(x):
    import array_api_strict

    return array_api_strict.asarray(np.asarray(x))


def _focal_logits(dtype):
    rng = np.random.default_rng(7)
    z = rng.normal(size=(64, 3)) * 4
    z[0] = [0.0, -0.0, 17.0]
    z[1] = [-17.0, 40.0, -40.0]
    z[2] = [110.0, -110.0, 1e-30]  # exp(-|z|) underflows; a subnormal-sized logit
    return z.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{"gamma": 2.0}, {"gamma": 0.0}, {"gamma": 1.5},
                                     {"gamma": 2.0, "alpha": 0.25}])
def test_binary_focal_numpy_fast_path_bit_for_bit_on_labels(dtype, options):
    # the NumPy fast path (BCE as log1p(e) + t z) against the generic path (array-api-strict
    # runs the generic forms on NumPy's arithmetic): the same bits for labels 0/1
    z = _focal_logits(dtype)
    y = np.random.default_rng(8).integers(0, 2, size=z.shape).astype(dtype)
    y[0], y[1], y[2] = [1, 0, 1], [0, 0, 1], [1, 1, 0]
    kw = {"from_logits": True, "reduction": "none", **options}
    fast = lk.binary_focal_loss(y, z, **kw)
    generic = np.asarray(lk.binary_focal_loss(_strict(y), _strict(z), **kw))
    np.testing.assert_array_equal(fast, generic)
    _, g_fast = lk.value_and_gradient(lk.binary_focal_loss, y, z, **kw)
    _, g_generic = lk.value_and_gradient(lk.binary_focal_loss, _strict(y), _strict(z), **kw)
    np.testing.assert_array_equal(g_fast, np.asarray(g_generic))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_focal_numpy_fast_path_soft_labels_within_ulps(dtype):
    z = _focal_logits(dtype)
    y = np.random.default_rng(9).random(z.shape).astype(dtype)
    kw = {"from_logits": True, "reduction": "none", "gamma": 2.0}
    fast = lk.binary_focal_loss(y, z, **kw)
    generic = np.asarray(lk.binary_focal_loss(_strict(y), _strict(z), **kw))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(fast, generic, rtol=8 * eps, atol=0)
    smoothed = lk.binary_focal_loss(y, z, label_smoothing=0.1, **kw)
    np.testing.assert_allclose(smoothed, np.asarray(lk.binary_focal_loss(
        _strict(y), _strict(z), label_smoothing=0.1, **kw)), rtol=8 * eps, atol=0)


def test_binary_focal_numpy_infinite_logits_keep_the_generic_limits():
    y = np.array([1.0, 0.0, 1.0, 0.0])
    z = np.array([np.inf, -np.inf, -np.inf, np.inf])
    np.testing.assert_array_equal(
        lk.binary_focal_loss(y, z, from_logits=True, reduction="none"), [0.0, 0.0, np.inf, np.inf])
    y32 = np.array([1.0, 0.0], dtype=np.float32)
    z32 = np.array([3.0, -2.0], dtype=np.float32)
    before = y32.copy()
    lk.value_and_gradient(lk.binary_focal_loss, y32, z32, from_logits=True)
    np.testing.assert_array_equal(y32, before)  # the caller's labels untouched


def _scores(dtype, n=200, c=4, seed=11):
    rng = np.random.default_rng(seed)
    s = (rng.normal(size=(n, c)) * 2).astype(dtype)
    s[0] = [1.0, 1.0, 0.5, 1.0]  # ties for the largest score
    s[1] = [0.0, -1.0, 0.0, -1.0]  # hinge exactly 0 against the label 0's margin 1
    y = rng.integers(0, c, size=n)
    y[0], y[1] = 1, 0
    return y, s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"p": 2}, {"margin": 0.5}, {"margin": -0.25, "p": 2},
                                     {"class_weight": [0.5, 2.0, 1.0, 0.0]}])
def test_multi_margin_numpy_path_equals_generic(dtype, options):
    y, s = _scores(dtype)
    kw = {"reduction": "none", **options}
    fast = lk.multi_margin_loss(y, s, **kw)
    generic = np.asarray(lk.multi_margin_loss(_strict(y), _strict(s), **kw))
    # the hinges are the same numbers; their sum over the C classes (row_dot) may round in
    # another order than the generic sum: within an ulp per addition
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(fast, generic, rtol=4 * eps, atol=0)
    for reduction in ("mean", "sum"):
        v, g = lk.value_and_gradient(lk.multi_margin_loss, y, s, **{**kw, "reduction": reduction})
        v0, g0 = lk.value_and_gradient(lk.multi_margin_loss, _strict(y), _strict(s),
                                       **{**kw, "reduction": reduction})
        # the wrong classes' entries bit for bit; the label's (minus their sum) within ulps
        np.testing.assert_allclose(g, np.asarray(g0), rtol=4 * eps, atol=0)
        wrong = np.arange(s.shape[1]) != y[:, None]
        np.testing.assert_array_equal(g[wrong], np.asarray(g0)[wrong])
        np.testing.assert_allclose(v, np.asarray(v0), rtol=4 * eps, atol=0)
        assert g.dtype == dtype


def test_multi_margin_numpy_other_layouts_and_unchecked_nan():
    y, s = _scores(np.float64)
    # classes on axis 0 (a moved, non-contiguous view) and a 3-D batch: the generic path
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(lk.multi_margin_loss(y, s.T.copy(), axis=0, reduction="none"),
                               lk.multi_margin_loss(y, s, reduction="none"), rtol=4 * eps)
    s3 = s.reshape(50, 4, 4)
    np.testing.assert_allclose(lk.multi_margin_loss(y.reshape(50, 4), s3, reduction="none"),
                               lk.multi_margin_loss(y, s, reduction="none").reshape(50, 4),
                               rtol=4 * eps)
    bad = s.copy()
    bad[3, (y[3] + 1) % 4] = np.nan
    with pytest.raises(ValueError, match="y_pred has NaN"):
        lk.multi_margin_loss(y, bad)
    # unchecked, a NaN score gives NaN for its sample (never a silent 0)
    out = lk.multi_margin_loss(y, bad, reduction="none", check_values=False)
    assert np.isnan(out[3]) and np.isfinite(np.delete(out, 3)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ties", [True, False])
def test_multiclass_perceptron_numpy_path_equals_generic(dtype, ties):
    y, s = _scores(dtype, seed=12)
    if not ties:
        s[0] = [1.0, 2.0, 0.5, 3.0]
    kw = {"reduction": "none"}
    np.testing.assert_array_equal(
        lk.multiclass_perceptron_loss(y, s, **kw),
        np.asarray(lk.multiclass_perceptron_loss(_strict(y), _strict(s), **kw)))
    _, g = lk.value_and_gradient(lk.multiclass_perceptron_loss, y, s)
    _, g0 = lk.value_and_gradient(lk.multiclass_perceptron_loss, _strict(y), _strict(s))
    np.testing.assert_array_equal(g, np.asarray(g0))
    if ties:  # the first largest score gets the +1 (argmax's), though the label ties it
        assert y[0] == 1 and g[0, 0] == -g[0, 1] == 1 / len(y) and g[0, 2] == g[0, 3] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss, options", [
    (lk.dice_loss, {}), (lk.dice_loss, {"from_logits": True}), (lk.dice_loss, {"eps": 0.0}),
    (lk.tversky_loss, {"alpha": 0.3, "beta": 0.7}),
    (lk.tversky_loss, {"alpha": 0.3, "beta": 0.7, "convention": "keras"}),
    (lk.tversky_loss, {"from_logits": True})])
def test_overlap_numpy_row_sums_agree_with_generic(dtype, loss, options):
    rng = np.random.default_rng(13)
    y = (rng.random((300, 5)) > 0.6).astype(dtype)
    y[0] = 0.0  # an empty mask
    p = rng.random((300, 5)).astype(dtype)
    p[1] = [0.0, 1.0, 0.0, 1.0, 0.5]
    if options.get("from_logits"):
        p = (p * 8 - 4).astype(dtype)
    kw = {"reduction": "none", **options}
    fast = loss(y, p, **kw)
    generic = np.asarray(loss(_strict(y), _strict(p), **kw))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(fast, generic, rtol=8 * eps, atol=8 * eps)
    _, g = lk.value_and_gradient(loss, y, p, **options)
    _, g0 = lk.value_and_gradient(loss, _strict(y), _strict(p), **options)
    np.testing.assert_allclose(g, np.asarray(g0), rtol=16 * eps, atol=16 * eps / 1500)
    assert fast.dtype == dtype and g.dtype == dtype


def test_overlap_long_rows_and_several_axes_keep_the_generic_sums():
    rng = np.random.default_rng(14)
    y = (rng.random((4, 100)) > 0.5).astype(np.float64)
    p = rng.random((4, 100))
    # 100 > 32 entries a row: numpy's pairwise sum, as the generic path (bit for bit)
    np.testing.assert_array_equal(lk.dice_loss(y, p, reduction="none"),
                                  np.asarray(lk.dice_loss(_strict(y), _strict(p),
                                                          reduction="none")))
    y3, p3 = y.reshape(4, 10, 10), p.reshape(4, 10, 10)  # summed over two axes: generic
    np.testing.assert_array_equal(lk.dice_loss(y3, p3, reduction="none"),
                                  np.asarray(lk.dice_loss(_strict(y3), _strict(p3),
                                                          reduction="none")))


@pytest.mark.parametrize("loss", [lk.binary_cross_entropy, lk.binary_focal_loss])
def test_logit_check_from_one_sum_still_names_nan_and_keeps_infinite_limits(loss):
    y = np.array([1.0, 0.0, 1.0], dtype=np.float32)
    with pytest.raises(ValueError, match=r"y_pred has NaN \(1 of 3, first at index 1\)"):
        loss(y, np.array([0.5, np.nan, 1.0], dtype=np.float32), from_logits=True)
    z = np.array([np.inf, -np.inf, 2.0], dtype=np.float32)  # exact limits: the generic path
    np.testing.assert_array_equal(
        loss(y, z, from_logits=True, reduction="none"),
        np.asarray(loss(_strict(y), _strict(z), from_logits=True, reduction="none")))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multiclass_sparsemax_numpy_sums_agree_with_generic(dtype):
    rng = np.random.default_rng(15)
    z = (rng.normal(size=(300, 5)) * 2).astype(dtype)
    z[0] = [1.0, 1.0, 1.0, 1.0, 1.0]  # all tied: uniform
    z[1] = [50.0, -50.0, 0.0, 0.0, 0.0]  # one class takes all
    y = rng.integers(0, 5, size=300)
    fast = lk.multiclass_sparsemax_loss(y, z, reduction="none")
    generic = np.asarray(lk.multiclass_sparsemax_loss(_strict(y), _strict(z), reduction="none"))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(fast, generic, rtol=8 * eps, atol=8 * eps)
    _, g = lk.value_and_gradient(lk.multiclass_sparsemax_loss, y, z)
    _, g0 = lk.value_and_gradient(lk.multiclass_sparsemax_loss, _strict(y), _strict(z))
    np.testing.assert_array_equal(g, np.asarray(g0))  # the projection itself: bit for bit


def test_mul_zero_safe_python_number_factor():
    # a Python number as the second factor (a kernel's constant), on torch and NumPy
    import array_api_compat

    a = torch.tensor([0.0, 2.0], dtype=torch.float64, requires_grad=True)
    out = mul_zero_safe(array_api_compat.array_namespace(a), a, 1e300)
    (da,) = torch.autograd.grad(out.sum(), a)
    torch.testing.assert_close(da, torch.tensor([1e300, 1e300], dtype=torch.float64))
    a32 = torch.tensor([0.0, 2.0])  # 1e300 is inf in float32: 0 · inf taken as 0
    out32 = mul_zero_safe(array_api_compat.array_namespace(a32), a32, 1e300)
    assert out32.tolist() == [0.0, math.inf]
    xp = array_api_compat.array_namespace(np.zeros(1))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(mul_zero_safe(xp, np.array([0.0, 2.0]), np.inf),
                                      [0.0, np.inf])


@pytest.mark.parametrize("name", ["hinge_loss", "squared_hinge_loss"])
def test_margin_labels_borrowed_or_read_only_are_never_written(name):
    # a pandas Series, a read-only broadcast view and a caller's array hand NumPy memory the
    # call does not own: the signs must go to a fresh array, and the labels stay as they were
    pd = pytest.importorskip("pandas")
    loss = getattr(lk, name)
    labels = np.array([0.0, 1.0, 1.0, 0.0] * 3)
    scores = np.linspace(-1.0, 1.0, 12)
    expected = loss(labels.tolist(), scores)
    series = pd.Series(labels.copy())
    view = np.broadcast_to(labels.copy(), (12,))
    for given in (series, view, labels):
        assert loss(given, scores) == expected
    np.testing.assert_array_equal(series.to_numpy(), labels)
    np.testing.assert_array_equal(view, labels)
    np.testing.assert_array_equal(labels, [0.0, 1.0, 1.0, 0.0] * 3)
