"""Crafted state bytes: a body with a recomputed CRC passes the envelope, so every field must be
checked semantically. Only UndertowError may leave from_bytes, allocation is bounded by the
input, and counts never wrap."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

import undertow as ut
from undertow import UndertowError
from undertow.embedding._pack import pack

HEADER = 19  # b"UNDERTOW", version u16, kind u8, body length u64
PYTHON_DIR = str(Path(ut.__file__).resolve().parent.parent)


def reseal(state: bytes, body: bytes) -> bytes:
    """`body` in `state`'s envelope with the length and CRC-32 recomputed as the encoder does."""
    head = state[:11] + struct.pack("<Q", len(body))
    out = head + body
    return out + struct.pack("<I", zlib.crc32(out))


def body_of(state: bytes) -> bytes:
    return state[HEADER:-4]


def test_reseal_reproduces_the_encoder() -> None:
    state = ut.Reference.fit({"x": np.arange(50.0)}, bins=4).to_bytes()
    assert reseal(state, body_of(state)) == state


# --- the RFF dimension is backed by nothing in the bytes -----------------------------------

RFF_CHILD = textwrap.dedent(
    """
    import resource, struct, sys, time, zlib
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    import undertow as ut
    state = ut.RffAccumulator(4, 1.0, features=256).to_bytes()
    body = struct.pack("<Q", int(sys.argv[1])) + state[27:-4]
    head = state[:11] + struct.pack("<Q", len(body))
    crafted = head + body + struct.pack("<I", zlib.crc32(head + body))
    start = time.perf_counter()
    try:
        ut.RffAccumulator.from_bytes(crafted)
    except ut.UndertowError as exc:
        print("refused", time.perf_counter() - start, exc)
    else:
        print("loaded", time.perf_counter() - start)
    """
)


