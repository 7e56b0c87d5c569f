"""Results as plain JSON: what every stage writes to a JSON dataset goes through here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any) -> Any:
    """Plain-JSON version of nested results: numpy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
