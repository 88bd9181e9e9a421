"""Really train tiny Keras models with losskit.keras losses, one Keras backend per process
(Keras picks its backend once, at import).

``python tests/keras_runs.py BACKEND OUT`` fits a tiny model with a few losskit losses, saves
each model to ``.keras`` and loads it back, and (``--logs``) trains an overfitting and a
diverging model with ``keras.callbacks.CSVLogger`` and runs the example of docs/keras.md; it
writes ``OUT/results.json`` and the CSV logs. :func:`keras_runs` starts the processes for
several backends at once (two cores) and caches their results for the test session.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIT_LOSSES = ["binary_focal_loss", "sparse_categorical_cross_entropy", "gaussian_mixture_nll",
              "poisson_nll"]


@functools.cache
def keras_runs(backends: tuple[str, ...], logs: str | None = None) -> dict[str, dict]:
    """``{backend: results}`` (``{"skipped": reason}`` where the backend does not install);
    the processes run in parallel. ``logs`` names the backend that also writes CSV logs."""
    out = Path(tempfile.mkdtemp(prefix="losskit-keras-"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE.parent / "src"), str(HERE), os.environ.get("PYTHONPATH", "")])}
    processes, results = {}, {}
    for backend in backends:
        if importlib.util.find_spec(backend) is None or importlib.util.find_spec("keras") is None:
            results[backend] = {"skipped": f"Keras' {backend} backend needs {backend} and keras, "
                                           "which are not installed"}
            continue
        folder = out / backend
        folder.mkdir()
        args = [sys.executable, str(Path(__file__)), backend, str(folder)]
        processes[backend] = (folder, subprocess.Popen(
            args + (["--logs"] if backend == logs else []),
            env={**env, "KERAS_BACKEND": backend}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    for backend, (folder, process) in processes.items():
        output, _ = process.communicate(timeout=300)
        if process.returncode != 0:
            raise AssertionError(f"keras on {backend} failed:\n{output[-4000:]}")
        results[backend] = json.loads((folder / "results.json").read_text())
        results[backend]["folder"] = str(folder)
    return results


def _fit_and_reload(keras, out: Path) -> dict:
    import losskit as lk
    import losskit.keras as lkk
    from adapter_cases import adapter_cases

    cases = adapter_cases(np.random.default_rng(0), n=48)
    X = np.random.default_rng(1).normal(size=(48, 4)).astype("float32")
    results = {}
    for name in FIT_LOSSES:
        y, raw, options = cases[name]
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(raw.shape[1])])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss=lkk.LOSSES[name](**options))
        history = model.fit(X, y, epochs=5, batch_size=16, verbose=0).history["loss"]
        path = out / f"{name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        raw_out = keras.ops.convert_to_numpy(model(X))
        results[name] = {
            "history": [float(v) for v in history],
            "loaded_class": type(loaded.loss).__name__,
            "loaded_options": loaded.loss.options,
            "evaluate": float(model.evaluate(X, y, verbose=0)),
            "evaluate_loaded": float(loaded.evaluate(X, y, verbose=0)),
            # what losskit's function gives on the trained model's outputs (NumPy)
            "function": float(getattr(lk, name)(y, raw_out.astype(np.float64), **options)),
        }
    return results


def _logs(keras, out: Path) -> None:
    import losskit.keras as lkk

    rng = np.random.default_rng(0)
    # overfitting: 40 training samples (200 for validation), 30 features, a wide network,
    # Adam, no regularisation
    X = rng.normal(size=(240, 30)).astype("float32")
    y = (X[:, 0] + rng.normal(scale=0.5, size=240) > 0).astype("float32")[:, None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.003),
                  loss=lkk.BinaryCrossEntropy(from_logits=True))
    model.fit(X[:40], y[:40], validation_data=(X[40:], y[40:]), epochs=40, batch_size=20,
              verbose=0, callbacks=[keras.callbacks.CSVLogger(str(out / "overfit.csv"))])
    # divergence: a learning rate far too high for unscaled inputs
    X = (rng.normal(size=(64, 3)) * 50).astype("float32")
    y = X @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=lkk.MeanSquaredError())
    model.fit(X, y, epochs=8, batch_size=16, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(str(out / "diverge.csv"))])


def main(backend: str, out: Path, logs: bool) -> None:
    import warnings

    warnings.simplefilter("ignore")
    import keras

    assert keras.backend.backend() == backend
    results = _fit_and_reload(keras, out)
    if logs:
        _logs(keras, out)
        from adapter_cases import doc_example

        exec(compile(doc_example("keras.md"), "docs/keras.md", "exec"), {})
        results["docs_example"] = "ran"
    (out / "results.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), "--logs" in sys.argv)
