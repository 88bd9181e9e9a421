"""The worked examples of the losses that build integer indices (label positions, counts,
class indices), on JAX without x64 (its default): no warning at any call (JAX truncates an
int64 request to int32 with a warning a user sees at every step; issue 19). Eager JAX costs
~1 s a loss here, so not every loss: the ones that cast to an integer dtype."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from losskit.losses import loss_functions, loss_specs

jax = pytest.importorskip("jax")
jnp = jax.numpy


def _jax(value, integer):
    a = np.asarray(value)
    if a.dtype.kind in "iu" or integer:
        return jnp.asarray(a.astype(np.int32))
    return jnp.asarray(a.astype(np.float32))


INDEXING = ["multilabel_margin_loss", "multiclass_sparsemax_loss", "multi_margin_loss",
            "multiclass_perceptron_loss", "linear_cross_entropy", "generalized_cross_entropy"]


@pytest.mark.parametrize("name", INDEXING)
def test_worked_example_on_jax_without_x64_does_not_warn(name):
    case = loss_specs()[name].explanation.case
    fn = loss_functions()[name]
    y, raw = case.batch(case.y_true)
    options = {k: (_jax(v, False) if k in {"weight", "bias"} else v)
               for k, v in case.options.items()}
    with jax.enable_x64(False), warnings.catch_warnings():
        warnings.simplefilter("error")
        jy = None if y is None else _jax(y, False)
        jz = _jax(raw, False)
        value = fn(jy, jz, **options)
    assert np.isfinite(float(value))
