"""``compare`` through joblib's Ray backend (worker processes of a local Ray instance) equals
the local run."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

ray = pytest.importorskip("ray")


def _pid(loss, train, test, seed):
    import os

    return float(os.getpid())


def test_compare_with_the_ray_backend_equals_the_local_run():
    import os

    import joblib
    from ray.util.joblib import register_ray

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] - X[:, 1] + 0.3 * rng.standard_t(3, size=60)
    kwargs = {"n_splits": 3, "n_repeats": 1, "metric": "mae",
              "estimator_params": {"epochs": 5, "hidden_layer_sizes": (8,)}}
    local = lk.compare(X, y, ["mse", "huber_loss"], n_jobs=1, **kwargs)
    register_ray()
    # the workers import this test module (the callable below is pickled by reference)
    tests = os.path.dirname(os.path.abspath(__file__))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, runtime_env={"env_vars": {"PYTHONPATH": tests}})
    try:
        with joblib.parallel_config("ray"):
            remote = lk.compare(X, y, ["mse", "huber_loss"], n_jobs=2, **kwargs)
            pids = lk.compare(None, np.tile([0, 1], 10), ["a", "b"], estimator=_pid,
                              metric="pid_score", n_splits=2, n_repeats=1, n_jobs=2)
    finally:
        ray.shutdown()
    assert os.getpid() not in set(pids.scores.ravel())  # the fits ran in Ray's workers
    np.testing.assert_allclose(remote.scores, local.scores, rtol=1e-6)
    assert remote.conclusion == local.conclusion
