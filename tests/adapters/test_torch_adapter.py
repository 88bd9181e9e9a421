"""losskit.torch: criteria for every catalogue loss, in a plain loop, under torch.compile, as
skorch's criterion and inside a Lightning module."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import losskit as lk
from adapter_cases import adapter_cases, doc_example
from losskit._adapters import catalogue

torch = pytest.importorskip("torch")
lkt = pytest.importorskip("losskit.torch")

CASES = adapter_cases(np.random.default_rng(0))


def _tensors(name):
    y, raw, options = CASES[name]
    return torch.from_numpy(y), torch.from_numpy(raw).requires_grad_(True), options


def test_a_named_criterion_for_every_catalogue_loss():
    assert set(lkt.CRITERIA) == set(catalogue()) == set(CASES)
    for loss, cls in lkt.CRITERIA.items():
        assert getattr(lkt, cls.__name__) is cls and cls.__name__ in lkt.__all__
        assert issubclass(cls, lkt.Loss) and issubclass(cls, torch.nn.Module)
        assert cls.__name__.endswith("Loss") and loss in cls.__doc__
    assert lkt.CRITERIA["gaussian_nll"].__name__ == "GaussianNLLLoss"


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_criterion_is_its_function_with_autograd(name):
    y, raw, options = _tensors(name)
    criterion = lkt.CRITERIA[name](**options)
    value = criterion(raw, y)  # PyTorch's order: prediction, target
    value.backward()
    fn = catalogue()[name]
    expected = fn(y.numpy(), raw.detach().numpy(), **options)
    np.testing.assert_allclose(value.item(), expected, rtol=1e-12)
    np.testing.assert_allclose(raw.grad.numpy(), lk.gradient(
        fn, y.numpy(), raw.detach().numpy(), **options), rtol=1e-7, atol=1e-12)
    assert lkt.Loss(name, **options)(raw, y).item() == value.item()


def test_reduction_sample_weight_and_the_torch_convention():
    y, raw, _ = _tensors("binary_cross_entropy")
    w = torch.linspace(0.5, 2.0, len(y))[:, None][:, 0]
    bce = lkt.BinaryCrossEntropyLoss(from_logits=True, reduction="none")
    assert bce(raw, y).shape == (len(y),)
    ours = lkt.BinaryCrossEntropyLoss(from_logits=True, convention="torch")(raw, y, w)
    theirs = torch.nn.BCEWithLogitsLoss(weight=w[:, None])(raw, y)  # sum(w l) / n
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)
    losskit_mean = lkt.BinaryCrossEntropyLoss(from_logits=True)(raw, y, w)
    np.testing.assert_allclose(losskit_mean.item(), (bce(raw, y) * w).sum().item()
                               / w.sum().item(), rtol=1e-12)

    labels, logits, _ = _tensors("sparse_categorical_cross_entropy")
    weight = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)
    ce = lkt.SparseCategoricalCrossEntropyLoss(from_logits=True, class_weight=weight,
                                               convention="torch")
    np.testing.assert_allclose(ce(logits, labels).item(), torch.nn.CrossEntropyLoss(
        weight=weight)(logits, labels).item(), rtol=1e-12)
    assert "class_weight" in dict(ce.named_buffers())  # moved by .to(device)
    assert ce.to(torch.float32).class_weight.dtype == torch.float32


def test_construction_checks_the_options_with_losskits_messages():
    with pytest.raises(ValueError, match=r"Loss: loss is 'hubber_loss', not a catalogue loss"):
        lkt.Loss("hubber_loss")
    with pytest.raises(TypeError, match=r"HuberLoss: gamma is not an option of huber_loss. "
                                        r"Options of huber_loss: delta, check_values"):
        lkt.HuberLoss(gamma=2.0)
    with pytest.raises(ValueError, match=r"binary_focal_loss: gamma must be a number in"):
        lkt.BinaryFocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        lkt.HuberLoss(reduction="batchmean")
    with pytest.raises(TypeError, match=r"sample_weight is given at call time"):
        lkt.MeanSquaredErrorLoss(sample_weight=[1.0])
    with pytest.raises(TypeError, match=r"convention is not an option of gamma_nll"):
        lkt.GammaNLLLoss(convention="torch")
    # bad data still raises at call time, as the function does
    with pytest.raises(ValueError, match=r"binary_cross_entropy: y_pred has values outside"):
        lkt.BinaryCrossEntropyLoss()(torch.tensor([1.5]), torch.tensor([1.0]))


def test_criteria_pickle_copy_and_print():
    criterion = lkt.BinaryFocalLoss(gamma=1.5, from_logits=True)
    assert repr(criterion) == "BinaryFocalLoss(binary_focal_loss, gamma=1.5, from_logits=True)"
    for clone in (pickle.loads(pickle.dumps(criterion)), copy.deepcopy(criterion)):
        assert type(clone) is lkt.BinaryFocalLoss and clone.options == criterion.options


def test_a_plain_training_loop_matches_pytorchs_own_criterion():
    torch.manual_seed(0)
    X, y = torch.randn(64, 3), torch.randn(64, 1)
    trajectories = []
    for criterion in (lkt.HuberLoss(delta=0.5), torch.nn.HuberLoss(delta=0.5)):
        torch.manual_seed(1)
        model = torch.nn.Linear(3, 1)
        optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
        losses = []
        for _ in range(20):
            optimiser.zero_grad()
            loss = criterion(model(X), y)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        trajectories.append(losses)
    np.testing.assert_allclose(trajectories[0], trajectories[1], rtol=1e-6)
    assert trajectories[0][-1] < trajectories[0][0]


COMPILED = ["mean_squared_error", "binary_cross_entropy", "sparse_categorical_cross_entropy",
            "binary_focal_loss", "huber_loss"]


@pytest.mark.parametrize("name", COMPILED)
def test_fullgraph_compile_without_value_checks(name):
    y, raw, options = _tensors(name)
    criterion = lkt.CRITERIA[name](check_values=False, **options)
    # the "eager" backend: dynamo traces (and fails on any graph break) without generating
    # kernels, which takes seconds per loss on 2 cores; the benchmark runs inductor
    compiled = torch.compile(criterion, fullgraph=True, backend="eager")
    value = compiled(raw, y)
    value.backward()
    fn = catalogue()[name]
    np.testing.assert_allclose(value.item(), fn(y.numpy(), raw.detach().numpy(), **options),
                               rtol=1e-6)
    np.testing.assert_allclose(raw.grad.numpy(), lk.gradient(
        fn, y.numpy(), raw.detach().numpy(), **options), rtol=1e-6, atol=1e-9)


def test_compile_with_value_checks_on_still_checks_but_cannot_be_fullgraph():
    y, raw, _ = _tensors("mean_squared_error")
    criterion = lkt.MeanSquaredErrorLoss()  # checks on (the default): a host read per call
    raw = raw.detach()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dynamo's notes on the graph breaks
        torch._dynamo.reset()  # compiled frames are cached per code object, not per mode
        with pytest.raises(Exception, match=r"data-dependent|graph break|Unsupported"):
            torch.compile(criterion, fullgraph=True, backend="eager")(raw, y)
        torch._dynamo.reset()
        compiled = torch.compile(criterion, backend="eager")
        np.testing.assert_allclose(compiled(raw, y).item(), criterion(raw, y).item(),
                                   rtol=1e-6)
        with pytest.raises(ValueError, match=r"mean_squared_error: y_pred has NaN"):
            compiled(raw * torch.nan, y)


def test_skorch_criterion():
    skorch = pytest.importorskip("skorch", reason="skorch is not installed (test extra)")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)

    net = skorch.NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=-1)),
        criterion=lkt.SparseCategoricalCrossEntropyLoss, criterion__label_smoothing=0.05,
        max_epochs=8, lr=0.5, batch_size=40, train_split=None, verbose=0)
    net.fit(X, y)
    assert isinstance(net.criterion_, lkt.SparseCategoricalCrossEntropyLoss)
    assert net.criterion_.options == {"label_smoothing": 0.05}
    losses = net.history[:, "train_loss"]
    assert losses[-1] < 0.8 * losses[0]
    assert (net.predict(X) == y).mean() > 0.7


def test_inside_a_lightning_module(tmp_path):
    pl = pytest.importorskip("pytorch_lightning",
                             reason="pytorch-lightning is not installed (test extra)")

    class Regressor(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(2, 1)
            self.criterion = lkt.PoissonNLLLoss()  # log-rate outputs

        def training_step(self, batch, _):
            x, counts = batch
            loss = self.criterion(self.net(x), counts)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    x = torch.randn(64, 2)
    counts = torch.poisson(torch.exp(0.5 * x[:, :1] - 0.3 * x[:, 1:]))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, counts),
                                         batch_size=16)
    model = Regressor()
    trainer = pl.Trainer(max_epochs=5, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path, accelerator="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice on num_workers
        trainer.fit(model, loader)
    final = lk.poisson_nll(counts, model.net(x).detach()).item()
    start = lk.poisson_nll(counts, torch.zeros_like(counts)).item()
    assert trainer.callback_metrics["train_loss"].item() < start and final < start


def test_the_docs_example_runs(capsys):
    exec(compile(doc_example("torch.md"), "docs/torch.md", "exec"), {})
    assert "BinaryFocalLoss(binary_focal_loss, gamma=2.0, from_logits=True)" in \
        capsys.readouterr().out


@pytest.mark.parametrize(("family", "case"), [("poisson", "poisson_nll"),
                                              ("bernoulli", "binary_cross_entropy"),
                                              (lk.families.Gamma(shape=2.0), "gamma_nll")])
def test_a_criterion_from_a_family_is_the_familys_nll(family, case):
    y, raw, _ = _tensors(case)
    fam = lk.family(family) if isinstance(family, str) else family
    criterion = lkt.Loss.from_family(family)
    assert type(criterion) is lkt.CRITERIA[fam.loss_name]
    np.testing.assert_allclose(criterion(raw, y).item(), fam.loss(y, raw).item(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"from_family|splits its raw outputs"):
        lkt.Loss.from_family("heteroscedastic_gaussian")


def test_per_batch_options_reach_the_loss_ctc_lengths_as_torch_ctcloss():
    """Options that change with each batch (CTC's lengths) are given to the call, as to
    ``nn.CTCLoss``: the value and the gradient are PyTorch's."""
    import losskit.torch as lt

    torch.manual_seed(0)
    T, N, C, S = 12, 3, 5, 4
    logits = torch.randn(T, N, C, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(1, C, (N, S))
    input_lengths, target_lengths = torch.tensor([12, 10, 7]), torch.tensor([4, 2, 3])
    ours = lt.CtcLoss(convention="torch")(logits.log_softmax(-1), targets,
                                          input_lengths=input_lengths,
                                          target_lengths=target_lengths)
    (ours_grad,) = torch.autograd.grad(ours, logits)
    theirs = torch.nn.CTCLoss()(logits.log_softmax(-1), targets, input_lengths, target_lengths)
    (theirs_grad,) = torch.autograd.grad(theirs, logits)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-8, atol=1e-10)


def test_per_batch_options_are_checked():
    import losskit.torch as lt

    y, z = torch.tensor([1.0, 0.0]), torch.tensor([0.3, -0.2])
    with pytest.raises(TypeError, match="bogus is not an option of binary_cross_entropy"):
        lt.BinaryCrossEntropyLoss()(z, y, bogus=1)
    with pytest.raises(TypeError, match="reduction is set at construction"):
        lt.BinaryCrossEntropyLoss()(z, y, reduction="sum")
    with pytest.raises(TypeError, match="from_logits was already given at construction"):
        lt.BinaryCrossEntropyLoss(from_logits=True)(z, y, from_logits=True)
    # an option not fixed at construction may be given per call
    got = lt.BinaryCrossEntropyLoss()(z, y, from_logits=True)
    torch.testing.assert_close(
        got, torch.nn.functional.binary_cross_entropy_with_logits(z, y))
