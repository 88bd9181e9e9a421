"""Model folders checked before use: ``config.json`` against a schema, ``model.safetensors``'s
header against the config, every file regular, every weight finite.

A folder written by ``losskit fit`` (or ``MLP*.save``) is data from outside: it may be damaged,
truncated or crafted. :func:`check_model_folder` reads it without trusting it — no file is
opened unless it is a regular file (a FIFO would block the reader forever), no JSON deeper than
:data:`MAX_DEPTH`, no network larger than the weights file actually holds (so a config cannot
make the loader allocate gigabytes) — and fails with one clear message per problem before
:meth:`losskit.nn.MLPClassifier.load` builds anything.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import stat
import struct
from pathlib import Path
from typing import Any

from losskit._io import file_kind
from losskit._validation import fail

__all__ = ["MAX_CONFIG_BYTES", "MAX_DEPTH", "check_model_folder", "read_regular_file",
           "safetensors_header"]

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
#: largest config.json read (bytes)
MAX_CONFIG_BYTES = 64 * 2**20
#: deepest nesting of JSON objects/lists accepted in config.json
MAX_DEPTH = 32
_MAX_HEADER_BYTES = 100 * 2**20
_DTYPES = {"F32": ("float32", 4), "F64": ("float64", 8)}
_ACTIVATIONS = ("relu", "tanh", "logistic", "identity", "gelu")
_INITS = ("he_uniform", "glorot_uniform", "torch")
_ESTIMATORS = ("MLPClassifier", "MLPRegressor")


def _regular_file_stat(command: str, argument: str, path: Path) -> os.stat_result:
    """``os.lstat(path)`` of a file of a model folder that exists and is a regular file (not
    a FIFO, device, socket or symbolic link)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        fail(command, argument, f"has no {path.name} ({str(path)!r} does not exist)",
             "Pass a folder written by losskit fit")
    except OSError as error:
        fail(command, argument, f"{str(path)!r} cannot be read ({error.strerror})",
             "Pass a folder written by losskit fit")
    if not stat.S_ISREG(st.st_mode):
        fail(command, argument, f"holds {path.name} as {file_kind(st.st_mode)}, not a regular "
             "file", "Pass a folder written by losskit fit")
    return st


