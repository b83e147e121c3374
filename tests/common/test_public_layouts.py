"""A hostile user's arrays through the public API: the same values as Fortran order, strided and
reversed views, big-endian, misaligned, read-only, a read-only memmap, float16, integers, and
pandas/polars frames where a table is taken. Each public function must give the answer of the
C-ordered float input, bit for bit (every statistic here is deterministic), or refuse with a
TypeError/UndertowError naming the argument; never crash, never another answer.

The facade converts once (`undertow._inputs`); the binding refuses anything not C-ordered
(`test_binding_layout.py`). The variants whose buffers Rust would read unsafely if one slipped
through (misaligned, big-endian, memmap) run in a subprocess, so a crash fails the tests instead
of killing pytest."""

from __future__ import annotations

import functools
import json
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

import undertow as ut

ROOT = Path(__file__).parents[2]
# np.matrix is one of the layouts users still hold
pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")


def _values(rows: int, dim: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """float64 values exact in float16 (quarters in [-16, 16]), no zero row, no ties."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-60, 60, (rows, dim)) / 4.0 + shift
    x[:, 0] = np.abs(x[:, 0]) + 0.25  # no zero row (cosines)
    return x


X = _values(48, 6, 1)
Y = _values(40, 6, 2, shift=0.5)


# ---------------------------------------------------------------------------------------------
# the variants: the values of a C-ordered float64 array `a`, laid out otherwise


def _strided(a: np.ndarray) -> np.ndarray:
    wide = np.zeros((a.shape[0], 2 * a.shape[1]) if a.ndim == 2 else 2 * a.shape[0])
    if a.ndim == 2:
        wide[:, ::2] = a
        return wide[:, ::2]
    wide[::2] = a
    return wide[::2]


def _rows_strided(a: np.ndarray) -> np.ndarray:
    tall = np.zeros((2 * a.shape[0], *a.shape[1:]))
    tall[::2] = a
    return tall[::2]


def _reversed(a: np.ndarray) -> np.ndarray:
    return a[::-1].copy()[::-1]


def _misaligned(a: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
    raw = np.ascontiguousarray(a, dtype=dtype).tobytes()
    out = np.frombuffer(b"\0" + raw, dtype=dtype, offset=1).reshape(a.shape)
    assert not out.flags.aligned
    return out


def _readonly(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    out.setflags(write=False)
    return out


def _memmap(a: np.ndarray, directory: Path) -> np.ndarray:
    path = directory / f"m{abs(hash(a.tobytes()))}.bin"
    np.ascontiguousarray(a).tofile(path)
    return np.memmap(path, dtype=np.float64, mode="r", shape=a.shape)


LAYOUTS: dict[str, Callable[..., Any]] = {
    "fortran": np.asfortranarray,
    "strided_columns": _strided,  # x[:, ::2] (1-D: x[::2])
    "strided_rows": _rows_strided,  # x[::2]
    "reversed": _reversed,  # x[::-1] of a reversed copy: negative strides
    "big_endian_f8": lambda a: a.astype(">f8"),
    "big_endian_f4": lambda a: a.astype(">f4"),
    "misaligned_f8": _misaligned,
    "misaligned_f4": lambda a: _misaligned(a, np.float32),
    "readonly": _readonly,
    "memmap": _memmap,
    "float16": lambda a: a.astype(np.float16),
    "int64": lambda a: (4 * a).astype(np.int64),  # scaled: the baseline is scaled alike
    "int32": lambda a: (4 * a).astype(np.int32),
}
# read by Rust unsafely were they to slip through unconverted: run in a subprocess
RISKY = {"big_endian_f8", "big_endian_f4", "misaligned_f8", "misaligned_f4", "memmap"}
NAMES = [str(j) for j in range(X.shape[1])]  # the column names of a numpy table
# what users hold instead of numpy, by the kind of argument
FRAMES: dict[str, dict[str, Callable[[np.ndarray], Any]]] = {
    "frame": {},
    "values": {
        "pandas_series": lambda a: pd.Series(a[::-1].copy()[::-1]),
        "pandas_series_big_endian": lambda a: pd.Series(a.astype(">f8")),
        "pandas_series_float16": lambda a: pd.Series(a.astype(np.float16)),
        "polars_series": pl.Series,
    },
    "table": {
        "pandas_frame": lambda a: pd.DataFrame(np.asfortranarray(a), columns=NAMES),
        "pandas_frame_f4": lambda a: pd.DataFrame(a.astype(np.float32), columns=NAMES),
        "pandas_frame_big_endian": lambda a: pd.DataFrame(a.astype(">f8"), columns=NAMES),
        "pandas_frame_big_endian_int": lambda a: pd.DataFrame((4 * a).astype(">i4"), columns=NAMES),
        "dict_big_endian": lambda a: {n: a[:, j].astype(">f8") for j, n in enumerate(NAMES)},
        "np_matrix": np.asmatrix,
        "polars_frame": lambda a: pl.DataFrame(np.asfortranarray(a), schema=NAMES),
    },
    "vectors": {
        "polars_array": lambda a: pl.Series("v", np.asfortranarray(a)),
        "polars_list": lambda a: pl.Series("v", a.tolist()),
        "np_matrix": lambda a: np.asmatrix(np.asfortranarray(a)),
        "list_of_rows": lambda a: a.tolist(),
    },
}


def _baseline_kind(layout: str, ndim: int) -> str:
    """The C-ordered float input with the same values as the variant, in the dtype the facade
    converts it to: float32 for the float32 variants and for float16 values (1-D), float64
    otherwise (integers, scaled by 4, and float16 vectors)."""
    if layout.startswith("int") or layout.endswith("_int"):
        return "int"
    if layout.endswith("f4") or ("float16" in layout and ndim == 1):
        return "f4"
    return "f8"


def _baseline_of(layout: str, a: np.ndarray) -> np.ndarray:
    kind = _baseline_kind(layout, a.ndim)
    return 4 * a if kind == "int" else a.astype(np.float32 if kind == "f4" else np.float64)


@functools.cache
def _expected(call: str, kind: str) -> Any:
    """The answer of the C-ordered baseline (computed once per call and dtype)."""
    function, base = CALLS[call]
    return function(4 * base if kind == "int" else base.astype(np.float32 if kind == "f4" else np.float64))


# ---------------------------------------------------------------------------------------------
# the public calls: each takes the hostile array `m` (and C-ordered partners) and returns plain
# data to compare


def _untimed(value: Any) -> Any:
    """`value` without its wall-clock fields (the only part allowed to differ)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _plain(result: Any) -> Any:
    if hasattr(result, "to_json"):
        return _untimed(json.loads(result.to_json()))
    if hasattr(result, "to_dict"):
        return _untimed(result.to_dict())
    return result


def _psi(m: np.ndarray) -> Any:
    return _plain(ut.psi(Y[:, 1], m))


def _reference_fit(m: Any) -> Any:
    return ut.Reference.fit(m, bins=5).to_bytes()


def _reference_psi(m: Any) -> Any:
    return _plain(ut.Reference.fit(Y, bins=5).psi(m))


def _accumulator(m: Any) -> Any:
    acc = ut.Reference.fit(Y, bins=5).accumulator()
    return _plain(acc.update(m).update(m).finalize())


def _pca(m: np.ndarray) -> Any:
    pca = ut.PCA.fit(m, components=3)
    return pca.mean, pca.components, pca.explained_variance, pca.transform(m), ut.PCA.fit(Y, 3).transform(m)


def _covariance(m: np.ndarray) -> Any:
    acc = ut.CovarianceAccumulator(6)
    acc.update(m)
    acc.update(Y)
    pca = acc.finalize(3)
    return pca.mean, pca.components, pca.explained_variance, acc.to_bytes()


def _rff(m: np.ndarray) -> Any:
    acc = ut.RffAccumulator(6, 2.0, features=32, seed=1)
    acc.update_x(m)
    acc.update_y(Y)
    return _plain(acc.finalize())


def _embedding_drift(m: np.ndarray) -> Any:
    # both sides: the reference fitted from `m`, then `m` as the current data
    drift = ut.EmbeddingDrift.fit(m, components=3, sample=30, permutations=20)
    other = ut.EmbeddingDrift.fit(Y, components=3, sample=30, permutations=20)
    return _plain(drift.compare(Y)), _plain(other.compare(m))


def _coverage(m: np.ndarray) -> Any:
    out = ut.eval_coverage(m, Y, clusters=3), ut.eval_coverage(Y, m, clusters=3)
    return [_plain(r) for r in out]


def _rotation(m: np.ndarray) -> Any:
    # as the old docs (40 rows, like the new ones) and as the new docs of another encoder
    new = Y[:, ::-1].copy()
    return [_plain(ut.rotation_preview(*pair, k=3, sample=20)) for pair in ((m[:40], new), (Y, m[:40]))]


def _reference_compare(m: Any) -> Any:
    reference = ut.Reference.fit(Y, bins=5, tests=["ks", "wasserstein"])
    acc = reference.comparator()
    acc.update(m)
    return _plain(reference.compare(m)), _plain(acc.finalize())


def _histogram_accumulator(m: np.ndarray) -> Any:
    acc = ut.HistogramAccumulator(np.linspace(-16, 16, 9))
    acc.update(m)
    acc.update(m[::-1])
    return acc.finalize()


def _embedding_accumulator(m: np.ndarray) -> Any:
    acc = ut.EmbeddingDrift.fit(Y, components=3, sample=30, permutations=20).accumulator()
    acc.update(m)
    acc.update(Y)
    return _plain(acc.finalize())


@functools.cache
def _index() -> tuple[Any, Any]:
    import faiss

    index = faiss.IndexFlatIP(X.shape[1])
    index.add(np.ascontiguousarray(Y[:30], dtype=np.float32))
    docs = pl.DataFrame(
        {
            "id": np.arange(30, dtype=np.int64),
            "content_hash": [f"h{i}" for i in range(30)],
            "embedded_hash": [f"h{i}" for i in range(30)],
            "encoder_version": ["v1"] * 30,
        }
    )
    return index, docs


def _audit(m: np.ndarray) -> Any:
    # the fresh re-embeddings of the stored rows and the queries: the user's matrices
    index, docs = _index()
    fresh = _plain(ut.audit_index(index, docs, fresh=(np.arange(30), m[:30]), k=3))
    queried = _plain(ut.audit_index(index, docs, queries=m, k=3))
    return fresh, queried


def _cohort_balance(m: np.ndarray) -> Any:
    # polars frames (cohort_balance takes polars or a scan) built from the user's arrays:
    # covariates from column views, and the rows as an embedding column
    arm = np.arange(len(m)) % 2
    frame = pl.DataFrame({"arm": arm, **{f"c{j}": m[:, j] for j in range(3)}})
    embedded = pl.DataFrame({"arm": arm, "v": np.asarray(m, dtype=np.float64)})
    report = ut.cohort_balance(frame, "arm", ["c0", "c1", "c2"])
    mixed = ut.cohort_balance(embedded, "arm", [], embeddings=["v"], features=16)
    return _plain(report), _plain(mixed)


# (function, base array): the base is what the variants lay out; 1-D calls take a column
CALLS: dict[str, tuple[Callable[[Any], Any], np.ndarray]] = {
    "psi": (_psi, X[:, 1]),
    "histogram": (lambda m: ut.histogram(m, bins=7), X[:, 2]),
    "ks": (lambda m: _plain(ut.ks(m, Y[:, 2])), X[:, 2]),
    "wasserstein": (lambda m: _plain(ut.wasserstein(Y[:, 3], m)), X[:, 3]),
    "two_sample_chi_square": (lambda m: _plain(ut.two_sample(np.floor(m), np.floor(Y[:, 0]), "chi_square")),
                              X[:, 0]),
    "Reference.fit": (_reference_fit, X),
    "Reference.psi": (_reference_psi, X),
    "PsiAccumulator.update": (_accumulator, X),
    "exact_search.vectors": (lambda m: ut.exact_search(m, Y[:5], k=3), X),
    "exact_search.queries": (lambda m: ut.exact_search(Y, m, k=3, metric="l2"), X),
    "mmd": (lambda m: _plain(ut.mmd(m, Y, permutations=30)), X),
    "mmd.rff": (lambda m: _plain(ut.mmd(Y, m, estimator="rff", features=32)), X),
    "median_bandwidth": (lambda m: ut.median_bandwidth(m, Y), X),
    "PCA": (_pca, X),
    "CovarianceAccumulator": (_covariance, X),
    "RffAccumulator": (_rff, X),
    "cosine_drift": (lambda m: [_plain(ut.cosine_drift(m, Y)), _plain(ut.cosine_drift(Y, m))], X),
    "EmbeddingDrift": (_embedding_drift, X),
    "eval_coverage": (_coverage, X),
    "rotation_preview": (_rotation, X),
    "Reference.compare": (_reference_compare, X),
    "HistogramAccumulator.update": (_histogram_accumulator, X[:, 4]),
    "EmbeddingAccumulator.update": (_embedding_accumulator, X),
    "audit_index": (_audit, X),
    "cohort_balance": (_cohort_balance, X),
}  # fmt: skip


def _run(call: str, layout: str, directory: Path) -> tuple[str, Any]:
    """("ok", plain result) or ("raised", "Type: message") of one call on one variant."""
    function, base = CALLS[call]
    if layout in LAYOUTS:
        m = LAYOUTS[layout](base, directory) if layout == "memmap" else LAYOUTS[layout](base)
        np.testing.assert_array_equal(np.asarray(m, dtype=np.float64), _baseline_of(layout, base))
    else:
        m = FRAMES[_kind(call)][layout](base)
    try:
        return "ok", function(m)
    except Exception as error:  # reported by the test (a refusal must name the argument)
        return "raised", f"{type(error).__name__}: {error}"


def _run_risky(directory: str, out: str) -> None:  # the subprocess's entry point
    results = {(c, v): _run(c, v, Path(directory)) for c in CALLS for v in sorted(RISKY)}
    Path(out).write_bytes(pickle.dumps(results))


@pytest.fixture(scope="module")
def risky(tmp_path_factory: pytest.TempPathFactory) -> dict:
    directory = tmp_path_factory.mktemp("layouts")
    out = directory / "results.pkl"
    script = "import sys; from tests.common.test_public_layouts import _run_risky; _run_risky(*sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", script, str(directory), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"exited with {done.returncode}:\n{done.stderr[-3000:]}"
    return pickle.loads(out.read_bytes())


def _kind(call: str) -> str:
    base = CALLS[call][1]
    if base.ndim == 1:
        return "values"
    if call == "cohort_balance":
        return "frame"  # polars only: the frame variants are its own
    return "table" if call.startswith(("Reference", "PsiAccumulator")) else "vectors"


@pytest.mark.parametrize(
    ("call", "layout"), [(c, v) for c in sorted(CALLS) for v in [*sorted(LAYOUTS), *FRAMES[_kind(c)]]]
)
def test_same_answer_or_a_clear_refusal(call: str, layout: str, risky: dict, tmp_path: Path) -> None:
    outcome, value = risky[(call, layout)] if layout in RISKY else _run(call, layout, tmp_path)
    assert outcome == "ok", value  # no refusal is expected: the facade converts every layout
    np.testing.assert_equal(value, _expected(call, _baseline_kind(layout, CALLS[call][1].ndim)))


# ---------------------------------------------------------------------------------------------
# integer ids and row numbers (exclude, ids, eval_ids): the same attack on 1-D int64 values

IDS = np.array([3, 0, 5, 1, 2, 4, 9, 7, 6, 8], dtype=np.int64)
ID_LAYOUTS: dict[str, Callable[[np.ndarray], Any]] = {
    "strided": lambda a: np.repeat(a, 2)[::2],
    "reversed": lambda a: a[::-1].copy()[::-1],
    "big_endian": lambda a: a.astype(">i8"),
    "misaligned": lambda a: np.frombuffer(b"\0" + a.tobytes(), dtype=np.int64, offset=1),
    "readonly": _readonly,
    "int32": lambda a: a.astype(np.int32),
    "uint64": lambda a: a.astype(np.uint64),
    "pandas": pd.Series,
    "polars": pl.Series,
}
ID_CALLS: dict[str, Callable[[Any], Any]] = {
    # exclude: row numbers, read by Rust as an int64 slice
    "exact_search.exclude": lambda ids: ut.exact_search(X[:10], X[:10], k=3, exclude=ids),
    "eval_coverage.ids": lambda ids: _plain(ut.eval_coverage(X, Y[:10], ids=ids, clusters=3)),
    "eval_coverage.eval_ids": lambda ids: _plain(ut.eval_coverage(X[:10], Y, eval_ids=ids, clusters=3)),
    "rotation_preview.doc_ids": lambda ids: _plain(
        ut.rotation_preview(X[:10], Y[:10], doc_ids=(IDS, ids), k=3, sample=10)
    ),
}


@pytest.mark.parametrize("layout", sorted(ID_LAYOUTS))
@pytest.mark.parametrize("call", sorted(ID_CALLS))
def test_ids_in_any_layout_give_the_same_answer(call: str, layout: str) -> None:
    ids = ID_LAYOUTS[layout](IDS)
    assert np.array_equal(np.asarray(ids), IDS)
    np.testing.assert_equal(_untimed(ID_CALLS[call](ids)), _untimed(ID_CALLS[call](IDS)))


# ---------------------------------------------------------------------------------------------
# masked arrays: numpy's own conversions drop the mask, which would count the masked values


def _masked(a: np.ndarray) -> np.ma.MaskedArray:
    return np.ma.masked_array(a, mask=a > 3)


MASKED_CALLS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "psi": (lambda m: ut.psi(Y[:, 1], m[:, 1]), "actual"),
    "ks": (lambda m: ut.ks(m[:, 1], Y[:, 1]), "expected"),
    "Reference.fit.array": (lambda m: ut.Reference.fit(m).to_bytes(), "table"),
    "Reference.fit.dict": (
        lambda m: ut.Reference.fit({"a": m[:, 0], "b": m[:, 1]}).to_bytes(),
        "table column 'a'",
    ),
    "mmd": (lambda m: ut.mmd(Y, m, permutations=10), "y"),
    "exact_search": (lambda m: ut.exact_search(m, Y[:3], k=2), "vectors"),
}


