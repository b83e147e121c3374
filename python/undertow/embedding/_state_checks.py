"""Semantic checks of decoded embedding and histogram states.

The envelope's CRC only proves the bytes are the ones written, not that a writer was honest: a
crafted body with a recomputed CRC reaches these checks. Every field is checked for type, range
and consistency with the others before an object is built, and anything Python raises while
reading a field becomes an UndertowError naming the state, so only UndertowError leaves
`from_bytes`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from undertow._core import UndertowError


def bad(message: str) -> UndertowError:
    return UndertowError(f"invalid undertow state bytes: {message}")


@contextmanager
def decoding(what: str) -> Iterator[None]:
    """Turns a raw KeyError/TypeError/ValueError/... raised while reading `what` into an
    UndertowError (an UndertowError passes through unchanged)."""
    try:
        yield
    except UndertowError:
        raise
    except KeyError as exc:
        raise bad(f"{what}: missing field {exc}") from None
    except (TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        raise bad(f"{what}: {type(exc).__name__}: {exc}") from None


def integer(value: Any, field: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{field} must be an integer, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        raise bad(f"{field} = {value} is out of range")
    return value


def number(value: Any, field: str, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"{field} must be a number, got {type(value).__name__}")
    x = float(value)
    if not (math.isfinite(x) and low <= x <= high):
        raise bad(f"{field} = {value!r} is not a finite number in [{low}, {high}]")
    return x


def array(blobs: dict[str, Any], name: str, kind: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """Blob `name` as an array of dtype kind `kind` ('f', 'i' or 'u') and `shape` (None: any
    length on that axis); float arrays must be finite."""
    value = blobs.get(name)
    if not isinstance(value, np.ndarray) or value.dtype.kind != kind:
        raise bad(f"blob {name!r} must be an array of kind {kind!r}")
    if value.ndim != len(shape) or any(s not in (None, n) for s, n in zip(shape, value.shape, strict=True)):
        raise bad(f"blob {name!r} has shape {value.shape}, expected {shape}")
    if kind == "f" and not np.all(np.isfinite(value)):
        raise bad(f"blob {name!r} holds NaN or infinite values")
    return value


def raw(blobs: dict[str, Any], name: str) -> bytes:
    value = blobs.get(name)
    if not isinstance(value, bytes):
        raise bad(f"blob {name!r} must hold bytes")
    return value


def as_dict(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(f"{field} must be a JSON object, got {type(value).__name__}")
    return value


def settings(value: Any, dim: int) -> dict[str, Any]:
    """The settings of an EmbeddingDrift, each in the range `fit` accepts."""
    s = as_dict(value, "settings")
    thresholds = s.get("thresholds")
    if not isinstance(thresholds, list) or len(thresholds) != 2:
        raise bad("settings.thresholds must be a list of two numbers")
    moderate = number(thresholds[0], "settings.thresholds[0]", 0.0)
    significant = number(thresholds[1], "settings.thresholds[1]", moderate)
    alpha = number(s.get("alpha"), "settings.alpha", 0.0, 1.0)
    if not 0 < alpha < 1:
        raise bad(f"settings.alpha = {alpha} is not in (0, 1)")
    threshold = number(s.get("component_threshold"), "settings.component_threshold", 0.0)
    if not threshold > 0:
        raise bad("settings.component_threshold must be positive")
    return {
        "components": integer(s.get("components"), "settings.components", 1, dim),
        "bins": integer(s.get("bins"), "settings.bins", 2, 1_000_000),
        "sample": integer(s.get("sample"), "settings.sample", 2),
        "seed": integer(s.get("seed"), "settings.seed", 0, 2**64 - 1),
        "permutations": integer(s.get("permutations"), "settings.permutations", 1, 100_000),
        "alpha": alpha,
        "component_threshold": threshold,
        "norm_tolerance": number(s.get("norm_tolerance"), "settings.norm_tolerance", 0.0),
        "thresholds": [moderate, significant],
    }
