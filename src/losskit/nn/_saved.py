"""A saved network read back for predictions — without torch and scikit-learn.

:class:`SavedModel` is what ``losskit predict`` and ``losskit evaluate`` load: the network
(a :class:`~losskit.nn._numpy_mlp.NumpyMLP`: the saved MLP computed in NumPy), its classes or
target standardisation, and the same ``predict``, ``predict_proba`` and ``evaluate`` as the
fitted :class:`~losskit.nn.MLPClassifier` / :class:`~losskit.nn.MLPRegressor` (which call the
same functions below on their torch network), importing only NumPy and safetensors. Importing
scikit-learn (and SciPy through it) took about as long as importing torch, and importing torch
two thirds of a ``losskit predict``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from losskit._validation import fail
from losskit.nn._evaluation import checked_arrays, compat_namespace, evaluate_on_target_scale
from losskit.nn._heads import heads_from_config, metric_function, no_grad, upgrade_state
from losskit.nn._numpy_mlp import NumpyMLP, check_finite_weights

if TYPE_CHECKING:
    import torch

    from losskit.nn.models import MLP

__all__ = ["SavedModel"]

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"

_COMMON = ("activation", "batch_size", "checkpoint_dir", "clip_grad_norm",
           "divergence_retries", "early_stopping", "epochs", "hidden_layer_sizes", "init",
           "learning_rate", "loss", "lr_schedule", "metrics", "momentum", "optimizer",
           "patience", "random_state", "tol", "validation_fraction", "verbose", "weight_decay")
#: the estimators' parameter names (``get_params``), for checking a saved ``config.json``
#: without importing scikit-learn (a test keeps them equal to the estimators')
PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "MLPClassifier": _COMMON, "MLPRegressor": tuple(sorted((*_COMMON, "scale_target")))}


def build_model(path: Path, config: dict[str, Any], func: str) -> MLP:
    """The network of a saved model: its architecture from ``config``, its weights from
    ``model.safetensors`` (refused when not all finite)."""
    import torch
    from safetensors.torch import load_file

    from losskit.nn.models import MLP

    m = config["model"]
    heads = heads_from_config(m["heads"])
    model = MLP(m["n_features"], heads, hidden_layer_sizes=m["hidden_layer_sizes"],
                activation=m["activation"], init=m["init"],
                uncertainty_weighting=m["uncertainty_weighting"], random_state=0,
                dtype=getattr(torch, config["dtype"]))
    # models saved before the heads read their families: gaussian_nll's (mean, log sd) blocks
    state = upgrade_state(m["heads"], load_file(str(path / MODEL_FILE)))
    check_finite_weights(func, "path", path, state)
    model.load_state_dict(state)
    model.eval()
    return model


def read_config(path: Path, func: str) -> dict[str, Any]:
    """The parsed ``config.json`` of a saved model folder (an error when either file is
    missing)."""
    if not (path / CONFIG_FILE).exists() or not (path / MODEL_FILE).exists():
        fail(func, "path", f"{str(path)!r} has no {CONFIG_FILE} and {MODEL_FILE}",
             "Pass a folder written by save()")
    return json.loads((path / CONFIG_FILE).read_text())


def raw_outputs(model: MLP | NumpyMLP, X: np.ndarray) -> torch.Tensor | np.ndarray:
    """The first head's predictions (activated outputs) of a checked 2-D array."""
    if isinstance(model, NumpyMLP):
        with np.errstate(over="ignore", invalid="ignore"):  # reported by the callers
            return model.predict(np.asarray(X).astype(model.dtype, copy=False))["output"]
    import torch

    dtype = next(model.parameters()).dtype
    model.eval()
    with torch.no_grad():
        out = model.predict(torch.as_tensor(np.array(X), dtype=dtype))
    return out["output"]


def _float64(pred: torch.Tensor | np.ndarray) -> np.ndarray:
    return pred.astype(np.float64) if isinstance(pred, np.ndarray) else pred.double().numpy()


