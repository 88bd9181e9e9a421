"""Accumulator.all_reduce across two CPU processes (torch.distributed, gloo backend)."""

from __future__ import annotations

import json
import socket
import sys

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
mp = pytest.importorskip("torch.multiprocessing")

pytestmark = pytest.mark.skipif(not dist.is_available() or sys.platform == "win32",
                                reason="torch.distributed with gloo is needed")

SPLIT = 23  # rank 0 gets 23 samples, rank 1 the other 41: unequal shards


def _data():
    rng = np.random.default_rng(7)
    n = 64
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    y[SPLIT:SPLIT + 2] = [0, 1]
    return {"y": y, "z": rng.normal(size=n), "w": rng.uniform(0.1, 2.0, n),
            "t": rng.normal(size=n) * 3 + 100.0}


def _accumulators():
    return {
        "bce": lk.Accumulator(lk.binary_cross_entropy, from_logits=True),
        "accuracy": lk.Accumulator(lk.metrics.accuracy_score, from_logits=True),
        "roc_auc": lk.Accumulator(lk.metrics.roc_auc_score),
        "r2": lk.Accumulator(lk.metrics.r2_score),
        "empty": lk.Accumulator(lk.metrics.max_error),  # updated on rank 1 only
    }


def _batch(name, d, index):
    if name in ("r2", "empty"):
        return d["t"][index], d["t"][index] + d["z"][index], d["w"][index]
    return d["y"][index].astype(float), d["z"][index], d["w"][index]


def _worker(rank, world, port, out_dir):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        d = _data()
        shard = np.arange(SPLIT) if rank == 0 else np.arange(SPLIT, len(d["y"]))
        results = {}
        for name, acc in _accumulators().items():
            if name == "empty" and rank == 0:
                acc.all_reduce()
                results[name] = float(acc.result())
                continue
            for part in np.array_split(shard, 3):  # several batches per rank
                y, pred, w = _batch(name, d, part)
                acc.update(torch.from_numpy(y), torch.from_numpy(pred),
                           sample_weight=torch.from_numpy(w))
            assert acc.all_reduce() is acc
            value = acc.result()
            assert isinstance(value, torch.Tensor) and value.dtype == torch.float64
            results[name] = float(value)
        with open(f"{out_dir}/rank{rank}.json", "w") as f:
            json.dump(results, f)
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_all_reduce_over_two_processes_equals_the_full_data(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0] == ranks[1]  # every rank holds the same state, bit for bit
    d = _data()
    everything = np.arange(len(d["y"]))
    expected = {}
    for name in ("bce", "accuracy", "roc_auc", "r2"):
        y, pred, w = _batch(name, d, everything)
        fn = _accumulators()[name].fn
        options = _accumulators()[name].options
        expected[name] = float(fn(y, pred, sample_weight=w, **options))
    rest = np.arange(SPLIT, len(d["y"]))
    y, pred, w = _batch("empty", d, rest)
    expected["empty"] = float(lk.metrics.max_error(y, pred, sample_weight=w))
    for name, value in expected.items():
        atol = 1e-12 if name == "r2" else 0.0
        np.testing.assert_allclose(ranks[0][name], value, rtol=1e-12, atol=atol, err_msg=name)