@pytest.mark.parametrize("call", sorted(MASKED_CALLS))
def test_masked_values_are_refused_naming_the_argument(call: str) -> None:
    function, argument = MASKED_CALLS[call]
    masked = _masked(X)
    assert masked.mask.any()
    with pytest.raises(TypeError, match=rf"^{argument}: a masked array with \d+ masked values"):
        function(masked)


@pytest.mark.parametrize("call", sorted(MASKED_CALLS))
def test_a_masked_array_with_nothing_masked_is_its_data(call: str) -> None:
    function, _ = MASKED_CALLS[call]
    np.testing.assert_equal(_plain(function(np.ma.masked_array(X, mask=False))), _plain(function(X)))


def test_audit_docs_as_pandas_with_big_endian_columns() -> None:
    # a whole pandas frame goes to polars through Arrow, which refuses byte-swapped arrays
    index, docs = _index()
    want = _plain(ut.audit_index(index, docs, k=3))
    hostile = docs.to_pandas()
    hostile["id"] = hostile["id"].to_numpy().astype(">i8")
    hostile["score"] = np.arange(len(hostile), dtype=">f4")  # a column the audit does not read
    assert _plain(ut.audit_index(index, hostile, k=3)) == want


@pytest.mark.parametrize(
    "call",
    [
        lambda frame: ut.cohort_balance(frame, "arm", ["c"]),
        lambda frame: ut.drift_over(frame, ut.Reference.fit({"c": Y[:, 0]}), "t"),
    ],
    ids=["cohort_balance", "drift_over"],
)
def test_polars_only_functions_name_the_pandas_frame_they_refuse(call: Callable[[Any], Any]) -> None:
    frame = pd.DataFrame({"arm": np.arange(48) % 2, "t": np.zeros(48), "c": X[:, 0]})
    with pytest.raises(
        TypeError, match=r"^frame: expected a polars DataFrame .*got pandas\.DataFrame \(pandas: pl"
    ):
        call(frame)


