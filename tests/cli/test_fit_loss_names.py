"""losskit fit --loss: a losskit loss the MLP cannot train is named as such (what kind of loss
it is, where to use it instead, what fit trains), not answered with unrelated suggestions."""

import numpy as np
import pytest

pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

from losskit.cli import main  # noqa: E402
from losskit.losses import loss_specs  # noqa: E402
from losskit.nn._heads import ALIASES, LOSS_HEADS  # noqa: E402

TRAINABLE = {*LOSS_HEADS, *ALIASES, "cross_entropy"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("fit") / "d.csv"
    pd.DataFrame({"x": rng.normal(size=40), "y": rng.normal(size=40)}).to_csv(path, index=False)
    return path


def _fit_error(data, tmp_path, capsys, loss):
    out = tmp_path / "o"
    assert main(["fit", str(data), "--target", "y", "--loss", loss, "--epochs", "1",
                 "--out", str(out)]) == 2
    assert not out.exists() or not any(out.iterdir())
    err = capsys.readouterr().err
    assert err.startswith(f"losskit fit: error: --loss is {loss!r}")
    return err


@pytest.mark.parametrize("loss,kind,criterion", [
    ("ctc_loss", "a sequence loss", "losskit.torch.CtcLoss"),
    ("ctc", "a sequence loss", "losskit.torch.CtcLoss"),  # an alias of ctc_loss
    ("ntxent", "a contrastive loss", "losskit.torch.NtxentLoss"),
    ("circle_loss", "a contrastive loss", "losskit.torch.CircleLoss"),
    ("ranking_softmax_loss", "a ranking loss", "losskit.torch.RankingSoftmaxLoss"),
    ("pairwise_hinge_loss", "a ranking loss", "losskit.torch.PairwiseHingeLoss"),
    ("triplet_margin_loss", "an embedding loss", None),  # no criterion (no target)
    ("cosine_embedding_loss", "an embedding loss", "losskit.torch.CosineEmbeddingLoss"),
    ("dice_loss", "an overlap loss", "losskit.torch.DiceLoss"),
])
def test_a_known_loss_fit_cannot_train_says_so(data, tmp_path, capsys, loss, kind, criterion):
    err = _fit_error(data, tmp_path, capsys, loss)
    name = "ctc_loss" if loss == "ctc" else loss
    assert f", {kind} " in err and "that losskit's MLP cannot train" in err
    where = f"lk.{name}" + (f" or {criterion}" if criterion else "")
    assert f"Use it in your own model through {where}. " in err
    assert "Did you mean" not in err  # no unrelated suggestion (it was 'log_loss' for ctc)
    assert "The losses fit can train: " in err and "mean_squared_error" in err


def test_every_untrainable_loss_gets_the_plain_answer(data, tmp_path, capsys):
    untrainable = sorted(set(loss_specs()) - TRAINABLE)
    assert "ctc_loss" in untrainable and "linear_cross_entropy" in untrainable
    for loss in untrainable:
        err = _fit_error(data, tmp_path, capsys, loss)
        assert "that losskit's MLP cannot train" in err, loss
        assert f"lk.{loss}" in err and "Did you mean" not in err, loss


def test_another_name_of_a_trainable_loss_names_the_one_to_pass(data, tmp_path, capsys):
    err = _fit_error(data, tmp_path, capsys, "l2")
    assert "'l2', another name of mean_squared_error, which fit knows by that name. Pass " \
        "--loss mean_squared_error" in err


def test_a_misspelt_name_still_gets_suggestions(data, tmp_path, capsys):
    err = _fit_error(data, tmp_path, capsys, "huber_los")
    assert "which losskit fit cannot train. Did you mean 'huber_loss'" in err
