"""The body of an embedding state: a JSON header (scalars, and the name, dtype, shape and length
of each blob) followed by the blobs: little-endian arrays and the bytes of nested states, which
carry their own envelopes. The whole body travels inside the checksummed, versioned envelope of
the Rust codec, so corruption is caught there; here every length and shape is checked again."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from undertow import _core
from undertow._core import UndertowError

_DTYPES = {"f8": np.dtype("<f8"), "u8": np.dtype("<u8"), "i8": np.dtype("<i8")}


def pack(kind: str, meta: dict[str, Any], blobs: dict[str, Any]) -> bytes:
    entries = []
    parts = []
    for name, value in blobs.items():
        if isinstance(value, np.ndarray):
            code = {"f": "f8", "u": "u8", "i": "i8"}[value.dtype.kind]
            data = np.ascontiguousarray(value, dtype=_DTYPES[code]).tobytes()
            entries.append({"name": name, "dtype": code, "shape": list(value.shape), "length": len(data)})
        else:
            data = bytes(value)
            entries.append({"name": name, "dtype": "bytes", "shape": None, "length": len(data)})
        parts.append(data)
    header = json.dumps({"meta": meta, "blobs": entries}, sort_keys=True).encode()
    body = len(header).to_bytes(8, "little") + header + b"".join(parts)
    return _core.seal_embedding(body, kind)


@contextmanager
def naming_data() -> Iterator[None]:
    """State errors name the argument they came from: "data: invalid undertow state bytes: ..."."""
    try:
        yield
    except UndertowError as exc:
        message = str(exc)
        if message.startswith("data:"):
            raise
        raise UndertowError(f"data: {message}") from None


def state_bytes(data: Any) -> bytes:
    """`data` as bytes, or a TypeError naming the argument (bytes("abc") would say "string
    argument without an encoding", bytes(5) would make five zero bytes)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data: expected bytes, got {type(data).__name__}")
    return bytes(data)


def unpack(data: Any, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = _core.open_embedding(state_bytes(data), kind)

    def bad(message: str) -> UndertowError:
        return UndertowError(f"invalid undertow state bytes: {message}")

    if len(body) < 8:
        raise bad("the body is too short")
    size = int.from_bytes(body[:8], "little")
    if size > len(body) - 8:
        raise bad("the header length exceeds the body")
    try:
        header = json.loads(body[8 : 8 + size])
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise bad(f"unreadable header ({exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("meta"), dict):
        raise bad("the header has no 'meta' object")
    meta, entries = header["meta"], header.get("blobs")
    if not isinstance(entries, list):
        raise bad("the header has no 'blobs' list")
    pos = 8 + size
    blobs: dict[str, Any] = {}
    for entry in entries:
        name, code, length, shape = _entry(entry)
        if name in blobs:
            raise bad(f"blob {name!r} appears twice")
        if pos + length > len(body):
            raise bad(f"blob {name!r} runs past the body")
        raw = body[pos : pos + length]
        pos += length
        if code == "bytes":
            blobs[name] = raw
            continue
        dtype = _DTYPES[code]
        if math.prod(shape) * dtype.itemsize != length:
            raise bad(f"blob {name!r} does not match its shape")
        blobs[name] = np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    if pos != len(body):
        raise bad(f"{len(body) - pos} unread bytes in the body")
    return meta, blobs


def _entry(entry: Any) -> tuple[str, str, int, tuple[int, ...]]:
    """(name, dtype code, length, shape) of a blob entry, each field checked."""

    def bad(message: str) -> UndertowError:
        return UndertowError(f"invalid undertow state bytes: {message}")

    if not isinstance(entry, dict):
        raise bad("a blob entry is not a JSON object")
    name, code, length, shape = (entry.get(k) for k in ("name", "dtype", "length", "shape"))
    if not isinstance(name, str):
        raise bad("a blob entry has no name")
    if not isinstance(code, str) or (code != "bytes" and code not in _DTYPES):
        raise bad(f"blob {name!r} has unknown dtype {code!r}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise bad(f"blob {name!r} has a bad length {length!r}")
    if code == "bytes":
        if shape is not None:
            raise bad(f"blob {name!r} holds bytes but has a shape")
        return name, code, length, ()
    # Every array of these states is 1-D or 2-D; a bounded rank and size keep numpy's reshape
    # from raising its own errors.
    if (
        not isinstance(shape, list)
        or len(shape) > 2
        or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**62 for s in shape)
    ):
        raise bad(f"blob {name!r} has a bad shape {shape!r}")
    return name, code, length, tuple(shape)