def class_probabilities(pred: torch.Tensor | np.ndarray) -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` as float64 rows summing to 1."""
    p = _float64(pred)
    return p / p.sum(axis=1, keepdims=True)


def regression_values(pred: torch.Tensor | np.ndarray,
                      scale: tuple[np.ndarray, np.ndarray] | None, y_ndim: int) -> np.ndarray:
    """Predictions on the target's own scale, ``(n,)`` for a 1-D target."""
    values = _float64(pred)
    if scale is not None:
        values = scale[0] + scale[1] * values
    return values[:, 0] if y_ndim == 1 else values


def classes_from_config(c: dict[str, Any]) -> np.ndarray:
    return np.asarray(c["values"], dtype=object if c["dtype"] == "object"
                      else np.dtype(c["dtype"]))


def scale_from_config(std: dict[str, Any] | None
                      ) -> tuple[np.ndarray | None, np.ndarray | None]:
    if std is None:
        return None, None
    return (np.asarray(std["mean"], dtype=np.float64),
            np.asarray(std["scale"], dtype=np.float64))


def encode_labels(func: str, classes: np.ndarray, y: Any) -> np.ndarray:
    """Labels -> their indices in ``classes`` (an error names an unseen label)."""
    y = np.asarray(y)
    if y.ndim != 1:
        fail(func, "y", f"has shape {y.shape}", "Pass labels (n,)")
    index = {label: i for i, label in enumerate(classes.tolist())}
    unknown = [v for v in y.tolist() if v not in index]
    if unknown:
        fail(func, "y", f"has labels not seen in training ({unknown[0]!r}; classes: "
             f"{classes.tolist()})", "Evaluate on data with the training classes")
    return np.asarray([index[v] for v in y.tolist()], dtype=np.int64)


def evaluate_model(model: MLP | NumpyMLP, X: np.ndarray, y: np.ndarray, sample_weight: Any,
                   metrics: Sequence[Any] | None, scale: tuple[np.ndarray, np.ndarray] | None,
                   func: str) -> dict[str, float]:
    """The loss and metrics of a network on ``(X, y)`` (``y`` encoded), on the target's own
    scale: see :meth:`losskit.nn.MLPRegressor.evaluate`. One evaluation for the torch
    network (the estimators) and the NumPy one (``losskit evaluate``): the trainer's."""
    names = metrics if metrics is not None else model.head_specs["output"].default_metrics
    fns = [metric_function(func, m) for m in names]
    if isinstance(model, NumpyMLP):
        xp, dtype = compat_namespace("numpy"), model.dtype
    else:
        xp, dtype = compat_namespace("torch"), next(model.parameters()).dtype
        model.eval()
    X, Y, w = checked_arrays(model, X, y, sample_weight, xp=xp, dtype=dtype, func=func)
    # a loss or metric that is inf is reported as such; NumPy need not warn of it
    with no_grad(X), np.errstate(all="ignore"):
        return evaluate_on_target_scale(model, model(X), Y, w, fns, scale, func)


class SavedModel:
    """A model folder written by :meth:`MLPRegressor.save <losskit.nn.MLPRegressor.save>`
    (or the classifier's), for predictions: ``predict``, ``predict_proba`` (classifier) and
    ``evaluate``, as the estimator itself gives them.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from losskit.nn import MLPClassifier
    >>> from losskit.nn._saved import SavedModel
    >>> X = np.random.default_rng(0).normal(size=(40, 2))
    >>> clf = MLPClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0,
    ...                     verbose=False).fit(X, X[:, 0] > 0)
    >>> folder = tempfile.mkdtemp()
    >>> clf.save(folder)
    >>> saved = SavedModel.load(folder)
    >>> bool(np.allclose(saved.predict_proba(X), clf.predict_proba(X), rtol=1e-6, atol=0))
    True
    """

    def __init__(self, model: NumpyMLP, config: dict[str, Any]) -> None:
        self.model_ = model
        self.estimator = config["estimator"]
        self.classifier = self.estimator == "MLPClassifier"
        self.n_features_in_ = int(config["n_features_in_"])
        self.metrics = config["params"].get("metrics")
        self.loss_ = model.head_specs["output"].spec.name
        if self.classifier:
            self.classes_ = classes_from_config(config["classes_"])
        else:
            self._y_ndim = config["y_ndim"]
            self.target_mean_, self.target_scale_ = scale_from_config(
                config.get("target_standardised"))

    @classmethod
    def load(cls, path: Any, config: dict[str, Any] | None = None) -> SavedModel:
        """Read the folder ``path`` (``config``: its parsed ``config.json``, if at hand)."""
        path = Path(path)
        if config is None:
            config = read_config(path, "SavedModel.load")
        if config.get("estimator") not in ("MLPClassifier", "MLPRegressor"):
            fail("SavedModel.load", "path", f"holds a {config.get('estimator')}",
                 "Pass a folder written by MLPClassifier.save or MLPRegressor.save")
        return cls(NumpyMLP.load(path, config, f"{config['estimator']}.load"), config)

    def _check(self, X: Any) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            fail(self.estimator, "X", f"has shape {X.shape}",
                 f"Pass {self.n_features_in_} feature column(s)")
        if X.shape[0] == 0:  # as the fitted estimator refuses it
            fail(self.estimator, "X", f"has no rows (shape {X.shape})",
                 f"Pass at least one sample of {self.n_features_in_} feature(s)")
        return X

    def _scale(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.classifier or self.target_mean_ is None:
            return None
        return self.target_mean_, self.target_scale_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` (a classifier's)."""
        if not self.classifier:
            fail(self.estimator, "predict_proba", "is a classifier's", "Use predict")
        return class_probabilities(raw_outputs(self.model_, self._check(X)))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (classifier) or values on the target's own scale."""
        if self.classifier:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return regression_values(raw_outputs(self.model_, self._check(X)), self._scale(),
                                 self._y_ndim)

    def evaluate(self, X: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
        """The loss and metrics on ``(X, y)`` (see ``MLPRegressor.evaluate``)."""
        X = self._check(X)
        if self.classifier:
            y = encode_labels(f"{self.estimator}.evaluate", self.classes_, y)
        else:
            y = np.asarray(y)
        return evaluate_model(self.model_, X, y, sample_weight, self.metrics, self._scale(),
                              self.estimator)
