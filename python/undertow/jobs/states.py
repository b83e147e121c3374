"""The fitted reference of a job (`undertow fit job.toml`), reused by every `undertow run` so the
nightly run never refits.

Layout (all integers little-endian)::

    magic      b"UNDERTOW-JOB-REF\\n" (17 bytes)
    u32        length of the header
    header     JSON, UTF-8: {"format": 1, "kind": "job-reference", "undertow_version": ...,
               "settings": {...}, "parts": [{"name", "kind", "size"}, ...]}
    parts      the states' own bytes, one after the other (each versioned and checksummed
               itself: Reference.to_bytes, EmbeddingDrift.to_bytes)
    sha256     of everything before it (32 bytes)

Refused, each with a message saying what to do (refit): another magic (not this kind of file,
e.g. a bare Reference.to_bytes), a checksum mismatch (truncated or damaged), another format,
kind or undertow version, settings other than the job's (the job changed since the fit).
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from undertow._core import UndertowError

MAGIC = b"UNDERTOW-JOB-REF\n"
FORMAT = 1
KIND = "job-reference"
_DIGEST = 32
REFIT = "run `undertow fit` on the job to write it again"


@dataclass
class JobReference:
    """The fitted states of a job: the PSI Reference (or None) and {column: EmbeddingDrift}."""

    tabular: Any = None
    embeddings: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        from undertow import __version__

        parts = []
        if self.tabular is not None:
            parts.append(("tabular", "psi-reference", self.tabular.to_bytes()))
        for column, drift in self.embeddings.items():
            parts.append((column, "embedding-drift", drift.to_bytes()))
        header = {
            "format": FORMAT,
            "kind": KIND,
            "undertow_version": __version__,
            "settings": self.settings,
            "notes": self.notes,
            "parts": [{"name": name, "kind": kind, "size": len(blob)} for name, kind, blob in parts],
        }
        head = json.dumps(header, sort_keys=True, allow_nan=False).encode()
        body = MAGIC + struct.pack("<I", len(head)) + head + b"".join(blob for _, _, blob in parts)
        return body + hashlib.sha256(body).digest()

    @classmethod
    def from_bytes(cls, data: bytes) -> JobReference:
        from undertow import __version__
        from undertow.embedding.drift import EmbeddingDrift
        from undertow.tabular.reference import Reference

        if not data.startswith(MAGIC):
            raise UndertowError(
                f"not an undertow job reference file (no {MAGIC[:-1].decode()} header); {REFIT}"
            )
        if (
            len(data) < len(MAGIC) + 4 + _DIGEST
            or hashlib.sha256(data[:-_DIGEST]).digest() != data[-_DIGEST:]
        ):
            raise UndertowError(f"the file is truncated or damaged (checksum mismatch); {REFIT}")
        (size,) = struct.unpack_from("<I", data, len(MAGIC))
        start = len(MAGIC) + 4
        try:
            header = json.loads(data[start : start + size])
            version, kind, fmt = header["undertow_version"], header["kind"], header["format"]
            parts = [(p["name"], p["kind"], int(p["size"])) for p in header["parts"]]
            settings, notes = dict(header["settings"]), list(header.get("notes", []))
        except (ValueError, KeyError, TypeError) as error:
            raise UndertowError(f"a malformed header ({type(error).__name__}: {error}); {REFIT}") from None
        if kind != KIND:
            raise UndertowError(f"holds a {kind!r}, not a {KIND!r}; {REFIT}")
        if fmt != FORMAT:
            raise UndertowError(f"format {fmt!r}, this undertow reads format {FORMAT}; {REFIT}")
        if version != __version__:
            raise UndertowError(f"written by undertow {version}, this is undertow {__version__}; {REFIT}")
        out = cls(settings=settings, notes=notes)
        offset = start + size
        for name, part_kind, length in parts:
            blob = data[offset : offset + length]
            offset += length
            if part_kind not in ("psi-reference", "embedding-drift"):
                raise UndertowError(f"an unknown part kind {part_kind!r}; {REFIT}")
            try:
                if part_kind == "psi-reference":
                    out.tabular = Reference.from_bytes(blob)
                else:
                    out.embeddings[name] = EmbeddingDrift.from_bytes(blob)
            except UndertowError as error:
                raise UndertowError(f"part {name!r}: {error}; {REFIT}") from None
        if offset != len(data) - _DIGEST:
            raise UndertowError(f"the parts do not add up to the file's length; {REFIT}")
        return out
