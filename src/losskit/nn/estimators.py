"""scikit-learn estimators: an MLP trained with any losskit loss.

``MLPRegressor`` and ``MLPClassifier`` follow scikit-learn's conventions (``fit`` / ``predict`` /
``predict_proba`` / ``score``, ``get_params`` / ``set_params``, input validation,
``n_features_in_``, ``classes_``) so they work in ``Pipeline``, ``cross_val_score`` and
``GridSearchCV``; training is :class:`losskit.nn.Trainer`'s, and ``history_`` is its
:class:`~losskit.nn.History`. A fit without a progress bar or ``resume`` runs as the batch of
one (:func:`losskit.nn._batched.fit_batched`: the same updates, to float32 rounding, without
importing ``torch.optim``); :func:`fit_many` fits several estimators as one batch.

scikit-learn's ``check_estimator`` passes except the checks listed in
:data:`EXPECTED_FAILED_CHECKS`, with the reason for each.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from losskit._io import atomic_write, atomic_write_bytes, strict_json
from losskit._validation import fail
from losskit.losses import spec_of
from losskit.nn._batched import Member, batchable, fit_batched
from losskit.nn._heads import Head
from losskit.nn._parameters import (
    ESTIMATOR_PARAMETERS,
    REGRESSOR_PARAMETERS,
    check_parameters,
)
from losskit.nn._saved import (
    CONFIG_FILE,
    MODEL_FILE,
    build_model,
    class_probabilities,
    classes_from_config,
    encode_labels,
    evaluate_model,
    raw_outputs,
    read_config,
    regression_values,
    scale_from_config,
)
from losskit.nn.models import MLP
from losskit.nn.trainer import History, Trainer, TrainingDivergedError

__all__ = ["EXPECTED_FAILED_CHECKS", "MLPClassifier", "MLPRegressor", "fit_many"]

#: scikit-learn checks these estimators do not pass, and why (``check_estimator(est,
#: expected_failed_checks=EXPECTED_FAILED_CHECKS)``)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data":
        "minibatch SGD: an integer weight k is not the same as k copies of the sample, "
        "because copies change the minibatches and the number of steps per epoch (the loss "
        "itself does weight exactly, as the losskit loss tests show)",
    "check_sample_weight_equivalence_on_sparse_data":
        "sparse input is not supported (dense tensors only)",
}

_MODEL_FILE = MODEL_FILE
_CONFIG_FILE = CONFIG_FILE


class _BaseMLP(BaseEstimator):
    """Shared parameters, training and persistence (see the subclasses)."""

    _task = "regression"
    #: the parameters checked here, declared (the training ones are the Trainer's)
    __losskit_constraints__ = ESTIMATOR_PARAMETERS

    def __init__(self, loss: Any = "mean_squared_error", *,
                 hidden_layer_sizes: Any = (100,), activation: str = "relu",
                 optimizer: str = "adam", learning_rate: float = 0.001, momentum: float = 0.9,
                 weight_decay: float = 0.0, batch_size: int = 32, epochs: int = 200,
                 lr_schedule: str = "constant", validation_fraction: float = 0.1,
                 early_stopping: bool = True, patience: int = 10, tol: float = 1e-4,
                 clip_grad_norm: float | None = None, metrics: Any = None,
                 init: str = "he_uniform", random_state: Any = None, verbose: Any = "auto",
                 checkpoint_dir: Any = None, divergence_retries: int = 3) -> None:
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.tol = tol
        self.clip_grad_norm = clip_grad_norm
        self.metrics = metrics
        self.init = init
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir
        self.divergence_retries = divergence_retries

    # ------------------------------------------------------------------------------ fit

    def _name(self) -> str:
        return type(self).__name__

    def _hidden(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        check_parameters(self._name(), ESTIMATOR_PARAMETERS, hidden_layer_sizes=sizes)
        return (int(sizes),) if isinstance(sizes, (int, np.integer)) else tuple(
            int(s) for s in sizes)

    def _fit(self, X: np.ndarray, y_enc: np.ndarray, head: Head,
             sample_weight: np.ndarray | None, resume: bool) -> None:
        member = self._member(X, y_enc, head, sample_weight)
        quiet = self.verbose is False or self.verbose == 0 or (
            self.verbose == "auto" and not sys.stderr.isatty())
        if not resume and quiet and batchable(member) is None:
            # the batch of one: the same training, without importing torch.optim (whose
            # first use imports torch._dynamo, about 1.5 s); divergence retries as below
            result = fit_batched([member])[0]
            if isinstance(result, TrainingDivergedError):
                raise self._renamed(result) from None
            if isinstance(result, Exception):
                raise result
            self._finish(member, result)
            return
        try:
            history = member.trainer.fit(member.model, member.X, member.y,
                                         sample_weight=member.sample_weight,
                                         validation_data=member.validation_data,
                                         resume=resume, target_scale=member.target_scale)
        except TrainingDivergedError as error:
            raise self._renamed(error) from None
        self._finish(member, history)

    def _member(self, X: np.ndarray, y_enc: np.ndarray, head: Head,
                sample_weight: np.ndarray | None) -> Member:
        """The network, trainer and data of a fit (trained by :meth:`_fit`, or with others
        by :func:`fit_many`)."""
        vf = self.validation_fraction
        check_parameters(self._name(), ESTIMATOR_PARAMETERS, validation_fraction=vf)
        for attr in ("model_", "history_", "n_iter_", "loss_"):  # a failed fit is no fit
            self.__dict__.pop(attr, None)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        n = X.shape[0]
        n_val = round(vf * n)
        fit_idx = np.arange(n)
        val_idx = None
        if n_val >= 1 and n - n_val >= 2:
            perm = np.random.RandomState(seed).permutation(n)
            val_idx, fit_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        y_enc = self._prepare_targets(y_enc, fit_idx, head)
        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        model = MLP(X.shape[1], head, hidden_layer_sizes=self._hidden(),
                    activation=self.activation, init=self.init, random_state=seed,
                    dtype=dtype)
        # the untrained network predicts the constant model's output (mean, log-mean, prior)
        model.start_at_baseline({"output": y_enc[fit_idx]})
        trainer = Trainer(
            optimizer=self.optimizer, learning_rate=self.learning_rate,
            momentum=self.momentum, weight_decay=self.weight_decay,
            batch_size=min(int(self.batch_size), len(fit_idx)) if isinstance(
                self.batch_size, (int, np.integer)) else self.batch_size,
            epochs=self.epochs, lr_schedule=self.lr_schedule,
            early_stopping=self.early_stopping, patience=self.patience, tol=self.tol,
            clip_grad_norm=self.clip_grad_norm, metrics=self.metrics,
            random_state=seed, verbose=self.verbose, checkpoint_dir=self.checkpoint_dir,
            divergence_retries=self.divergence_retries)
        sw = None if sample_weight is None else sample_weight[fit_idx]
        validation = None
        if val_idx is not None:
            validation = (X[val_idx], y_enc[val_idx],
                          None if sample_weight is None else sample_weight[val_idx])
            if validation[2] is not None and not validation[2].sum() > 0:
                validation = validation[:2]
        scale = self._target_scale()
        self._split = (fit_idx, val_idx)  # rows trained on and held out (for reports)
        return Member(model, trainer, X[fit_idx], y_enc[fit_idx], sw, validation,
                      None if scale is None else {"output": scale})

    def _renamed(self, error: TrainingDivergedError) -> TrainingDivergedError:
        """The same error, in the estimator's name (the model is not kept: no NaN weights)."""
        new = TrainingDivergedError(str(error).replace("Trainer:", f"{self._name()}:", 1))
        new.history, new.epoch, new.loss = error.history, error.epoch, error.loss
        return new

    def _finish(self, member: Member, history: History) -> None:
        """Keep a trained member's model and history as the fitted state."""
        scale = self._target_scale()
        if scale is not None:
            history.settings["target_standardised"] = {
                "mean": [float(v) for v in scale[0]], "scale": [float(v) for v in scale[1]]}
        self.history_ = history
        self.model_ = member.model
        self.n_iter_ = max(len(self.history_), 1)
        self.loss_ = next(iter(member.model.head_specs.values())).spec.name

    def _prepare_targets(self, y_enc: np.ndarray, fit_idx: np.ndarray, head: Head
                         ) -> np.ndarray:
        """The targets the network trains on (the regressor standardises them)."""
        return y_enc

    def _target_scale(self) -> tuple[np.ndarray, np.ndarray] | None:
        return None

    def _raw_predict(self, X: Any) -> torch.Tensor:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return raw_outputs(self.model_, X)

    def _encode_y(self, y: Any) -> np.ndarray:
        return np.asarray(y)

    def evaluate(self, X: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
        """The loss and the history's metrics of the fitted model on ``(X, y)``.

        Returns ``{"loss": ..., "<metric>": ...}`` with the names used in ``history_`` (the
        loss exactly as training computes it, e.g. binary cross-entropy in nats). Everything
        is on the scale of ``y``; for a regressor whose target was standardised
        (``target_mean_`` is set), ``"loss"`` is the loss of the predictions in ``y``'s units
        (e.g. the mean squared error in squared units of ``y``) and ``"loss_standardised"``
        the training objective, on the standardised target, as in ``history_``.
        """
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return evaluate_model(self.model_, X, self._encode_y(y), sample_weight, self.metrics,
                              self._target_scale(), self._name())

    def diagnose(self) -> Any:
        """:func:`losskit.nn.diagnose` of ``history_``."""
        check_is_fitted(self, "history_")
        return self.history_.diagnose()

    # ---------------------------------------------------------------------- persistence

    def save(self, path: str | os.PathLike) -> None:
        """Save to the folder ``path``: ``model.safetensors`` (the weights) and
        ``config.json`` (parameters, classes, history). No pickle: loading runs no code."""
        check_is_fitted(self, "model_")
        from safetensors.torch import save_file

        if callable(self.loss) and not isinstance(self.loss, str) and \
                spec_of(self.loss) is None:
            fail(self._name(), "loss", f"is the callable {getattr(self.loss, '__name__', '?')}"
                 ", which cannot be saved without pickle", "Save models trained with a named "
                 "loss, or keep the callable and the weights (model_.state_dict()) yourself")
        params = self.get_params()
        if not isinstance(params["loss"], str):
            params["loss"] = self.loss_
        params["checkpoint_dir"] = None if self.checkpoint_dir is None else \
            str(self.checkpoint_dir)
        if not isinstance(params["random_state"], (int, np.integer, type(None))):
            params["random_state"] = None  # a RandomState object has no JSON form
        config = {"estimator": self._name(), "params": params,
                  "n_features_in_": int(self.n_features_in_),
                  "model": self.model_.config(), "history": self.history_.to_dict(),
                  "dtype": str(next(self.model_.parameters()).dtype).removeprefix("torch."),
                  **self._extra_config()}
        if hasattr(self, "feature_names_in_"):
            config["feature_names_in_"] = [str(f) for f in self.feature_names_in_]
        # strict JSON, as every file losskit writes: a metric without a value (e.g. ROC AUC of
        # a one-class validation set) is null with its reason beside it, never NaN; the text
        # is made before any file is written, so a config that JSON cannot hold leaves the
        # folder as it was (each file is then replaced atomically, the weights first)
        where = f"{self._name()}.save"
        try:
            text = strict_json(config, where=where, nonfinite="null") + "\n"
        except TypeError as error:
            fail(where, "config", f"holds a value JSON cannot hold ({error})", "Save models "
                 "whose parameters and history are numbers, strings and lists", TypeError)
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.model_.state_dict().items()}
        atomic_write(path / _MODEL_FILE, lambda tmp: save_file(state, tmp))
        atomic_write_bytes(path / _CONFIG_FILE, text)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Any:
        """Load an estimator saved with :meth:`save`."""

        path = Path(path)
        config = read_config(path, f"{cls.__name__}.load")
        if config.get("estimator") != cls.__name__:
            fail(f"{cls.__name__}.load", "path", f"holds a {config.get('estimator')}",
                 f"Load it with {config.get('estimator')}.load")
        params = config["params"]
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        est = cls(**params)
        est._load_extra_config(config)
        est.n_features_in_ = config["n_features_in_"]
        if "feature_names_in_" in config:
            est.feature_names_in_ = np.asarray(config["feature_names_in_"], dtype=object)
        est.model_ = build_model(path, config, f"{cls.__name__}.load")
        est.history_ = History.from_dict(config["history"])
        est.n_iter_ = max(len(est.history_), 1)
        est.loss_ = est.model_.head_specs["output"].spec.name
        return est

    def _extra_config(self) -> dict[str, Any]:
        return {}

    def _load_extra_config(self, config: dict[str, Any]) -> None:
        pass


