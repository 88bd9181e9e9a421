"""Metrics of directions and locations, in units people read: degrees (or radians) of angle,
kilometres on the globe.

Reported beside the von Mises and von Mises-Fisher families, whose NLLs are what the network
minimises. The same conventions as the regression metrics: ``(n,)`` or ``(n, k)`` angles,
``(n, 2)`` latitude/longitude pairs or ``(n, 3)`` unit vectors, weights of shape ``(n,)``, a
0-d result in ``y_pred``'s library and floating dtype.
"""

from __future__ import annotations

import math
from typing import Any

from losskit._array import Array, Namespace, first_index, to_bool, to_float
from losskit._validation import Boolean, Real, check_finite, fail
from losskit.metrics._inputs import metric_inputs, require_weight, weights_of
from losskit.metrics._regression import _regression_inputs
from losskit.metrics._state import Batch, Sum, metric_function, with_weight_scale

__all__ = ["EARTH_RADIUS_KM", "great_circle_distance", "mean_angular_error"]

#: the mean Earth radius (IUGG), in km
EARTH_RADIUS_KM = 6371.0088
_UNIT_TOLERANCE = 1e-6


def _mean_finish(func: str):
    def finish(xp: Namespace, totals: dict[str, Array], *, check_values: bool,
               **_: Any) -> Array:
        require_weight(func, totals["weight"], check_values)
        return xp.mean(totals["error"] / totals["weight"])

    return finish