@pytest.mark.parametrize("dim", [2**21, 2**24])
def test_rff_state_claiming_a_huge_dim_is_refused_without_allocating(dim: int) -> None:
    # Before the fix: 2**24 asked for 34 GB (abort under the 3 GB address-space limit), 2**21
    # for 4 GB and 29 s with the GIL held.
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR}
    run = subprocess.run(
        [sys.executable, "-c", RFF_CHILD, str(dim)], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0, run.stderr[-2000:]
    verdict, seconds, *message = run.stdout.split()
    assert verdict == "refused", run.stdout
    assert float(seconds) < 1.0
    assert "dim * features" in " ".join(message)


def test_rff_weights_are_bounded_by_memory_in_new_and_by_the_input_in_from_bytes() -> None:
    # new: the weights are checked against the memory ceiling (a MemoryError naming the bytes)
    os.environ["UNDERTOW_MEMORY_LIMIT"] = str(512 * 2**20)
    try:
        with pytest.raises(MemoryError, match="dim=1048576"):
            ut.RffAccumulator(2**20, 1.0, features=128)  # 2**27 float64 weights: 1 GiB
    finally:
        del os.environ["UNDERTOW_MEMORY_LIMIT"]
    # 256 features (the default) load with any dim up to 65,536: 2**24 weights.
    acc = ut.RffAccumulator(2**16, 1.0, features=256)
    assert ut.RffAccumulator.from_bytes(acc.to_bytes()).to_bytes() == acc.to_bytes()
    state = acc.to_bytes()
    body = bytearray(body_of(state))
    body[0:8] = struct.pack("<Q", 2**16 + 1)
    with pytest.raises(UndertowError, match="may ask for"):
        ut.RffAccumulator.from_bytes(reseal(state, bytes(body)))


def test_rff_features_are_checked_against_the_sides_before_allocating() -> None:
    state = ut.RffAccumulator(4, 1.0, features=8).to_bytes()
    body = bytearray(body_of(state))
    body[8:16] = struct.pack("<Q", 16_384)  # the sides still hold 8 features
    with pytest.raises(UndertowError, match="feature count"):
        ut.RffAccumulator.from_bytes(reseal(state, bytes(body)))


# --- counts that wrap ------------------------------------------------------------------------


def counts_offset(state: bytes, bins: int, name: str = "x") -> int:
    """Offset in the body of a one-numeric-column reference where its counts start."""
    body = body_of(state)
    at = 1 + 3 * 8 + 8 + 8 + len(name) + 1  # policy, eps/moderate/significant, columns, name, kind
    (edges,) = struct.unpack_from("<Q", body, at)
    at += 8 + 8 * edges
    (n,) = struct.unpack_from("<Q", body, at)
    assert n == bins
    return at + 8


def test_reference_counts_summing_past_2_64_are_refused() -> None:
    # Before the fix this loaded and reported a PSI of 8e20.
    ref = ut.Reference.fit({"x": np.arange(100.0)}, bins=4)
    state = ref.to_bytes()
    at = counts_offset(state, 4)
    body = bytearray(body_of(state))
    body[at : at + 32] = struct.pack("<4Q", 2**63, 2**63, 5, 5)  # wraps to 10
    with pytest.raises(UndertowError, match="past 2\\*\\*64"):
        ut.Reference.from_bytes(reseal(state, bytes(body)))
    body[at : at + 32] = struct.pack("<4Q", 2**62, 2**62, 2**62, 2**62 - 1)  # u64::MAX: fine
    back = ut.Reference.from_bytes(reseal(state, bytes(body)))
    assert back.to_bytes() == reseal(state, bytes(body))


def test_accumulator_counts_summing_past_2_64_are_refused() -> None:
    acc = ut.Reference.fit({"x": np.arange(100.0)}, bins=4).accumulator()
    acc.update({"x": np.arange(10.0)})
    state = acc.to_bytes()
    body = bytearray(body_of(state))
    counts_at = len(body) - 8 - 4 * 8  # the last column's 4 counts, then its missing count
    body[counts_at : counts_at + 32] = struct.pack("<4Q", 2**64 - 1, 1, 0, 0)
    with pytest.raises(UndertowError, match="past 2\\*\\*64"):
        ut.PsiAccumulator.from_bytes(reseal(state, bytes(body)))


def _loaded_with_counts(counts: tuple[int, int, int, int]) -> ut.PsiAccumulator:
    state = ut.Reference.fit({"x": np.arange(100.0)}, bins=4).accumulator().to_bytes()
    body = bytearray(body_of(state))
    counts_at = len(body) - 8 - 4 * 8
    body[counts_at : counts_at + 32] = struct.pack("<4Q", *counts)
    return ut.PsiAccumulator.from_bytes(reseal(state, bytes(body)))


def test_merging_or_updating_loaded_accumulators_never_wraps_the_counts() -> None:
    big = _loaded_with_counts((2**63, 0, 0, 1))
    before = big.to_bytes()
    with pytest.raises(UndertowError, match="past 2\\*\\*64"):
        big.merge(ut.PsiAccumulator.from_bytes(before))
    assert big.to_bytes() == before  # nothing half-added
    full = _loaded_with_counts((2**64 - 2, 0, 0, 1))
    before = full.to_bytes()
    with pytest.raises(UndertowError, match="past 2\\*\\*64"):
        full.update({"x": np.array([1.0])})
    assert full.to_bytes() == before


def test_merging_covariances_never_wraps_the_row_count() -> None:
    acc = ut.CovarianceAccumulator(2)
    acc.update(np.array([[1.0, 2.0], [3.0, 5.0]]))
    state = acc.to_bytes()
    body = bytearray(body_of(state))
    body[8:16] = struct.pack("<Q", 2**63)
    big = ut.CovarianceAccumulator.from_bytes(reseal(state, bytes(body)))
    with pytest.raises(UndertowError, match="2\\*\\*64"):
        big.merge(ut.CovarianceAccumulator.from_bytes(reseal(state, bytes(body))))


def test_accumulator_missing_under_raise_is_refused() -> None:
    acc = ut.Reference.fit({"x": np.arange(100.0)}, bins=4).accumulator()
    state = acc.to_bytes()
    body = bytearray(body_of(state))
    body[-8:] = struct.pack("<Q", 3)
    with pytest.raises(UndertowError, match="nan_policy 'raise'"):
        ut.PsiAccumulator.from_bytes(reseal(state, bytes(body)))


def test_histogram_counts_summing_past_int64_are_refused() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    bad = pack("histogram", {}, {"edges": edges, "counts": np.array([2**62, 2**62], dtype=np.int64)})
    with pytest.raises(UndertowError, match="2\\*\\*63"):
        ut.HistogramAccumulator.from_bytes(bad)


def test_duplicate_categories_are_refused() -> None:
    ref = ut.Reference.fit({"c": np.array(["aa", "bb", "aa"])}, categorical=["c"])
    state = ref.to_bytes()
    crafted = state.replace(b"bb", b"aa")
    with pytest.raises(UndertowError, match="appears twice"):
        ut.Reference.from_bytes(reseal(state, body_of(crafted)))


def test_nonfinite_covariance_sums_are_refused() -> None:
    acc = ut.CovarianceAccumulator(2)
    acc.update(np.array([[1.0, 2.0], [3.0, 5.0], [0.0, 1.0]]))
    state = acc.to_bytes()
    body = bytearray(body_of(state))
    body[-8:] = struct.pack("<d", float("nan"))  # the last cross-product
    with pytest.raises(UndertowError, match="NaN"):
        ut.CovarianceAccumulator.from_bytes(reseal(state, bytes(body)))


# --- mutation sweeps ---------------------------------------------------------------------------


def _states() -> dict[str, tuple[type, bytes]]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 4))
    ref = ut.Reference.fit({"a": np.arange(40.0), "c": np.array(["p", "q"] * 20)}, bins=3, categorical=["c"])
    psi_acc = ref.accumulator().update({"a": np.arange(5.0), "c": np.array(["p", "r", "q", "p", "p"])})
    cov = ut.CovarianceAccumulator(3)
    cov.update(x[:10, :3])
    rff = ut.RffAccumulator(2, 1.0, features=3, seed=1)
    rff.update_x(x[:6, :2])
    rff.update_y(x[6:9, :2])
    drift = ut.EmbeddingDrift.fit(x, components=2, bins=3, sample=4, permutations=5)
    emb_acc = drift.accumulator()
    emb_acc.update(x[:7] + 0.5)
    hist = ut.HistogramAccumulator([0.0, 1.0, 2.5])
    hist.update(np.array([0.5, 2.0, 2.0]))
    tested = ut.Reference.fit(
        {"a": np.arange(12.0), "c": np.array(["p", "q"] * 6)}, bins=3, categorical=["c"], tests="auto"
    )
    return {
        "reference": (ut.Reference, ref.to_bytes()),
        "psi_accumulator": (ut.PsiAccumulator, psi_acc.to_bytes()),
        "covariance": (ut.CovarianceAccumulator, cov.to_bytes()),
        "pca": (ut.PCA, cov.finalize(2).to_bytes()),
        "rff": (ut.RffAccumulator, rff.to_bytes()),
        "embedding_reference": (ut.EmbeddingDrift, drift.to_bytes()),
        "embedding_accumulator": (ut.EmbeddingAccumulator, emb_acc.to_bytes()),
        "histogram": (ut.HistogramAccumulator, hist.to_bytes()),
        "tested_reference": (ut.Reference, tested.to_bytes()),
    }


