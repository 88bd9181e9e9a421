"""losskit.torch criteria resolve their call once, at construction: the plan is rebuilt where it
must be (unpickling, ``.to``), never stale, and a compiled criterion without value checks is one
graph node with few guards and no graph break."""

from __future__ import annotations

import copy
import math
import pickle
import threading
import warnings

import numpy as np
import pytest

import losskit as lk
from adapter_cases import adapter_cases
from losskit import _torch
from losskit._adapters import catalogue

torch = pytest.importorskip("torch")
lkt = pytest.importorskip("losskit.torch")

CASES = adapter_cases(np.random.default_rng(0))


def _tensors(name):
    y, raw, options = CASES[name]
    return torch.from_numpy(y), torch.from_numpy(raw).requires_grad_(True), options


def _explain(fn, *args):
    torch._dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dynamo's notes on lru_cache wrappers
        return torch._dynamo.explain(fn)(*args)


def test_the_options_are_frozen_at_construction():
    criterion = lkt.HuberLoss(delta=0.5)
    with pytest.raises(TypeError):
        criterion.options["delta"] = 2.0  # a stale plan would ignore it: refused instead
    assert criterion.options == {"delta": 0.5}


def test_the_native_kernel_is_called_directly_and_still_switchable():
    y, raw, _ = _tensors("mean_squared_error")
    criterion = lkt.MeanSquaredErrorLoss()
    assert criterion._plan.native is not None  # the kernel, its options bound once
    fast = criterion(raw, y)
    with _torch.native_kernels(False):  # the switch is read at every call, not resolved
        generic = criterion(raw, y)
    np.testing.assert_allclose(fast.item(), generic.item(), rtol=1e-12)
    # weights and errors take the function's path, with its checks and messages
    w = torch.linspace(0.5, 2.0, len(y))
    np.testing.assert_allclose(criterion(raw, y, w).item(), lk.mean_squared_error(
        y, raw, sample_weight=w).item(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"mean_squared_error: y_pred has NaN"):
        criterion(raw.detach() * torch.nan, y)
    # array options: no kernel (they take none), the function's path with the buffers
    assert lkt.SparseCategoricalCrossEntropyLoss(
        class_weight=[1.0, 2.0, 3.0])._plan.native is None


def test_a_non_default_reduction_is_in_the_plan():
    y, raw, _ = _tensors("huber_loss")
    criterion = lkt.HuberLoss(reduction="sum")
    assert criterion._plan.kwargs == {"reduction": "sum"}
    np.testing.assert_allclose(criterion(raw, y).item(), lk.huber_loss(
        y, raw, reduction="sum").item(), rtol=1e-12)
    assert lkt.HuberLoss()._plan.kwargs == {}


def test_pickling_and_copying_rebuild_the_plan():
    y, raw, _ = _tensors("binary_focal_loss")
    criterion = lkt.BinaryFocalLoss(gamma=1.5, from_logits=True, check_values=False)
    for clone in (pickle.loads(pickle.dumps(criterion)), copy.deepcopy(criterion)):
        assert clone._plan is not criterion._plan
        assert clone._plan.graph_key == criterion._plan.graph_key
        assert clone(raw, y).item() == criterion(raw, y).item()
        with pytest.raises(TypeError):
            clone.options["gamma"] = 2.0


def test_buffers_moved_by_to_are_the_ones_used_eagerly_and_compiled():
    labels, logits, _ = _tensors("sparse_categorical_cross_entropy")
    weight = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)
    criterion = lkt.SparseCategoricalCrossEntropyLoss(
        from_logits=True, class_weight=weight, convention="torch", check_values=False)
    expected = torch.nn.CrossEntropyLoss(weight=weight)(logits, labels).item()
    np.testing.assert_allclose(criterion(logits, labels).item(), expected, rtol=1e-12)
    compiled = torch.compile(criterion, fullgraph=True, backend="aot_eager")
    np.testing.assert_allclose(compiled(logits, labels).item(), expected, rtol=1e-12)
    # new buffer values (and dtype): no stale copy in the plan or the compiled graph
    criterion.class_weight = torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64)
    expected = torch.nn.CrossEntropyLoss(weight=criterion.class_weight)(logits, labels).item()
    np.testing.assert_allclose(criterion(logits, labels).item(), expected, rtol=1e-12)
    np.testing.assert_allclose(compiled(logits, labels).item(), expected, rtol=1e-12)
    half = criterion.to(torch.float32)
    value = torch.compile(half, fullgraph=True, backend="aot_eager")(logits.float(), labels)
    assert value.dtype == torch.float32
    np.testing.assert_allclose(value.item(), expected, rtol=1e-6)