@metric_function(finish=_mean_finish("mean_angular_error"), degrees=Boolean())
def mean_angular_error(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    degrees: bool = False,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Mean absolute difference of angles, the short way round the circle (minimised).

    .. math::

        \frac1k \sum_{j=1}^{k} \frac{\sum_i w_i\,
            \bigl|\operatorname{atan2}\bigl(\sin(\hat y_{ij} - y_{ij}),
            \cos(\hat y_{ij} - y_{ij})\bigr)\bigr|}{\sum_i w_i}

    Each difference is wrapped into :math:`[-\pi, \pi]`, so 359° against 1° is 2°, never
    358°: the metric to report for the :class:`~losskit.families.VonMises` family, in
    radians, or in degrees with ``degrees=True`` (inputs and result).

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, k)
        Angles (any real values).
    degrees : bool
        Angles and result in degrees rather than radians.
    sample_weight : array_like of shape (n,), optional
    check_values : bool
        Check for NaN/inf, bad weights and that the metric is defined (host synchronisation).

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    >>> import losskit as lk
    >>> float(lk.metrics.mean_angular_error([359.0, 90.0], [1.0, 80.0], degrees=True))
    6.0
    """
    func = "mean_angular_error"
    inputs, t, p, w = _regression_inputs(func, y_true, y_pred, sample_weight, check_values)
    xp = inputs.xp
    d = p - t
    if degrees:
        d = d * (math.pi / 180.0)
    error = xp.abs(xp.atan2(xp.sin(d), xp.cos(d)))
    if degrees:
        error = error * (180.0 / math.pi)
    state = {"error": Sum.of(xp, xp.sum(w[:, None] * error, axis=0)),
             "weight": Sum.of(xp, xp.sum(w))}
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)


def _check_points(func: str, xp: Namespace, name: str, x: Array) -> None:
    """Latitudes within [-90, 90], or unit vectors (norm 1 within 1e-6)."""
    if x.shape[-1] == 2:
        bad = ~(xp.abs(x[:, 0]) <= 90.0)
        what, fix = "a latitude outside [-90, 90]", ("Pass (latitude, longitude) pairs in "
                                                     "degrees, latitude first")
        values = x[:, 0]
    else:
        values = xp.sqrt(xp.sum(x * x, axis=-1))
        bad = ~(xp.abs(values - 1.0) <= _UNIT_TOLERANCE)
        what, fix = "a vector that is not of unit length", (
            "Pass unit vectors (x, y, z), e.g. from losskit.lat_lon_to_unit_vector or a "
            "VonMisesFisher family's predict")
    if to_bool(func, xp.any(bad)):
        index = first_index(xp, bad)[0]
        fail(func, name, f"has {what} ({to_float(values[index]):g} at index {index})", fix)


@metric_function(finish=_mean_finish("great_circle_distance"),
                 radius=Real(0.0, math.inf, closed="neither"))
def great_circle_distance(
    y_true: Any,
    y_pred: Any,
    /,
    *,
    radius: float = EARTH_RADIUS_KM,
    sample_weight: Any = None,
    check_values: bool = True,
) -> Batch:
    r"""Mean great-circle distance between true and predicted locations, in km (minimised).

    Points are ``(latitude, longitude)`` pairs in degrees, or unit vectors :math:`(x, y, z)`
    (what :class:`~losskit.families.VonMisesFisher` predicts). The haversine form

    .. math::

        d = 2R \arcsin\sqrt{\sin^2\frac{\Delta\phi}2
            + \cos\phi_1\cos\phi_2 \sin^2\frac{\Delta\lambda}2}
          = 2R \arcsin\frac{\|x_1 - x_2\|}{2}

    (the two are equal: the haversine is a quarter of the squared chord) is accurate for
    small distances, where the arc-cosine of a dot product loses half its digits. The mean is
    weighted by ``sample_weight``. ``radius`` defaults to the mean Earth radius,
    6371.0088 km; the Earth is taken as a sphere (the ellipsoid's distances differ by up to
    0.5%). Equal to ``sklearn.metrics.pairwise.haversine_distances`` (radians, unit sphere)
    times the radius, averaged.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n, 2) or (n, 3)
        Locations: latitude and longitude in degrees, or unit vectors.
    radius : float > 0
        The sphere's radius; the result is in its unit.
    sample_weight : array_like of shape (n,), optional
    check_values : bool
        Check NaN/inf, latitudes within [-90, 90] or unit vectors, weights, and that the
        metric is defined (host synchronisation).

    Returns
    -------
    array
        0-d, in ``y_pred``'s library and floating dtype.

    Examples
    --------
    Across the date line at the equator, 0.2° of longitude:

    >>> import losskit as lk
    >>> round(float(lk.metrics.great_circle_distance([[0.0, 179.9]], [[0.0, -179.9]])), 3)
    22.239
    >>> round(float(lk.metrics.great_circle_distance([[90.0, 0.0]], [[0.0, 0.0, 1.0]])), 6)
    Traceback (most recent call last):
    ...
    ValueError: great_circle_distance: y_true has shape (1, 2) but y_pred has shape (1, 3). ...
    """
    func = "great_circle_distance"
    inputs = metric_inputs(func, y_true, y_pred, sample_weight)
    xp, t, p = inputs.xp, inputs.y_true, inputs.y_pred
    if tuple(t.shape) != tuple(p.shape):
        fail(func, "y_true", f"has shape {tuple(t.shape)} but y_pred has shape "
             f"{tuple(p.shape)}", "Pass both as (latitude, longitude) pairs or both as unit "
             "vectors, one row per sample")
    if p.ndim != 2 or p.shape[-1] not in (2, 3):
        fail(func, "y_pred", f"has shape {tuple(p.shape)}", "Pass (n, 2) (latitude, "
             "longitude) pairs in degrees or (n, 3) unit vectors")
    t, p = xp.astype(t, inputs.dtype), xp.astype(p, inputs.dtype)
    if check_values:
        for name, x in (("y_true", t), ("y_pred", p)):
            check_finite(func, xp, name, x)
            _check_points(func, xp, name, x)
    w = weights_of(func, inputs, (p.shape[0],), check_values=check_values)
    if p.shape[-1] == 2:
        to_rad = math.pi / 180.0
        lat1, lat2 = t[:, 0] * to_rad, p[:, 0] * to_rad
        s_lat = xp.sin(0.5 * (lat2 - lat1))
        s_lon = xp.sin(0.5 * (p[:, 1] - t[:, 1]) * to_rad)
        half_chord = xp.sqrt(s_lat * s_lat + xp.cos(lat1) * xp.cos(lat2) * s_lon * s_lon)
    else:
        diff = p - t
        half_chord = 0.5 * xp.sqrt(xp.sum(diff * diff, axis=-1))
    # rounding can push the half chord of antipodes just above 1
    distance = (2.0 * radius) * xp.asin(xp.clip(half_chord, 0.0, 1.0))
    state = {"error": Sum.of(xp, xp.sum(w * distance)), "weight": Sum.of(xp, xp.sum(w))}
    return Batch(xp, inputs.device, with_weight_scale(state, inputs.weight_scale),
                 inputs.out_dtype)