class MLPRegressor(RegressorMixin, _BaseMLP):
    r"""Multilayer perceptron regressor trained with any losskit regression loss.

    The output layer follows the loss: raw outputs for squared, absolute, Huber and log-cosh
    losses; the log of the mean (exponential output) for ``poisson_nll``, ``gamma_nll`` and
    ``tweedie_deviance``; a mean and a log-variance per target for
    ``gaussian_nll`` (``predict`` gives the mean). The output bias starts at the constant
    model's raw output (:meth:`losskit.nn.MLP.start_at_baseline`: the mean, or the log of the
    mean for the log-link losses).

    The defaults train reliably on real tables without tuning: the target is standardised
    for location-scale losses (``scale_target``), Adam with learning rate 0.001 (as
    scikit-learn's ``MLPRegressor``), and early stopping on the validation loss with the best
    epoch's weights restored. A NaN or infinite loss rolls training back and retries with a
    smaller learning rate (``divergence_retries``), then raises
    :class:`losskit.nn.TrainingDivergedError`; a fitted estimator never holds NaN weights.

    Parameters
    ----------
    loss : str, losskit loss or callable
        ``"mean_squared_error"`` (default, aliases ``"mse"``, ``"squared_error"``),
        ``"mean_absolute_error"``, ``"huber_loss"``, ``"log_cosh_loss"``, ``"poisson_nll"``,
        ``"gamma_nll"``, ``"tweedie_deviance"``, ``"gaussian_nll"``; or a callable
        ``(y_true, y_pred) -> per-sample loss`` of shape ``(n,)`` written with array
        operations (it receives torch tensors of shape ``(n, n_targets)``; autograd
        differentiates it).
    hidden_layer_sizes : tuple of int
    activation : {"relu", "tanh", "logistic", "identity", "gelu"}
    optimizer : {"adam", "sgd", "adamw"}
        Adam (default) or SGD with momentum.
    learning_rate : float
        0.001 by default (suits Adam; SGD usually wants about 0.01).
    momentum : float
        SGD only.
    weight_decay : float
    batch_size : int
    epochs : int
        The most epochs (early stopping usually ends training sooner).
    lr_schedule : {"constant", "step", "exponential", "cosine", "plateau"}
    validation_fraction : float in [0, 1)
        Held out (seeded) to record the validation loss each epoch (used for early stopping
        and the diagnosis); 0 trains on everything.
    early_stopping : bool, default True
        Stop when the validation loss (the training loss without validation data) has not
        improved by ``tol`` for ``patience`` epochs, and restore the best epoch's weights.
    patience : int
    tol : float
        In the units of the training loss (of the standardised target, when it is).
    clip_grad_norm : float, optional
    metrics : list of str, optional
        Recorded each epoch (default RMSE), always on the target's own scale.
    init : {"he_uniform", "glorot_uniform", "torch"}
    random_state : int, RandomState or None
        Seeds the initialisation, the validation split and the shuffling.
    verbose : {"auto", True, False}
        Progress bar (``"auto"``: only in a terminal).
    checkpoint_dir : path, optional
        Write a checkpoint after every epoch; ``fit(..., resume=True)`` continues from it.
    divergence_retries : int, default 3
        How many times a NaN or infinite loss or weight rolls training back to the last good
        epoch and continues with the learning rate divided by 10 (each retry is a
        :class:`~losskit.nn.TrainingDivergedWarning` and an entry of
        ``history_.retries``); then ``fit`` raises :class:`~losskit.nn.TrainingDivergedError`.
    scale_target : {"auto", True, False}, default "auto"
        Train on the standardised target :math:`(y - \bar y) / s` (mean and standard
        deviation of the training rows, per target; saved with the model) and map the
        outputs back in ``predict`` and ``evaluate``. ``"auto"`` does it for the
        location-scale losses — squared, absolute, Huber, log-cosh and ``gaussian_nll`` —
        whose minimiser moves with the target (a prediction :math:`\hat y` on the standardised
        scale is :math:`\bar y + s \hat y` on the original one): the network then learns
        values of order 1 whatever the target's units, and a learning rate suits every table.
        Never for the log-link losses (``poisson_nll``, ``gamma_nll``, ``tweedie_deviance``,
        a negative binomial), whose targets must stay counts or amounts on their own scale
        (their output starts at the log of the mean instead), nor for families and callables
        (``True`` forces it for a callable). Scale-sensitive options are then in standard
        deviations of the target: Huber's ``delta`` (1.0) is one standard deviation, the
        bend of log-cosh is at about one, ``tol`` is in the standardised loss's units.

    Attributes
    ----------
    model_ : losskit.nn.MLP
    history_ : losskit.nn.History
        Losses in the units of the training objective (of the standardised target when it
        is; ``history_.settings["target_standardised"]`` then holds its mean and scale),
        metrics on the target's own scale; ``history_.retries`` lists divergence retries.
    n_iter_ : int
        Epochs run.
    loss_ : str
        The loss used.
    target_mean_, target_scale_ : ndarray of shape (n_targets,) or None
        The standardisation of the target (``None`` when it is not standardised).
    n_features_in_ : int

    Notes
    -----
    ``check_estimator`` passes except :data:`EXPECTED_FAILED_CHECKS` (sample-weight
    equivalence with repeated samples, which minibatch SGD cannot give).

    Examples
    --------
    >>> import numpy as np
    >>> from losskit.nn import MLPRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = 1000 + 300 * (X @ [1.0, -2.0, 0.5]) + 30 * rng.normal(size=200)
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), random_state=0, verbose=False).fit(X, y)
    >>> reg.score(X, y) > 0.9, round(float(reg.target_mean_[0]))
    (True, 965)
    """

    _task = "regression"
    __losskit_constraints__ = REGRESSOR_PARAMETERS

    def __init__(self, loss: Any = "mean_squared_error", *,
                 hidden_layer_sizes: Any = (100,), activation: str = "relu",
                 optimizer: str = "adam", learning_rate: float = 0.001, momentum: float = 0.9,
                 weight_decay: float = 0.0, batch_size: int = 32, epochs: int = 200,
                 lr_schedule: str = "constant", validation_fraction: float = 0.1,
                 early_stopping: bool = True, patience: int = 10, tol: float = 1e-4,
                 clip_grad_norm: float | None = None, metrics: Any = None,
                 init: str = "he_uniform", random_state: Any = None, verbose: Any = "auto",
                 checkpoint_dir: Any = None, divergence_retries: int = 3,
                 scale_target: Any = "auto") -> None:
        super().__init__(loss, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                         optimizer=optimizer, learning_rate=learning_rate, momentum=momentum,
                         weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
                         lr_schedule=lr_schedule, validation_fraction=validation_fraction,
                         early_stopping=early_stopping, patience=patience, tol=tol,
                         clip_grad_norm=clip_grad_norm, metrics=metrics, init=init,
                         random_state=random_state, verbose=verbose,
                         checkpoint_dir=checkpoint_dir, divergence_retries=divergence_retries)
        self.scale_target = scale_target

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, resume: bool = False
            ) -> MLPRegressor:
        """Train on ``X`` (n, n_features) and ``y`` (n,) or (n, n_targets)."""
        self._fit(*self._inputs(X, y, sample_weight), resume)
        return self

    def _inputs(self, X: Any, y: Any, sample_weight: Any
                ) -> tuple[np.ndarray, np.ndarray, Head, np.ndarray | None]:
        """Checked ``X``, encoded targets, the head and the sample weights of a fit."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=[np.float64, np.float32])
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        self._y_ndim = y.ndim
        y2 = y.reshape(y.shape[0], -1).astype(X.dtype, copy=False)
        head = Head(self.loss, task="regression", n_targets=y2.shape[1])
        return X, y2, head, sample_weight

    def _standardises(self, head: Head) -> bool:
        """Whether ``scale_target`` standardises this head's target."""
        st = self.scale_target
        check_parameters(self._name(), REGRESSOR_PARAMETERS, scale_target=st)
        able = head.location_scale
        if isinstance(st, str):
            return able and head.spec.user_fn is None
        if st and not able:
            fail(self._name(), "scale_target", f"is True but the loss {head.spec.name} is not "
                 "a location-scale loss (a log-link loss needs the target on its own scale; a "
                 "family has parameters in the target's units)",
                 "Pass scale_target='auto' or False for this loss")
        return bool(st)

    def _prepare_targets(self, y_enc: np.ndarray, fit_idx: np.ndarray, head: Head
                         ) -> np.ndarray:
        self.target_mean_ = self.target_scale_ = None
        if not self._standardises(head):
            return y_enc
        part = y_enc[fit_idx].astype(np.float64)
        mean = part.mean(axis=0)
        sd = part.std(axis=0)
        # a constant column (or one constant up to rounding, relative to its own size: a
        # target whose values are all tiny, e.g. 1e-30, still varies) keeps its scale
        sd = np.where(np.isfinite(sd) & (sd > 0) & (sd > 1e-12 * np.abs(mean)), sd, 1.0)
        self.target_mean_, self.target_scale_ = mean, sd
        return ((y_enc - mean) / sd).astype(y_enc.dtype, copy=False)

    def _target_scale(self) -> tuple[np.ndarray, np.ndarray] | None:
        mean = getattr(self, "target_mean_", None)
        if mean is None:
            return None
        return np.asarray(mean, dtype=np.float64), np.asarray(self.target_scale_,
                                                              dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted means: shape (n,) for 1-D ``y``, else (n, n_targets), on the scale of
        ``y`` (a standardised target is mapped back)."""
        return regression_values(self._raw_predict(X), self._target_scale(), self._y_ndim)

    def _extra_config(self) -> dict[str, Any]:
        scale = self._target_scale()
        return {"y_ndim": self._y_ndim,
                "target_standardised": None if scale is None else {
                    "mean": [float(v) for v in scale[0]],
                    "scale": [float(v) for v in scale[1]]}}

    def _load_extra_config(self, config: dict[str, Any]) -> None:
        self._y_ndim = config["y_ndim"]
        self.target_mean_, self.target_scale_ = scale_from_config(
            config.get("target_standardised"))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    r"""Multilayer perceptron classifier trained with any losskit classification loss.

    Labels may be of any type (strings, booleans, ±1, integers): like scikit-learn's
    classifiers, the sorted unique labels are ``classes_`` and the network learns their
    indices. The output layer follows the loss: one logit (sigmoid) for two classes with
    ``"cross_entropy"`` (binary cross-entropy), one logit per class (softmax) for more
    (sparse categorical cross-entropy); the activation is applied inside the loss.

    Parameters
    ----------
    loss : str, losskit loss or callable
        ``"cross_entropy"`` (default; aliases ``"log_loss"``, ``"categorical_cross_entropy"``),
        ``"binary_cross_entropy"``, ``"sparse_categorical_cross_entropy"`` (softmax even for
        two classes), ``"binary_focal_loss"``, ``"categorical_focal_loss"``,
        ``"mean_squared_error"`` (of the sigmoid/softmax probabilities: the classic, slower
        choice that saturates; see the diagnosis); or a callable ``(y_true, y_pred) ->
        per-sample loss`` with one-hot ``y_true`` and softmax probabilities ``y_pred`` of
        shape ``(n, n_classes)``.
    hidden_layer_sizes, activation, optimizer, learning_rate, momentum, weight_decay, \
batch_size, epochs, lr_schedule, validation_fraction, early_stopping, patience, tol, \
clip_grad_norm, init, random_state, verbose, checkpoint_dir, divergence_retries
        As :class:`MLPRegressor`: Adam at 0.001 with early stopping on the validation loss
        (best weights restored) by default; the output bias starts at the log class priors.
    metrics : list of str, optional
        Recorded each epoch (default accuracy).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    model_ : losskit.nn.MLP
    history_ : losskit.nn.History
    n_iter_ : int
    loss_ : str
    n_features_in_ : int

    Notes
    -----
    ``check_estimator`` passes except :data:`EXPECTED_FAILED_CHECKS`.

    Examples
    --------
    >>> import numpy as np
    >>> from losskit.nn import MLPClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2))
    >>> y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), epochs=10, learning_rate=0.1,
    ...                     random_state=0).fit(X, y)
    >>> clf.classes_
    array(['no', 'yes'], dtype='<U3')
    >>> clf.score(X, y) > 0.9
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _task = "classification"

    def __init__(self, loss: Any = "cross_entropy", *, hidden_layer_sizes: Any = (100,),
                 activation: str = "relu", optimizer: str = "adam",
                 learning_rate: float = 0.001, momentum: float = 0.9, weight_decay: float = 0.0,
                 batch_size: int = 32, epochs: int = 200, lr_schedule: str = "constant",
                 validation_fraction: float = 0.1, early_stopping: bool = True,
                 patience: int = 10, tol: float = 1e-4, clip_grad_norm: float | None = None,
                 metrics: Any = None, init: str = "he_uniform", random_state: Any = None,
                 verbose: Any = "auto", checkpoint_dir: Any = None,
                 divergence_retries: int = 3) -> None:
        super().__init__(loss, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                         optimizer=optimizer, learning_rate=learning_rate, momentum=momentum,
                         weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
                         lr_schedule=lr_schedule, validation_fraction=validation_fraction,
                         early_stopping=early_stopping, patience=patience, tol=tol,
                         clip_grad_norm=clip_grad_norm, metrics=metrics, init=init,
                         random_state=random_state, verbose=verbose,
                         checkpoint_dir=checkpoint_dir, divergence_retries=divergence_retries)

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, resume: bool = False
            ) -> MLPClassifier:
        """Train on ``X`` (n, n_features) and labels ``y`` (n,) of any type."""
        self._fit(*self._inputs(X, y, sample_weight), resume)
        return self

    def _inputs(self, X: Any, y: Any, sample_weight: Any
                ) -> tuple[np.ndarray, np.ndarray, Head, np.ndarray | None]:
        """Checked ``X``, class indices, the head and the sample weights of a fit."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            fail(self._name(), "y", f"has 1 class ({self.classes_[0]!r}) only",
                 "Pass data with at least two classes")
        head = Head(self.loss, task="classification", n_classes=len(self.classes_))
        return X, y_enc.astype(np.int64), head, sample_weight

    def _encode_y(self, y: Any) -> np.ndarray:
        return encode_labels(f"{self._name()}.evaluate", self.classes_, y)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in the order of ``classes_``."""
        return class_probabilities(self._raw_predict(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label for each sample."""
        proba = self.predict_proba(X)  # checks that the model is fitted
        return self.classes_[np.argmax(proba, axis=1)]

    def _extra_config(self) -> dict[str, Any]:
        return {"classes_": {"dtype": self.classes_.dtype.str if self.classes_.dtype != object
                             else "object", "values": self.classes_.tolist()}}

    def _load_extra_config(self, config: dict[str, Any]) -> None:
        self.classes_ = classes_from_config(config["classes_"])



def fit_many(estimators: list[Any], data: list[tuple[Any, ...]], *, batched: bool = True,
             epoch_metrics: bool = False,
             on_epoch: Callable[[int, int, int], Any] | None = None
             ) -> list[Exception | None]:
    """Fit several :class:`MLPRegressor`/:class:`MLPClassifier` at once, as one batch.

    ``estimators[i].fit(*data[i])`` for every ``i`` — the same weights, histories and
    errors — but the networks of the same architecture and settings train as one stacked
    model (:func:`losskit.nn._batched.fit_batched`), which for small networks takes about
    the time of one fit. ``batched=False`` fits them one after the other.

    Parameters
    ----------
    estimators : list of MLPRegressor or MLPClassifier
    data : list of tuples
        ``(X, y)`` or ``(X, y, sample_weight)`` per estimator.
    batched : bool
    epoch_metrics : bool
        Record the metrics in every row of ``history_`` (as ``fit`` does); ``False`` (the
        default) records them in the last row only: faster when the history is not read.
    on_epoch : callable, optional
        ``on_epoch(epoch, epochs, finished)`` after each epoch of a batch (see
        :func:`~losskit.nn._batched.fit_batched`; not called with ``batched=False``).

    Returns
    -------
    list of Exception or None
        Per estimator: ``None`` when it was fitted, else the exception ``fit`` would have
        raised (it is not raised: the other fits go on).

    Examples
    --------
    >>> import numpy as np
    >>> from losskit.nn import MLPClassifier
    >>> from losskit.nn.estimators import fit_many
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> models = [MLPClassifier(loss, hidden_layer_sizes=(4,), epochs=3, random_state=0,
    ...                         verbose=False) for loss in ("cross_entropy", "hinge_loss")]
    >>> fit_many(models, [(X, y), (X, y)])
    [None, None]
    >>> [len(m.history_) for m in models]
    [3, 3]
    """
    if len(estimators) != len(data):
        fail("fit_many", "data", f"has {len(data)} entries for {len(estimators)} estimators",
             "Pass one (X, y) or (X, y, sample_weight) per estimator")
    errors: list[Exception | None] = [None] * len(estimators)
    members: list[Member] = []
    owners: list[int] = []
    for i, (est, args) in enumerate(zip(estimators, data, strict=True)):
        try:
            X, y, head, sw = est._inputs(*args[:2], args[2] if len(args) > 2 else None)
            if not batched:
                est._fit(X, y, head, sw, False)
                continue
            members.append(est._member(X, y, head, sw))
            owners.append(i)
        except Exception as error:  # recorded for the caller, like a failed fit
            errors[i] = error
    results = fit_batched(members, epoch_metrics=epoch_metrics, on_epoch=on_epoch) \
        if members else []
    for i, member, result in zip(owners, members, results, strict=True):
        est = estimators[i]
        if isinstance(result, TrainingDivergedError):
            errors[i] = est._renamed(result)
        elif isinstance(result, Exception):
            errors[i] = result
        else:
            est._finish(member, result)
    return errors