def test_graph_keys_are_per_loss_and_options_and_thread_safe():
    gammas = [0.5 + 0.25 * i for i in range(16)]
    made: dict[float, list] = {g: [] for g in gammas}

    def build(gamma):
        for _ in range(5):
            made[gamma].append(lkt.BinaryFocalLoss(gamma=gamma, from_logits=True,
                                                   check_values=False))

    threads = [threading.Thread(target=build, args=(g,)) for g in gammas for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = {g: {c._plan.graph_key for c in made[g]} for g in gammas}
    assert all(len(k) == 1 for k in keys.values())  # equal options share one key
    assert len({next(iter(k)) for k in keys.values()}) == len(gammas)  # others never do
    for gamma in gammas:
        function, kwargs, _ = lkt._GRAPH_CALLS[next(iter(keys[gamma]))]
        assert function is lk.binary_focal_loss and kwargs["gamma"] == gamma
    # checks on (or a loss that reads the host): dynamo traces the function instead
    assert lkt.BinaryFocalLoss()._plan.graph_key is None
    assert lkt.KLDivergenceLoss(check_values=False)._plan.graph_key is None


def test_two_compiled_criteria_with_other_options_give_their_own_values():
    y, raw, _ = _tensors("huber_loss")
    for delta in (0.1, 2.0):
        criterion = lkt.HuberLoss(delta=delta, check_values=False)
        compiled = torch.compile(lambda a, b, c=criterion: c(a, b), fullgraph=True,
                                 backend="aot_eager")
        np.testing.assert_allclose(compiled(raw, y).item(), lk.huber_loss(
            y, raw, delta=delta).item(), rtol=1e-6)


COMPILED = ["mean_squared_error", "binary_cross_entropy", "sparse_categorical_cross_entropy",
            "binary_focal_loss", "huber_loss"]
TORCH_CRITERIA = {"mean_squared_error": torch.nn.MSELoss,
                  "binary_cross_entropy": torch.nn.BCEWithLogitsLoss,
                  "sparse_categorical_cross_entropy": torch.nn.CrossEntropyLoss,
                  "binary_focal_loss": torch.nn.BCEWithLogitsLoss,
                  "huber_loss": torch.nn.HuberLoss}


@pytest.mark.parametrize("name", COMPILED)
def test_a_compiled_criterion_has_no_graph_break_and_few_guards(name):
    y, raw, options = _tensors(name)
    options = {k: v for k, v in options.items() if k != "check_values"}
    ours = lkt.CRITERIA[name](check_values=False, **options)
    theirs = TORCH_CRITERIA[name]()
    mine = _explain(lambda a, b: ours(a, b), raw, y)
    reference = _explain(lambda a, b: theirs(a, b), raw, y)
    assert mine.graph_count == 1 and mine.graph_break_count == 0
    # the guards dynamo evaluates at every call: the loss's Python code adds none (it was
    # ~200: one per global the input screening read), the criterion a handful
    assert len(mine.out_guards) <= len(reference.out_guards) + 12, [
        g.name for g in mine.out_guards]


@pytest.mark.parametrize("name", sorted(set(CASES) - lkt.TRACED_BY_DYNAMO))
def test_every_criterion_compiles_as_one_node_traced_by_aot_autograd(name):
    """aot_eager traces the loss's operations with fake tensors, as inductor does: a host read
    on this path would fail to compile (where dynamo would have broken the graph). A loss that
    needs one belongs in ``TRACED_BY_DYNAMO``."""
    y, raw, options = _tensors(name)
    options = {k: v for k, v in options.items() if k != "check_values"}
    criterion = lkt.CRITERIA[name](check_values=False, **options)
    assert criterion._plan.graph_key is not None
    torch._dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = torch.compile(criterion, fullgraph=True, backend="aot_eager")(raw, y)
    value.backward()
    fn = catalogue()[name]
    np.testing.assert_allclose(value.item(), fn(y.numpy(), raw.detach().numpy(), **options),
                               rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(raw.grad.numpy(), lk.gradient(
        fn, y.numpy(), raw.detach().numpy(), **options), rtol=1e-5, atol=1e-9)


def test_a_new_batch_size_recompiles_with_the_right_value():
    torch.manual_seed(0)
    criterion = lkt.BinaryCrossEntropyLoss(from_logits=True, check_values=False)
    compiled = torch.compile(criterion, fullgraph=True, backend="aot_eager")
    for n in (64, 40, 17):  # the last batch of an epoch is smaller: dynamic shapes
        z, y = torch.randn(n, 1), torch.randint(0, 2, (n, 1)).float()
        np.testing.assert_allclose(compiled(z, y).item(), lk.binary_cross_entropy(
            y, z, from_logits=True).item(), rtol=1e-6)


def test_compiled_shape_errors_keep_losskits_message():
    criterion = lkt.MeanSquaredErrorLoss(check_values=False)
    compiled = torch.compile(criterion, fullgraph=True, backend="aot_eager")
    torch._dynamo.reset()
    with pytest.raises(Exception, match=r"mean_squared_error: y_true has shape \(4,\) but "
                                        r"y_pred has shape \(4, 1\)"):
        compiled(torch.randn(4, 1), torch.randn(4))


# ------------------------------------------------ the BCE criterion's specialised bound kernel


def _outcome(call, z):
    """``("value", value, gradient, node)`` of ``call(z)`` (a fresh leaf), or ``("error",
    type, message)``."""
    z = z.detach().clone().requires_grad_(True)
    try:
        value = call(z)
    except (ValueError, TypeError, RuntimeError) as error:
        return ("error", type(error), str(error))
    grad_fn = type(value.grad_fn).__name__
    value.sum().backward()
    return ("value", value.detach(), z.grad, grad_fn)


def _same(a, b):
    assert a[0] == b[0], (a, b)
    if a[0] == "error":
        assert a[1:] == b[1:]
        return
    assert a[3] == b[3]
    torch.testing.assert_close(a[1], b[1], rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(a[2], b[2], rtol=0, atol=0, equal_nan=True)


def _bce_cases():
    rng = np.random.default_rng(3)
    hard = rng.integers(0, 2, size=(256, 1)).astype(np.float32)
    z = rng.normal(scale=6.0, size=(256, 1)).astype(np.float32)
    t = torch.from_numpy
    cases = {
        "hard": (t(hard), t(z)),
        "hard float64": (t(hard).double(), t(z).double()),
        "soft": (t(rng.uniform(size=(256, 1)).astype(np.float32)), t(z)),
        "1-D": (t(hard[:, 0]), t(z[:, 0])),
        "3-D": (t(hard[:30]).reshape(5, 3, 2), t(z[:30]).reshape(5, 3, 2)),
        "confident, overflowing": (torch.tensor([1.0, 0.0, 1.0, 0.0]),
                                   torch.tensor([30.0, -30.0, -100.0, 100.0])),
        "NaN logit": (t(hard[:4, 0]), torch.tensor([0.0, math.nan, 1.0, 2.0])),
        "infinite logit": (torch.tensor([1.0, 0.0]), torch.tensor([math.inf, math.inf])),
        "float64 labels": (t(hard).double(), t(z)),
        "labels needing grad": (t(hard).requires_grad_(True), t(z)),
        "shapes differ": (t(hard[:, 0]), t(z)),
        "scalar": (torch.tensor(1.0), torch.tensor(0.5)),
        "empty": (torch.zeros(0), torch.zeros(0)),
        "large (fused node)": (t(rng.integers(0, 2, size=70_000).astype(np.float32)),
                               t(rng.normal(size=70_000).astype(np.float32))),
        "NumPy labels": (hard, t(z)),
    }
    for bad in (2.0, -1.0, math.inf, -math.inf, math.nan, 0.5, 1e-30):
        y = t(hard[:8, 0]).clone()
        y[3] = bad
        cases[f"label {bad}"] = (y, t(z[:8, 0]))
    return cases




@pytest.mark.parametrize("case", list(_bce_cases()))
@pytest.mark.parametrize("check_values", [True, False])
def test_bce_criterion_bound_kernel_is_the_kernel(case, check_values):
    """The BCE criterion's specialised bound kernel (the per-call tests cut for a training
    loop's calls) gives the function's value, gradient, autograd node and error, bit for bit,
    on every kind of call, those it takes and those it hands on."""
    y, z = _bce_cases()[case]
    criterion = lkt.BinaryCrossEntropyLoss(from_logits=True, check_values=check_values)
    assert "_bind_binary_cross_entropy" in criterion._plan.native.__qualname__
    ours = _outcome(lambda zz: criterion(zz, y), z)
    theirs = _outcome(lambda zz: lk.binary_cross_entropy(y, zz, from_logits=True,
                                                         check_values=check_values), z)
    _same(ours, theirs)
    if case == "hard":  # the exact form, one node, and the tiny loss PyTorch rounds to 0
        assert ours[3] == "SoftMarginLossBackward0"


def test_bce_criterion_bound_kernel_keeps_tiny_losses():
    """The confident correct logit: 4e-8 (float32 z = ±17), where PyTorch's BCEWithLogits
    gives 0 for the loss and for the gradient."""
    criterion = lkt.BinaryCrossEntropyLoss(from_logits=True, reduction="mean")
    z = torch.tensor([17.0, -17.0], requires_grad=True)
    y = torch.tensor([1.0, 0.0])
    value = criterion(z, y)
    value.backward()
    exact = math.log1p(math.exp(-17.0))
    assert value.item() == pytest.approx(exact, rel=1e-6)
    assert z.grad.tolist() == pytest.approx([-math.exp(-17.0) / 2 / (1 + math.exp(-17.0)),
                                             math.exp(-17.0) / 2 / (1 + math.exp(-17.0))],
                                            rel=1e-5)
    # what PyTorch loses: the loss at y = 0 (its (1 - y) z - log σ(z) cancels) and the
    # gradient at y = 1 (σ(z) - y)
    zz = z.detach().requires_grad_(True)
    theirs = torch.nn.BCEWithLogitsLoss(reduction="none")(zz, y)
    assert theirs[1].item() == 0.0
    theirs.sum().backward()
    assert zz.grad[0].item() == 0.0


def test_bce_criterion_bound_kernel_outside_its_calls():
    """Switched off, inside ``torch.func`` transforms, and with options it does not fix
    (another reduction): the kernel or the function, as before."""
    y = torch.tensor([1.0, 0.0, 1.0])
    z = torch.tensor([0.3, -2.0, 5.0])
    criterion = lkt.BinaryCrossEntropyLoss(from_logits=True)
    with _torch.native_kernels(False):
        assert criterion._plan.native(y, z) is None
    g = torch.func.grad(lambda zz: criterion(zz, y))(z)
    expected = torch.func.grad(lambda zz: lk.binary_cross_entropy(y, zz, from_logits=True))(z)
    torch.testing.assert_close(g, expected, rtol=0, atol=0)
    summed = lkt.BinaryCrossEntropyLoss(from_logits=True, reduction="sum")
    assert "_bind_binary_cross_entropy" not in summed._plan.native.__qualname__
    torch.testing.assert_close(summed(z, y), lk.binary_cross_entropy(
        y, z, from_logits=True, reduction="sum"), rtol=0, atol=0)


@pytest.mark.parametrize("size", [8, 1023, 1024, 5000])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -1.0, 2.0, 0.5, 1e-30])
def test_zero_one_probe_on_both_sides_of_its_size_switch(size, bad):
    # below _HEAVISIDE_MAX labels the probe is heaviside(y) == y, from it sign(y) == y^2
    # (heaviside is not vectorised: 5x slower at 1e6); both accept 0/1 alone
    from losskit._torch import _zero_one
    labels = torch.tensor([0.0, 1.0] * (size // 2) + [1.0] * (size % 2))
    assert _zero_one(torch, labels)
    assert _zero_one(torch, labels.double())
    labels[size // 3] = bad
    assert not _zero_one(torch, labels)
    assert not _zero_one(torch, labels.double())