# ---------------------------------------------------------------------------------------------
# scanned sources: Arrow vector columns are viewed without a copy, so their buffers are the
# user's too (a child at an odd address, a slice with an offset)


def _arrow_vectors(kind: str) -> Any:
    import pyarrow as pa

    n, d = X.shape
    if kind == "misaligned":
        buffer = pa.py_buffer(b"\0" + X.astype(np.float32).tobytes()).slice(1)
        child = pa.Array.from_buffers(pa.float32(), n * d, [None, buffer])
        assert not child.to_numpy(zero_copy_only=True).flags.aligned
        return pa.FixedSizeListArray.from_arrays(child, d)
    if kind == "sliced":  # the rows after 5 padding rows: the child starts at offset 5 * d
        padded = np.vstack([np.zeros((5, d)), X]).astype(np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(padded.ravel()), d).slice(5)
    return pa.FixedSizeListArray.from_arrays(pa.array(X.astype(np.float32).ravel()), d)


@functools.cache
def _scanned(kind: str) -> Any:
    import pyarrow as pa

    table = pa.table({"v": _arrow_vectors(kind), "id": pa.array(np.arange(len(X)))})
    coverage = ut.eval_coverage(Y, ut.scan(table), column="v", id_column="id", clusters=3)
    drift = ut.EmbeddingDrift.fit(Y, components=3, sample=30, permutations=20)
    pca = ut.scan(table).pca("v", components=3)
    return _plain(coverage), _plain(ut.scan(table).embedding(drift, "v")), pca.components, pca.mean


@pytest.mark.parametrize("kind", ["misaligned", "sliced"])
def test_scanned_arrow_vectors_in_any_buffer(kind: str) -> None:
    np.testing.assert_equal(_scanned(kind), _scanned("plain"))
