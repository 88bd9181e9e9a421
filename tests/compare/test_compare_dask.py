"""``compare`` on a real Dask cluster (worker processes) equals the local run."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

distributed = pytest.importorskip("distributed")


def _threads(loss, train, test, seed):
    import torch

    return float(torch.get_num_threads())


def _pid(loss, train, test, seed):
    import os

    return float(os.getpid())


def test_compare_on_a_local_dask_cluster_equals_the_local_run():
    import joblib

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] - X[:, 1] + 0.3 * rng.standard_t(3, size=60)
    kwargs = {"n_splits": 3, "n_repeats": 2, "metric": "mae",
              "estimator_params": {"epochs": 5, "hidden_layer_sizes": (8,)}}
    local = lk.compare(X, y, ["mse", "huber_loss"], n_jobs=2, **kwargs)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_config("dask"):
            remote = lk.compare(X, y, ["mse", "huber_loss"], n_jobs=-1, **kwargs)
            threads = lk.compare(None, np.tile([0, 1], 10), ["a", "b"], estimator=_threads,
                                 metric="threads_score", n_splits=2, n_repeats=1, n_jobs=-1)
            pids = lk.compare(None, np.tile([0, 1], 10), ["a", "b"], estimator=_pid,
                              metric="pid_score", n_splits=2, n_repeats=1, n_jobs=-1)
        ran_on = set(client.run(lambda: __import__("os").getpid()).values())
    assert len(ran_on) == 2 and set(pids.scores.ravel()) <= ran_on  # ran on the workers
    np.testing.assert_allclose(remote.scores, local.scores, rtol=1e-6)
    assert remote.conclusion == local.conclusion
    # the thread count is the workers' (their nannies set OMP_NUM_THREADS=1), not the client's
    assert (threads.scores == 1).all()
