"""Shared input checks for the retention models.

Every check raises a ``ValueError`` whose message starts with the name of the offending argument,
so that a retention analyst can see at once which column of their summary table is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class NotFittedError(ValueError):
    """Raised when a prediction method is called before ``fit``.

    Subclasses ``ValueError`` (like scikit-learn's ``NotFittedError``) so that callers catching
    ``ValueError`` for bad input also catch it.
    """


def as_float_array(values: Any, name: str, *, allow_empty: bool = False) -> np.ndarray:
    """Return ``values`` as a 1-D float array, rejecting empty input, NaN and infinity."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric; got {type(values).__name__}") from error
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    if array.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty; at least one customer is needed")
    if np.isnan(array).any():
        raise ValueError(f"{name} contains {int(np.isnan(array).sum())} NaN value(s)")
    if np.isinf(array).any():
        raise ValueError(f"{name} contains infinite value(s)")
    return array


def check_non_negative(array: np.ndarray, name: str) -> None:
    if (array < 0).any():
        raise ValueError(
            f"{name} must be non-negative; found {int((array < 0).sum())} negative value(s), "
            f"minimum {array.min():g}"
        )


def check_positive(array: np.ndarray, name: str) -> None:
    if (array <= 0).any():
        raise ValueError(
            f"{name} must be strictly positive; found {int((array <= 0).sum())} value(s) <= 0"
        )


def check_integer(array: np.ndarray, name: str) -> None:
    not_integer = array != np.round(array)
    if not_integer.any():
        example = array[not_integer][0]
        raise ValueError(
            f"{name} must hold whole numbers of repeat purchases; "
            f"found {int(not_integer.sum())} non-integer value(s), e.g. {example:g}"
        )


def check_same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"{', '.join(lengths)} must have the same length; got {described}")


def broadcast_to_length(array: np.ndarray, name: str, length: int) -> np.ndarray:
    """Broadcast a length-1 array to ``length``; otherwise the length must already match."""
    if len(array) == 1 and length != 1:
        return np.full(length, array[0])
    if len(array) != length:
        raise ValueError(
            f"{name} must have length 1 or {length} (one per customer); got {len(array)}"
        )
    return array


def broadcast_together(**arrays: np.ndarray) -> list[np.ndarray]:
    """Arrays of equal length, where a length-1 array (a scalar) applies to every customer."""
    length = max(len(array) for array in arrays.values())
    if any(len(array) not in (1, length) for array in arrays.values()):
        check_same_length(**arrays)
    return [broadcast_to_length(array, name, length) for name, array in arrays.items()]


def validate_rfm(
    frequency: Any, recency: Any, T: Any, *, allow_empty: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the (frequency, recency, T) summary used by the BG/NBD model.

    Each of the three may be a scalar, which then applies to every customer.
    """
    x = as_float_array(frequency, "frequency", allow_empty=allow_empty)
    t_x = as_float_array(recency, "recency", allow_empty=allow_empty)
    big_t = as_float_array(T, "T", allow_empty=allow_empty)
    x, t_x = broadcast_together(frequency=x, recency=t_x)
    big_t = broadcast_to_length(big_t, "T", len(x))
    check_non_negative(x, "frequency")
    check_integer(x, "frequency")
    check_non_negative(t_x, "recency")
    check_non_negative(big_t, "T")
    too_late = t_x > big_t * (1 + 1e-12) + 1e-12
    if too_late.any():
        raise ValueError(
            f"recency must not exceed T (the last purchase cannot be after the end of "
            f"observation); found {int(too_late.sum())} customer(s) with recency > T"
        )
    inconsistent = (x == 0) & (t_x > 0)
    if inconsistent.any():
        raise ValueError(
            f"recency must be 0 when frequency is 0 (no repeat purchase); "
            f"found {int(inconsistent.sum())} customer(s) with frequency 0 and recency > 0"
        )
    return x, t_x, big_t


def validate_horizon(t: Any, name: str = "t") -> np.ndarray:
    horizon = as_float_array(t, name)
    check_non_negative(horizon, name)
    return horizon


def check_fitted(model: Any) -> None:
    if getattr(model, "params_", None) is None:
        raise NotFittedError(
            f"This {type(model).__name__} instance is not fitted yet; call fit(...) before "
            "using it for predictions"
        )


def to_output(values: np.ndarray, *inputs: Any) -> Any:
    """Return a scalar when every input was a scalar, else the array (or a Series with the
    index of the first pandas input)."""
    if all(np.ndim(value) == 0 for value in inputs):
        return float(values.reshape(-1)[0])
    for value in inputs:
        if isinstance(value, pd.Series | pd.DataFrame) and len(value.index) == len(values):
            return pd.Series(values, index=value.index)
    return values
