"""The per-call shortcuts of the input pipeline give the general path's answers.

- ``options`` remembers the Python scalars that passed a function's checks (per function, per
  option, by type and value): a bad value still fails at every call, and a value good for one
  function or one type is not taken as good for another.
- ``namespace_and_arrays`` takes plain PyTorch tensors without the general screening: same
  namespace, and anything else (host data, meta tensors, subclasses) still takes the general
  path with its conversions and messages.
- ``check_finite`` reads one CPU scalar for PyTorch: the same verdicts and messages.
"""

from __future__ import annotations

import math
import threading

import array_api_compat as aac
import numpy as np
import pytest

import losskit as lk
from losskit._array import namespace_and_arrays
from losskit._validation import Boolean, Real, check_finite, options

torch = pytest.importorskip("torch")


def _function():
    @options(gamma=Real(0.0, 5.0), check_values=Boolean())
    def f(x, *, gamma=2.0, check_values=True):
        return gamma

    return f


def test_a_bad_option_fails_at_every_call_after_good_ones():
    f = _function()
    assert f(1, gamma=2.0) == 2.0 and f(1, gamma=2.0) == 2.0  # the second from the cache
    for _ in range(2):
        with pytest.raises(ValueError, match=r"f: gamma must be a number in \[0.0, 5.0\]"):
            f(1, gamma=6.0)
        with pytest.raises(ValueError, match=r"gamma must be"):
            f(1, gamma=math.nan)  # NaN never equals a remembered value
    assert (("gamma", float, 2.0) in f.__losskit_passed__
            and not any(key[0] == "gamma" and key[2] == 6.0 for key in f.__losskit_passed__))


def test_the_type_is_part_of_what_is_remembered():
    f = _function()
    f(1, check_values=True)
    # 1 == True and hash(1) == hash(True): without the type it would pass as True did
    with pytest.raises(TypeError, match=r"f: check_values must be True or False; got 1"):
        f(1, check_values=1)
    lk.mean_squared_error([1.0], [1.0], check_values=False)
    with pytest.raises(TypeError, match=r"check_values must be True or False; got 0"):
        lk.mean_squared_error([1.0], [1.0], check_values=0)


def test_a_value_good_for_one_function_is_checked_again_for_another():
    # tversky's alpha is in [0, inf); the focal loss's in [0, 1]
    lk.tversky_loss(np.array([[1.0, 0.0]]), np.array([[0.8, 0.2]]), alpha=2.0)
    with pytest.raises(ValueError, match=r"binary_focal_loss: alpha must be"):
        lk.binary_focal_loss([1.0], [0.5], alpha=2.0)


def test_the_memory_is_bounded_and_still_checks_beyond_it():
    f = _function()
    for i in range(400):
        f(1, gamma=i / 100)
    assert len(f.__losskit_passed__) <= 256
    with pytest.raises(ValueError, match=r"gamma must be"):
        f(1, gamma=-0.5)


def test_concurrent_calls_with_good_and_bad_values():
    f = _function()
    errors: list[str] = []

    def run(seed):
        rng = np.random.default_rng(seed)
        for gamma in rng.uniform(-1.0, 6.0, size=300):
            gamma = float(gamma)
            try:
                f(1, gamma=gamma)
                if not 0.0 <= gamma <= 5.0:
                    errors.append(f"{gamma} passed")
            except ValueError:
                if 0.0 <= gamma <= 5.0:
                    errors.append(f"{gamma} failed")

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_plain_tensors_take_the_shortcut_with_the_same_namespace():
    t = torch.ones(3)
    xp, y_pred, others = namespace_and_arrays("f", t, t, None)
    assert xp is aac.array_namespace(t) and y_pred is t and others[0] is t and others[1] is None
    # host data with a tensor prediction: moved, as before
    xp, _, (moved,) = namespace_and_arrays("f", t, np.array([1, 2, 3]))
    assert isinstance(moved, torch.Tensor) and moved.dtype == torch.int64
    # a Parameter (a subclass) takes the general path, to the same namespace
    xp, _, _ = namespace_and_arrays("f", torch.nn.Parameter(t), t)
    assert xp is aac.array_namespace(t)


