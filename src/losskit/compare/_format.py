"""How compare writes numbers: significant digits, a mean with its spread, strict JSON (read by
the comparison, its report and the demo; kept apart so that none imports another for them)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["json_text", "mean_spread", "significant"]


def significant(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits ("nan" for a missing value)."""
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def mean_spread(mean: float, spread: float, digits: int = 2) -> tuple[str, str]:
    """A mean and its spread (std, CI half-width) to the same decimal place.

    The spread keeps ``digits`` significant digits and the mean is rounded to the same
    decimal place, so the two read consistently.

    Examples
    --------
    >>> mean_spread(53.61234, 1.2345)
    ('53.6', '1.2')
    >>> mean_spread(0.912345, 0.00321)
    ('0.9123', '0.0032')
    >>> mean_spread(2.8144010969564757e28, 3.3402485621907151e28)  # powers of ten from 1e6
    ('2.8e+28', '3.3e+28')
    """
    if not (np.isfinite(mean) and np.isfinite(spread)):
        return significant(mean, 4), significant(spread, digits)
    if spread <= 0:
        return f"{mean:.4g}", "0"
    import math

    exponent = math.floor(math.log10(abs(spread)))
    if exponent >= 6:  # not 29 digits of which two mean something: the spread's place
        place = exponent - (digits - 1)
        kept = math.floor(math.log10(abs(mean))) - place + 1 if mean else 1
        return f"{mean:.{max(1, kept) - 1}e}", f"{spread:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(spread))))
    return f"{mean:.{decimals}f}", f"{spread:.{decimals}f}"


def json_text(data: Any) -> str:
    """``results.json``: strict JSON; a non-finite number (a failed fit's score, an undefined
    statistic) is written as ``null`` with a ``null_reasons`` entry beside it."""
    from losskit._io import strict_json

    return strict_json(data, where="compare results.json", nonfinite="null")
