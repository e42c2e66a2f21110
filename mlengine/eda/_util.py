"""Small helpers the EDA modules share: rounding for the report, number words, JSON types."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np


def _lap(t0: float) -> float:
    return round(time.perf_counter() - t0, 3)


def _r(x: Any, digits: int = 6) -> Any:
    """Round floats for the report; NaN/inf become None (valid JSON)."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _fmt(x: Any) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars -> Python, NaN/inf -> None, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, str) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)