def test_what_the_shortcut_leaves_gets_the_general_paths_messages():
    t = torch.ones(3)
    with pytest.raises(ValueError, match=r"f: y_true is a tensor on the 'meta' device"):
        namespace_and_arrays("f", t, torch.ones(3, device="meta"))
    with pytest.raises(ValueError, match=r"f: y_pred is a tensor on the 'meta' device"):
        namespace_and_arrays("f", torch.ones(3, device="meta"), t)
    with pytest.raises(TypeError, match=r"f: y_true holds strings"):
        namespace_and_arrays("f", t, np.array(["a", "b", "c"]))


@pytest.mark.parametrize("allow_inf", [False, True])
def test_check_finite_on_cpu_tensors_gives_the_same_verdicts(allow_inf):
    xp = aac.array_namespace(torch.ones(1))
    check_finite("f", xp, "x", torch.tensor([1.0, 2.0]), allow_inf=allow_inf)
    # a sum that overflows although every value is finite: the exact check passes it
    big = torch.tensor([3e38, 3e38], dtype=torch.float32)
    check_finite("f", xp, "x", big, allow_inf=allow_inf)
    with pytest.raises(ValueError, match=r"f: x has NaN.* \(1 of 3, first at index 1\)"):
        check_finite("f", xp, "x", torch.tensor([1.0, math.nan, 2.0]), allow_inf=allow_inf)
    inf = torch.tensor([[1.0, 2.0], [math.inf, 0.0]])
    if allow_inf:
        check_finite("f", xp, "x", inf, allow_inf=True)
    else:
        with pytest.raises(ValueError, match=r"f: x has NaN or infinite values \(1 of 4, "
                                             r"first at index \(1, 0\)\)"):
            check_finite("f", xp, "x", inf)
    # the same on NumPy (the general path)
    with pytest.raises(ValueError, match=r"\(1 of 3, first at index 1\)"):
        check_finite("f", np, "x", np.array([1.0, math.nan, 2.0]), allow_inf=allow_inf)


def test_torch_shortcuts_of_the_array_helpers_give_the_general_numbers():
    from losskit._array import log_sigmoid, mul_zero_safe
    from losskit._reduction import mean_over_outputs, reduce

    xp = aac.array_namespace(torch.ones(1))
    x = np.array([-800.0, -745.0, -40.0, -1e-20, 0.0, 1e-20, 3.0, 40.0, 745.0, np.inf, -np.inf])
    ours = log_sigmoid(xp, torch.from_numpy(x)).numpy()
    general = log_sigmoid(np, x)  # the branch-free formula
    # to rounding; PyTorch's exp flushes the last subnormals (-log σ(745) is 0, not 5e-324)
    np.testing.assert_allclose(ours, general, rtol=4e-16, atol=1e-300)
    t = torch.from_numpy(x).requires_grad_(True)
    (grad,) = torch.autograd.grad(log_sigmoid(xp, t).sum(), t)
    assert torch.isfinite(grad).all() and grad[4].item() == 0.5  # sigmoid(-x) at 0
    a = torch.tensor([0.0, 1.0, 2.0, np.nan], dtype=torch.float64)
    b = torch.tensor([np.inf, 2.0, -np.inf, 1.0], dtype=torch.float32)
    with np.errstate(invalid="ignore"):  # NumPy's 0 * inf, which where then discards
        general = mul_zero_safe(np, a.numpy(), b.numpy().astype(np.float64))
    np.testing.assert_array_equal(mul_zero_safe(xp, a, b).numpy(), general)
    assert mul_zero_safe(xp, a, b).dtype == torch.float64
    values = torch.linspace(0.0, 3.0, 12, dtype=torch.float32).reshape(4, 3)
    for reduction in ("mean", "sum"):
        np.testing.assert_allclose(reduce(xp, values, reduction).numpy(),
                                   reduce(np, values.numpy(), reduction), rtol=1e-6)
    np.testing.assert_allclose(mean_over_outputs(xp, values)[0].numpy(),
                               mean_over_outputs(np, values.numpy())[0], rtol=1e-6)
    # integer per-sample values keep the namespace's rules (torch's own mean refuses them)
    assert reduce(xp, torch.arange(4), "sum").item() == 6
