"""Derivatives of a loss through its native torch kernel and through the generic path, for the
tests that hold the two paths equal (tests/losses/test_native_kernels*.py)."""

from __future__ import annotations

import torch

from losskit._torch import native_kernels


def taken(fn, y, z, **kw) -> bool:
    """Whether the loss ``fn``'s native kernel takes this call (``None``: the generic path)."""
    return fn.spec.native(y, z, kw) is not None


def gradients_and_hvps(fn, y, z0, v, **kw) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``[(gradient, Hessian-vector product with v)]`` of ``fn(y, z)`` at ``z0`` through
    autograd (``create_graph=True``), with native kernels on, then off; each call asserted to
    take the path it claims."""
    results = []
    for enabled in (True, False):
        z = z0.clone().requires_grad_(True)
        with native_kernels(enabled):
            assert taken(fn, y, z, **kw) is enabled
            value = fn(y, z, **kw)
        g, = torch.autograd.grad(value, z, create_graph=True)
        if not g.requires_grad:  # a piecewise-constant gradient (Laplace's l1_loss)
            g = g + 0 * z
        hv, = torch.autograd.grad((g * v).sum(), z)
        results.append((g.detach(), hv))
    return results


def assert_same_error(call) -> None:
    """``call()`` raises the same error, type and message, on both paths."""
    import pytest

    with native_kernels(False), pytest.raises((ValueError, TypeError)) as generic:
        call()
    with pytest.raises(type(generic.value)) as native:
        call()
    assert str(native.value) == str(generic.value)
