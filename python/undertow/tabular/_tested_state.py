"""The bytes of a Reference fitted with two-sample tests (`Reference.fit(..., tests=...)`).

A plain Reference is a codec kind-1 state, unchanged. With tests it becomes a kind-11 state
whose body (see embedding/_pack.py) holds the kind-1 reference, the plan of tests per column in
the JSON header, and one kind-10 sorted sample per column planned for KS or Wasserstein. Without
this the tests were lost on the way to disk, and a nightly job that stores its reference could
not compare with them. Every nested state carries its own envelope and checks; here the plan is
checked against the reference it travels with."""

from __future__ import annotations

from typing import Any

from undertow import _core
from undertow._core import UndertowError
from undertow.embedding._pack import naming_data, pack, unpack
from undertow.tabular.twosample import SAMPLE_TESTS, TESTS

KIND = "tested_reference"
_KIND_BYTE = 11  # codec::Kind::TestedReference
_KIND_AT = 10  # b"UNDERTOW", version u16, then the kind byte


def is_tested(data: bytes) -> bool:
    return len(data) > _KIND_AT and data[:8] == b"UNDERTOW" and data[_KIND_AT] == _KIND_BYTE


def pack_tested(core: Any, tests: dict[str, tuple[str, ...]], samples: dict[str, Any]) -> bytes:
    blobs: dict[str, Any] = {"reference": core.to_bytes()}
    blobs.update({f"sample:{name}": samples[name].to_bytes() for name in sorted(samples)})
    return pack(KIND, {"tests": {name: list(t) for name, t in tests.items()}}, blobs)


def unpack_tested(data: bytes) -> tuple[Any, dict[str, tuple[str, ...]], dict[str, Any]]:
    """(core reference, tests per column, sorted samples per column), each checked."""

    def bad(message: str) -> UndertowError:
        return UndertowError(f"data: invalid undertow state bytes: {message}")

    with naming_data():
        meta, blobs = unpack(data, KIND)
        raw = blobs.pop("reference", None)
        if not isinstance(raw, bytes):
            raise bad("no reference in a tested reference")
        core = _core.PsiReference.from_bytes(raw)
    columns = {c["name"]: c for c in core.columns()}
    plan = meta.get("tests")
    if not isinstance(plan, dict) or set(plan) != set(columns):
        raise bad("the tests do not name exactly the reference's columns")
    tests: dict[str, tuple[str, ...]] = {}
    for name, chosen in plan.items():
        if not isinstance(chosen, list) or not all(isinstance(t, str) and t in TESTS for t in chosen):
            raise bad(f"column {name!r} has an unknown test list {chosen!r}")
        if chosen != [t for t in TESTS if t in chosen]:
            raise bad(f"column {name!r} lists its tests twice or out of order: {chosen!r}")
        if columns[name]["kind"] != "numeric" and any(t in SAMPLE_TESTS for t in chosen):
            raise bad(f"column {name!r} is categorical but plans {sorted(set(chosen) & set(SAMPLE_TESTS))}")
        tests[name] = tuple(chosen)
    wanted = {name for name, chosen in tests.items() if any(t in SAMPLE_TESTS for t in chosen)}
    given = {key.removeprefix("sample:"): value for key, value in blobs.items()}
    if set(blobs) != {f"sample:{name}" for name in given} or set(given) != wanted:
        raise bad("the sorted samples do not match the columns planned for KS / Wasserstein")
    samples = {}
    for name, value in given.items():
        if not isinstance(value, bytes):
            raise bad(f"the sample of column {name!r} is not a nested state")
        with naming_data():
            samples[name] = _core.SortedSample.from_bytes(value)
    return core, tests, samples