STATES = _states()
# Each byte: two bit flips, set to 0x00 and 0xFF, and +1 (carries into neighbouring values).
SWEEP = (("xor", 0x01), ("xor", 0x80), ("set", 0x00), ("set", 0xFF), ("add", 1))


def changed(byte: int, op: str, value: int) -> int:
    return {"xor": byte ^ value, "set": value, "add": (byte + value) & 0xFF}[op]


def check_outcome(cls: type, data: bytes) -> str:
    """'refused' or 'loaded'; anything else raised fails the test."""
    try:
        obj = cls.from_bytes(data)
    except UndertowError:
        return "refused"
    again = obj.to_bytes()
    assert cls.from_bytes(again).to_bytes() == again
    return "loaded"


# States whose body is a JSON header and blobs (embedding/_pack.py)
PACKED = ("embedding_reference", "embedding_accumulator", "tested_reference")


def sweep_positions(kind: str, body: bytes) -> range | list[int]:
    if kind not in PACKED:
        return range(len(body))
    # Packed bodies: every byte of the JSON header, then a stride over the blobs (the nested
    # states carry their own CRC and have their own sweeps above).
    size = int.from_bytes(body[8:16], "little")
    header_end = 16 + size
    return [*range(header_end), *range(header_end, len(body), 7)]


