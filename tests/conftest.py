"""Shared fixtures: every public function runs on every backend through the ``xp`` fixture."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
from hypothesis import settings

# CI runs the same property examples every time (a failure there is reproducible); local runs
# keep exploring new ones
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

BACKENDS = ["numpy", "array_api_strict", "torch", "jax"]


def _load(name: str):
    if name == "numpy":
        return np
    if name == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        return importlib.import_module("jax.numpy")
    return pytest.importorskip(name)


class Backend:
    """One array library: build its arrays from NumPy and read them back."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.module = _load(name)

    def asarray(self, value, dtype: str | None = None):
        a = np.asarray(value)
        if dtype is not None:
            a = a.astype(dtype) if dtype != "bfloat16" else a.astype("float32")
        if self.name == "torch":
            import torch

            t = torch.from_numpy(np.ascontiguousarray(a))
            return t.to(torch.bfloat16) if dtype == "bfloat16" else t
        if self.name == "jax":
            import jax.numpy as jnp

            return jnp.asarray(a, dtype=jnp.bfloat16 if dtype == "bfloat16" else None)
        if self.name == "array_api_strict":
            return self.module.asarray(a)
        return a

    def dtype(self, name: str):
        if self.name == "torch":
            import torch

            return getattr(torch, name)
        if self.name == "jax":
            import jax.numpy as jnp

            return getattr(jnp, name)
        return getattr(self.module, name)

    def is_native(self, x) -> bool:
        """Whether ``x`` is an array of this library."""
        if self.name == "numpy":
            return isinstance(x, np.ndarray)
        if self.name == "torch":
            import torch

            return isinstance(x, torch.Tensor)
        if self.name == "jax":
            import jax

            return isinstance(x, jax.Array)
        return type(x).__module__.startswith("array_api_strict")

    @staticmethod
    def to_numpy(x) -> np.ndarray:
        if hasattr(x, "detach"):
            x = x.detach().float() if str(x.dtype) == "torch.bfloat16" else x.detach()
            return x.cpu().numpy()
        return np.asarray(x)

    def __repr__(self) -> str:
        return self.name


@pytest.fixture(params=BACKENDS)
def backend(request) -> Backend:
    """Every backend, one at a time."""
    return Backend(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def one_torch_thread():
    """PyTorch on one thread for the test (small networks: no thread start-up per op, and the
    same numbers on any machine); the previous count restored after it."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