def read_regular_file(command: str, argument: str, path: Path, *, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a FIFO, device, socket or symbolic
    link) of at most ``limit`` bytes; opened without blocking and without following links."""
    st = _regular_file_stat(command, argument, path)
    if st.st_size > limit:
        fail(command, argument, f"holds a {path.name} of {st.st_size} bytes (at most {limit} "
             "expected)", "Pass a folder written by losskit fit")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        fail(command, argument, f"{str(path)!r} cannot be read ({error.strerror})",
             "Pass a folder written by losskit fit")
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # swapped since the lstat
            fail(command, argument, f"holds {path.name} that is not a regular file",
                 "Pass a folder written by losskit fit")
        return fh.read(limit + 1)


def _depth(x: Any) -> int:
    """Nesting depth of parsed JSON (iterative: no recursion limit to hit)."""
    deepest, stack = 0, [(x, 1)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, d)
            if d > MAX_DEPTH:
                return d
            stack.extend((v, d + 1) for v in (item.values() if isinstance(item, dict)
                                               else item))
    return deepest


def _load_json(command: str, argument: str, data: bytes, name: str) -> Any:
    def reject_constant(token: str) -> Any:
        fail(command, argument, f"holds a {name} with {token}, which is not JSON",
             "Pass a folder written by losskit fit")

    try:
        value = json.loads(data.decode("utf-8"), parse_constant=reject_constant)
    except RecursionError:
        fail(command, argument, f"holds a {name} nested too deeply", "Pass a folder written "
             "by losskit fit")
    except UnicodeDecodeError:
        fail(command, argument, f"holds a {name} that is not UTF-8 text",
             "Pass a folder written by losskit fit")
    except json.JSONDecodeError as error:
        fail(command, argument, f"holds a {name} that is not valid JSON ({error.msg} at line "
             f"{error.lineno}, column {error.colno})", "Pass a folder written by losskit fit")
    if _depth(value) > MAX_DEPTH:
        fail(command, argument, f"holds a {name} nested more than {MAX_DEPTH} levels deep",
             "Pass a folder written by losskit fit")
    return value


class _Schema:
    """Typed look-ups into config.json with one message per problem."""

    def __init__(self, command: str, argument: str) -> None:
        self.command, self.argument = command, argument

    def bad(self, field: str, found: str, fix: str = "Pass a folder written by losskit fit"
            ) -> None:
        fail(self.command, self.argument, f"holds a config.json whose {field} {found}", fix)

    def get(self, obj: Any, key: str, field: str, types: Any, *, optional: bool = False
            ) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            if optional:
                return None
            self.bad(field, "is missing")
        value = obj[key]
        if optional and value is None:
            return None
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple)
                                                    else (types,)):
            self.bad(field, f"is {value!r} (expected {_names(types)})")
        if not isinstance(value, types):
            self.bad(field, f"is {type(value).__name__} {_short(value)} (expected "
                     f"{_names(types)})")
        return value

    def count(self, obj: Any, key: str, field: str, *, low: int = 1, high: int | None = None,
              optional: bool = False) -> Any:
        value = self.get(obj, key, field, int, optional=optional)
        if value is not None and (value < low or (high is not None and value > high)):
            self.bad(field, f"is {value} (expected {low} to {high})" if high is not None
                     else f"is {value} (expected at least {low})")
        return value

    def number(self, value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            self.bad(field, f"is {_short(value)} (expected a finite number)")
        return float(value)

    def choice(self, obj: Any, key: str, field: str, choices: tuple[str, ...]) -> str:
        value = self.get(obj, key, field, str)
        if value not in choices:
            self.bad(field, f"is {_short(value)} (expected one of {', '.join(choices)})")
        return value


def _names(types: Any) -> str:
    names = {"int": "an integer", "str": "text", "dict": "an object", "list": "a list",
             "float": "a number", "bool": "true or false", "NoneType": "null"}
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(names.get(t.__name__, t.__name__) for t in types)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def safetensors_header(command: str, argument: str, path: Path, *, limit: int | None = None
                       ) -> tuple[dict[str, Any], int]:
    """``({name: {"dtype", "shape", "data_offsets"}}, data_start)`` of a safetensors file,
    checked against the file's real size: every tensor's bytes exist, none overlap, and the
    byte count matches its shape and dtype. Only the header is read."""
    st = _regular_file_stat(command, argument, path)
    size = st.st_size
    name = path.name

    def bad(found: str) -> None:
        fail(command, argument, f"holds a {name} that {found}",
             "It is damaged or was not written by losskit: fit the model again")

    if size < 8:
        bad(f"is {'empty' if size == 0 else 'truncated'} ({size} bytes)")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    with os.fdopen(os.open(path, flags), "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > min(size - 8, _MAX_HEADER_BYTES):
            bad(f"is truncated or malformed (its header claims {n} bytes; the file has "
                f"{size})")
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        bad("has a malformed header (not JSON)")
    if not isinstance(header, dict):
        bad("has a malformed header (not a JSON object)")
    data_start, data_size = 8 + n, size - 8 - n
    spans = []
    tensors: dict[str, Any] = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        if not (isinstance(info, dict) and isinstance(info.get("dtype"), str)
                and isinstance(info.get("shape"), list)
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                        for d in info["shape"])
                and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2
                and all(isinstance(o, int) and not isinstance(o, bool)
                        for o in info["data_offsets"])):
            bad(f"has a malformed entry for tensor {key!r}")
        begin, end = info["data_offsets"]
        itemsize = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                    "I8": 1, "U8": 1, "BOOL": 1}.get(info["dtype"])
        if itemsize is None:
            bad(f"stores tensor {key!r} as {info['dtype']!r}, an unknown dtype")
        if not 0 <= begin <= end <= data_size:
            bad(f"is truncated: tensor {key!r} lies at bytes {begin}-{end} of a data section "
                f"of {data_size} bytes")
        if end - begin != math.prod(info["shape"]) * itemsize:
            bad(f"has tensor {key!r} of shape {info['shape']} in {end - begin} bytes "
                f"(expected {math.prod(info['shape']) * itemsize})")
        spans.append((begin, end, key))
        tensors[key] = info
    spans.sort()
    for (_, end_a, a), (begin_b, _, b) in itertools.pairwise(spans):
        if begin_b < end_a:
            bad(f"has overlapping tensors {a!r} and {b!r}")
    return tensors, data_start


def check_model_folder(folder: str | os.PathLike, command: str, argument: str = "DIR"
                       ) -> dict[str, Any]:
    """Check a model folder written by ``losskit fit`` and return its parsed ``config.json``.

    Fails (``ValueError``, the project's template, naming ``command`` and ``argument``) on: a
    missing folder or a symbolic link to one, a non-regular ``config.json`` or
    ``model.safetensors`` (FIFO, device, link), malformed or deeply nested JSON, a config
    that breaks the schema (types, ranges, an encoder whose feature count disagrees with the
    network), a safetensors file that is truncated, has missing or unexpected tensors, wrong
    shapes or dtypes — all before any tensor is allocated — and non-finite weights.
    """
    folder = Path(folder)
    text = str(folder)
    if folder.is_symlink():
        fail(command, argument, f"{text!r} is a symbolic link", "Pass the model folder itself")
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        fail(command, argument, f"{text!r} does not exist", "Pass a folder written by "
             "losskit fit")
    except OSError as error:
        fail(command, argument, f"{text!r} cannot be read ({error.strerror})",
             "Pass a folder written by losskit fit")
    if not stat.S_ISDIR(st.st_mode):
        fail(command, argument, f"{text!r} is {file_kind(st.st_mode)}, not a folder",
             "Pass a folder written by losskit fit")
    config_path = folder / CONFIG_FILE
    if not os.path.lexists(config_path):
        fail(command, argument, f"{text!r} has no config.json", "Pass a folder written by "
             "losskit fit")
    config = _load_json(command, argument, read_regular_file(
        command, argument, config_path, limit=MAX_CONFIG_BYTES), CONFIG_FILE)
    s = _Schema(command, argument)
    if not isinstance(config, dict):
        s.bad("top level", "is not an object")
    if "preprocessing" not in config:
        fail(command, argument, f"{text!r} was not written by losskit fit (no preprocessing "
             "in config.json)", "Pass a folder written by losskit fit")
    estimator = s.choice(config, "estimator", "estimator", _ESTIMATORS)
    dtype_name = s.choice(config, "dtype", "dtype", ("float32", "float64"))
    s.get(config, "target", "target", str)
    s.choice(config, "task", "task", ("classification", "regression"))
    tensors, _ = safetensors_header(command, argument, folder / MODEL_FILE)
    weights_bytes = sum(math.prod(t["shape"]) * _itemsize(t["dtype"]) for t in tensors.values())
    itemsize = 4 if dtype_name == "float32" else 8

    # the network: sizes bounded by what the weights file holds, before anything is built
    model = s.get(config, "model", "model", dict)
    n_features = s.count(model, "n_features", "model.n_features",
                         high=max(weights_bytes // itemsize, 1))
    hidden = s.get(model, "hidden_layer_sizes", "model.hidden_layer_sizes", list)
    if len(hidden) > 64:
        s.bad("model.hidden_layer_sizes", f"has {len(hidden)} layers (at most 64)")
    for i, h in enumerate(hidden):
        if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= max(
                weights_bytes // itemsize, 1):
            s.bad(f"model.hidden_layer_sizes[{i}]", f"is {_short(h)}, more units than the "
                  f"weights file holds ({weights_bytes} bytes)" if isinstance(h, int)
                  and not isinstance(h, bool) and h > 1 else
                  f"is {_short(h)} (expected a positive integer)")
    s.choice(model, "activation", "model.activation", _ACTIVATIONS)
    s.choice(model, "init", "model.init", _INITS)
    uw = s.get(model, "uncertainty_weighting", "model.uncertainty_weighting", bool)
    heads = s.get(model, "heads", "model.heads", dict)
    if list(heads) != ["output"]:
        s.bad("model.heads", f"are {_short(list(heads))} (expected one head, 'output')")
    head = s.get(heads, "output", "model.heads.output", dict)
    loss = s.get(head, "loss", "model.heads.output.loss", str)
    task = s.choice(head, "task", "model.heads.output.task", ("classification", "regression"))
    n_targets = s.count(head, "n_targets", "model.heads.output.n_targets", high=10_000,
                        optional=True)
    n_classes = s.count(head, "n_classes", "model.heads.output.n_classes", low=2,
                        high=max(weights_bytes // itemsize, 2), optional=True)
    weight = s.number(head.get("weight", 1.0), "model.heads.output.weight")
    if (estimator == "MLPClassifier") != (task == "classification"):
        s.bad("model.heads.output.task", f"is {task!r} for an {estimator}")

    params = s.get(config, "params", "params", dict)
    from losskit.nn._saved import PARAM_NAMES  # not the estimators: no scikit-learn import

    unknown = sorted(set(params) - set(PARAM_NAMES[estimator]))
    if unknown:
        s.bad("params", f"have unknown names {', '.join(map(repr, unknown[:5]))}")
    if "hidden_layer_sizes" in params and params["hidden_layer_sizes"] != hidden:
        s.bad("params.hidden_layer_sizes", f"is {_short(params['hidden_layer_sizes'])} but "
              f"model.hidden_layer_sizes is {_short(hidden)}")
    n_in = s.count(config, "n_features_in_", "n_features_in_")
    if n_in != n_features:
        s.bad("n_features_in_", f"is {n_in} but model.n_features is {n_features}")
    s.get(config, "history", "history", dict)
    for key in ("rows", "baseline", "heads", "settings"):
        if key in config["history"] and not isinstance(
                config["history"][key], list if key == "rows" else dict):
            s.bad(f"history.{key}", "has the wrong type")
    if estimator == "MLPClassifier":
        classes = s.get(config, "classes_", "classes_", dict)
        values = s.get(classes, "values", "classes_.values", list)
        kind = s.get(classes, "dtype", "classes_.dtype", str)
        _check_classes_dtype(s, kind, values)
        if n_classes is None or len(values) != n_classes:
            s.bad("classes_.values", f"has {len(values)} classes but the output layer "
                  f"has {n_classes}")
        if not all(isinstance(v, (str, int, float, bool)) and not (
                isinstance(v, float) and not math.isfinite(v)) for v in values):
            s.bad("classes_.values", "holds values that are not plain labels")
        if len({(type(v), v) for v in values}) != len(values):
            s.bad("classes_.values", "has repeated labels")
    else:
        y_ndim = s.get(config, "y_ndim", "y_ndim", int)
        if y_ndim not in (1, 2):
            s.bad("y_ndim", f"is {y_ndim} (expected 1 or 2)")
        _check_target_scale(s, config, n_targets or 1)
    _check_preprocessing(s, config["preprocessing"], n_features)

    # the weights the config describes (their names and shapes: nothing is built, and torch
    # is not imported), against the file
    from losskit.nn._heads import Head
    from losskit.nn._numpy_mlp import state_shapes

    try:
        spec = Head(loss, task=task, n_targets=n_targets or 1, n_classes=n_classes,
                    weight=weight)
    except (ValueError, TypeError) as error:
        s.bad("model", f"describes no network losskit can build ({error})")
    expected = {k: (list(shape), dtype_name) for k, shape in state_shapes(
        n_features, hidden, {"output": spec.n_outputs}, uw).items()}
    missing = sorted(set(expected) - set(tensors))
    if missing:
        fail(command, argument, f"holds a model.safetensors without the tensor(s) "
             f"{', '.join(map(repr, missing[:5]))} the config describes",
             "It is damaged or belongs to another model: fit the model again")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        fail(command, argument, f"holds a model.safetensors with unexpected tensor(s) "
             f"{', '.join(map(repr, extra[:5]))}",
             "It is damaged or belongs to another model: fit the model again")
    for key, (shape, want) in expected.items():
        got = tensors[key]
        if got["shape"] != shape:
            fail(command, argument, f"holds a model.safetensors whose tensor {key!r} has "
                 f"shape {got['shape']}, but config.json describes {shape}",
                 "It is damaged or belongs to another model: fit the model again")
        if _DTYPES.get(got["dtype"], ("?",))[0] != want:
            fail(command, argument, f"holds a model.safetensors whose tensor {key!r} is "
                 f"{got['dtype']}, but config.json says {want}",
                 "It is damaged or belongs to another model: fit the model again")
    _check_finite(command, argument, folder / MODEL_FILE)
    return config


def _check_target_scale(s: _Schema, config: dict[str, Any], n_targets: int) -> None:
    """``target_standardised`` (predictions are ``mean + scale * output``): null, or one
    finite mean and one positive finite scale per target, both within float32's range (as
    ``fit`` keeps targets)."""
    std = s.get(config, "target_standardised", "target_standardised", dict, optional=True)
    if std is None:
        return
    limit = 3.4028234663852886e38  # float32's largest finite value
    for key in ("mean", "scale"):
        values = s.get(std, key, f"target_standardised.{key}", list)
        if len(values) != n_targets:
            s.bad(f"target_standardised.{key}", f"has {len(values)} value(s) but the output "
                  f"layer has {n_targets} target(s)")
        for i, v in enumerate(values):
            field = f"target_standardised.{key}[{i}]"
            v = s.number(v, field)
            if abs(v) > limit or (key == "scale" and v <= 0):
                want = "a positive number" if key == "scale" else "a number"
                s.bad(field, f"is {v:g} (expected {want} of at most {limit:.3g} in size)")


def _itemsize(dtype: str) -> int:
    return {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2}.get(dtype, 1)


def _check_classes_dtype(s: _Schema, kind: str, values: list[Any]) -> None:
    if kind == "object":
        return
    import numpy as np

    try:
        dt = np.dtype(kind)
    except (TypeError, ValueError):
        s.bad("classes_.dtype", f"is {_short(kind)}, not a NumPy dtype")
    if dt.kind not in "biufU" or dt.itemsize > 4096:
        s.bad("classes_.dtype", f"is {_short(kind)} (expected a number, bool or text dtype)")
    try:  # the labels must survive the dtype unchanged (no truncated text, no rounding)
        same = np.asarray(values, dtype=dt).tolist() == values
    except (TypeError, ValueError, OverflowError):
        same = False
    if not same:
        s.bad("classes_.dtype", f"is {_short(kind)}, which cannot hold the labels "
              f"{_short(values)} unchanged")


def _check_preprocessing(s: _Schema, pre: Any, n_features: int) -> None:
    if not isinstance(pre, dict):
        s.bad("preprocessing", "is not an object")
    columns = s.get(pre, "columns", "preprocessing.columns", list)
    numeric = s.get(pre, "numeric", "preprocessing.numeric", dict)
    categorical = s.get(pre, "categorical", "preprocessing.categorical", dict)
    if not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
        s.bad("preprocessing.columns", "are not distinct column names")
    if set(columns) != set(numeric) | set(categorical) or set(numeric) & set(categorical):
        s.bad("preprocessing", "does not give each column one encoding")
    # every category is one input of the network: the count is bounded by the weights
    width = len(numeric)
    for name, cats in categorical.items():
        if not isinstance(cats, list):
            s.bad(f"preprocessing.categorical[{name!r}]", "is not a list")
        width += len(cats)
        if width > n_features:
            break
        if not all(isinstance(c, (str, int, float, bool)) for c in cats):
            s.bad(f"preprocessing.categorical[{name!r}]", "holds values that are not plain")
    if width != n_features:
        s.bad("preprocessing", f"encodes {width}+ features but the network takes "
              f"{n_features}" if width > n_features else
              f"encodes {width} features but the network takes {n_features}")
    for name, pair in numeric.items():
        if not isinstance(pair, list) or len(pair) != 2:
            s.bad(f"preprocessing.numeric[{name!r}]", "is not [mean, scale]")
        s.number(pair[0], f"preprocessing.numeric[{name!r}] mean")
        if s.number(pair[1], f"preprocessing.numeric[{name!r}] scale") <= 0:
            s.bad(f"preprocessing.numeric[{name!r}] scale", f"is {pair[1]} (expected > 0)")
    for key in ("target_scaling",):  # optional extras written by newer versions
        if key in pre and not isinstance(pre[key], (dict, type(None))):
            s.bad(f"preprocessing.{key}", "is not an object")


def _check_finite(command: str, argument: str, path: Path) -> None:
    """Every weight finite (the header was checked, so the sizes are the file's own)."""
    from safetensors.numpy import load_file

    from losskit.nn._numpy_mlp import check_finite_weights

    check_finite_weights(command, argument, path.parent, load_file(str(path)))