@pytest.mark.parametrize("kind", sorted(STATES))
def test_crc_valid_byte_mutations_only_raise_undertow_error(kind: str) -> None:
    cls, state = STATES[kind]
    assert state, kind
    body = body_of(state)
    outcomes = {"refused": 0, "loaded": 0}
    for i in sweep_positions(kind, body):
        for op, value in SWEEP:
            mutated = bytearray(body)
            mutated[i] = changed(body[i], op, value)
            if mutated == body:
                continue
            outcomes[check_outcome(cls, reseal(state, bytes(mutated)))] += 1
    cases = outcomes["refused"] + outcomes["loaded"]
    print(f"{kind}: {cases} mutations, {outcomes}")
    assert cases > 4 * len(body) // (7 if kind in PACKED else 1) * 0.5
    assert outcomes["refused"] > 0


def _header(state: bytes) -> tuple[dict, list, bytes]:
    body = body_of(state)[8:]  # the codec's length prefix of the facade's body
    size = int.from_bytes(body[:8], "little")
    header = json.loads(body[8 : 8 + size])
    return header["meta"], header["blobs"], body[8 + size :]


def _repack(state: bytes, meta: object, entries: object, blobs: bytes) -> bytes:
    text = json.dumps({"meta": meta, "blobs": entries}).encode()
    body = len(text).to_bytes(8, "little") + text + blobs
    return reseal(state, len(body).to_bytes(8, "little") + body)


BAD_VALUES = [None, "x", True, -1, 2**70, 1.5, float("nan"), [], {}]


def _paths(value: object, path: tuple = ()) -> list[tuple]:
    """Every key path into nested dicts and lists of a JSON value."""
    out = [path] if path else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


def _replaced(root: object, path: tuple, value: object, delete: bool = False) -> object:
    root = json.loads(json.dumps(root))
    node = root
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return root


@pytest.mark.parametrize(
    "kind", ["embedding_reference", "embedding_accumulator", "histogram", "tested_reference"]
)
def test_json_header_field_mutations_only_raise_undertow_error(kind: str) -> None:
    cls, state = STATES[kind]
    meta, entries, blobs = _header(state)
    assert _repack(state, meta, entries, blobs) is not None
    outcomes = {"refused": 0, "loaded": 0}
    for top, tree in (("meta", meta), ("blobs", entries)):
        for path in _paths(tree):
            for value in BAD_VALUES:
                new = _replaced(tree, path, value)
                args = (new, entries) if top == "meta" else (meta, new)
                outcomes[check_outcome(cls, _repack(state, *args, blobs))] += 1
            if not isinstance(path[-1], int):
                new = _replaced(tree, path, None, delete=True)
                args = (new, entries) if top == "meta" else (meta, new)
                outcomes[check_outcome(cls, _repack(state, *args, blobs))] += 1
    for whole in (None, [], "x", 3, {"meta": 1}):
        outcomes[check_outcome(cls, _repack(state, whole, entries, blobs))] += 1
        outcomes[check_outcome(cls, _repack(state, meta, whole, blobs))] += 1
    print(f"{kind}: {sum(outcomes.values())} header mutations, {outcomes}")
    assert outcomes["refused"] > 0


def test_finite_sums_whose_covariance_overflows_are_an_error_not_nan_axes() -> None:
    # Before the fix: a PCA with explained variance 0 and NaN axes.
    acc = ut.CovarianceAccumulator(2)
    acc.update(np.array([[1.0, 2.0], [3.0, 5.0], [0.0, 1.0]]))
    state = acc.to_bytes()
    body = bytearray(body_of(state))
    sums_at = 8 + 8 + 8 + 16 + 8  # dim, rows, shift (length, 2 values), the sums' length
    body[sums_at : sums_at + 16] = struct.pack("<2d", 1e308, -1e308)
    loaded = ut.CovarianceAccumulator.from_bytes(reseal(state, bytes(body)))
    with pytest.raises(UndertowError, match="overflows"):
        loaded.finalize(1)
