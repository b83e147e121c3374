"""Bad-input matrix over every public tabular entry point (issue 10): each argument x each class
of bad (and of unusual but valid) value.

Every case ends in one of two ways: a correct result (checked against an independent numpy
computation or against the same call with a plain argument), or an ``UndertowError``/``TypeError``
whose message names the argument. Never a raw numpy/polars/pyarrow error, a KeyError or
AttributeError, and never a PanicException (a BaseException). Cases that could crash the
interpreter run in a subprocess. The stream cases (scan, drift_over, the CLI) are in
tests/stream/test_stream_bad_input_matrix.py and use the same runner.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from bad_input_cases import ERR, OK, Case, run_case

import undertow as ut

RNG = np.random.default_rng(11)
E = RNG.normal(size=2000)
A = RNG.normal(0.2, 1.1, size=2000)
PLAIN_PSI = ut.psi(E, A)
PLAIN_HIST = ut.histogram(E, bins=10)
TABLE = {"x": E, "store": np.array(["a", "b", "c", "d"])[RNG.integers(0, 4, size=2000)]}
REF = ut.Reference.fit(TABLE, bins=10)
PLAIN_REPORT = REF.psi({"x": A, "store": TABLE["store"][::-1]})
EDGES = np.linspace(-3, 3, 13)


def unaligned(values: np.ndarray) -> np.ndarray:
    buffer = np.zeros(values.nbytes + 1, dtype=np.uint8)
    out = np.frombuffer(buffer.data, dtype=values.dtype, count=values.size, offset=1).reshape(values.shape)
    out[...] = values
    return out


def same_psi(result, plain=PLAIN_PSI):
    assert result.value == plain.value and result.status == plain.status


def same_hist(result, plain=PLAIN_HIST):
    np.testing.assert_array_equal(result[0], plain[0])
    np.testing.assert_array_equal(result[1], plain[1])


def np_hist(values, bins=10):
    def check(result):
        counts, edges = np.histogram(values, bins=bins)
        np.testing.assert_array_equal(result[0], counts)
        np.testing.assert_allclose(result[1], edges, rtol=0, atol=0)

    return check


def same_report(result, plain=PLAIN_REPORT):
    for name in plain.columns:
        assert result[name].value == plain[name].value


# --- classes of values ------------------------------------------------------------------------

WRONG_TYPES = {"str": "10", "float": 2.5, "bool": True, "none": None, "list": [1, 2], "dict": {}}
NON_FINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
BAD_ARRAYS = {
    "0d": np.float64(1.0),
    "3d": np.zeros((2, 2, 2)),
    "empty": np.zeros(0),
    "bool": np.ones(10, dtype=bool),
    "object": np.array([1.0, "a"] * 5, dtype=object),
    "complex": np.ones(10, dtype=complex),
    "datetime": np.arange(10).astype("datetime64[s]"),
    "str": np.array(["a"] * 10),
    "ragged": [[1.0, 2.0], [3.0]],
    "none": None,
    "int-scalar": 5,
}


def good_arrays(values):
    """Unusual but valid layouts of `values`: (label, array, the float array it must equal)."""
    strided = np.empty(values.size * 2)
    strided[::2] = values
    return [
        ("non-contiguous", strided[::2], values),
        ("unaligned", unaligned(values), values),
        ("big-endian", values.astype(">f8"), values),
        ("float16", values.astype(np.float16), values.astype(np.float16).astype(np.float32)),
        ("int", np.round(values * 100).astype(np.int32), np.round(values * 100)),
        ("list", values.tolist(), values),
        ("polars", pl.Series(values), values),
        ("pandas", pd.Series(values), values),
    ]


CASES: list[Case] = []


def add(name, fn, outcome, argument="", check=None, sub=False):
    CASES.append(Case(name, fn, outcome, argument, check, sub))


# --- ut.histogram(x, bins, range) -------------------------------------------------------------

for label, value in BAD_ARRAYS.items():
    outcome = ERR
    add(f"histogram-x-{label}", lambda v=value: ut.histogram(v), outcome, "x")
for label, value, plain in good_arrays(E):
    # numpy's own histogram of the same array (float16 edges for float16 data)
    source = value if isinstance(value, np.ndarray) else plain
    add(f"histogram-x-{label}", lambda v=value: ut.histogram(v), OK, check=np_hist(source))
add("histogram-x-nan", lambda: ut.histogram(np.array([1.0, np.nan])), ERR, "x")
for label, value in {**WRONG_TYPES, "0": 0, "-1": -1, "huge": 10**12, "nan": float("nan")}.items():
    if label == "list":
        continue  # a list is explicit edges
    add(f"histogram-bins-{label}", lambda v=value: ut.histogram(E, bins=v), ERR, "bins")
for label, value in {"np.int64": np.int64(10), "np.int32": np.int32(10), "np.uint8": np.uint8(10)}.items():
    add(f"histogram-bins-{label}", lambda v=value: ut.histogram(E, bins=v), OK, check=same_hist)
add("histogram-bins-edges-2d", lambda: ut.histogram(E, bins=np.zeros((2, 2))), ERR, "bins")
add("histogram-bins-edges-decreasing", lambda: ut.histogram(E, bins=[3.0, 1.0]), ERR, "bins")
add("histogram-bins-edges-nan", lambda: ut.histogram(E, bins=[0.0, np.nan, 1.0]), ERR, "bins")
add("histogram-bins-edges-str", lambda: ut.histogram(E, bins=["a", "b"]), ERR, "bins")
add("histogram-bins-edges-ok", lambda: ut.histogram(E, bins=EDGES), OK, check=np_hist(E, EDGES))
for label, value in {
    "str": "ab",
    "one": (1.0,),
    "three": (1, 2, 3),
    "nan": (np.nan, 1.0),
    "inf": (0.0, np.inf),
    "reversed": (1.0, 0.0),
    "none-inside": (None, 1.0),
    "scalar": 3.0,
}.items():
    add(f"histogram-range-{label}", lambda v=value: ut.histogram(E, range=v), ERR, "range")
add(
    "histogram-range-numpy",
    lambda: ut.histogram(E, range=(np.float32(-1), np.int64(1))),
    OK,
    check=lambda r: np.testing.assert_array_equal(r[0], np.histogram(E, bins=10, range=(-1, 1))[0]),
)

# --- ut.psi(expected, actual, bins, binning, eps, nan_policy, thresholds) ----------------------

for side in ("expected", "actual"):
    for label, value in BAD_ARRAYS.items():
        call = (lambda v=value: ut.psi(v, A)) if side == "expected" else (lambda v=value: ut.psi(E, v))
        add(f"psi-{side}-{label}", call, ERR, side)
    for label, value, plain in good_arrays(E if side == "expected" else A):
        if side == "expected":
            add(
                f"psi-{side}-{label}",
                lambda v=value, p=plain: ut.psi(v, A),
                OK,
                check=lambda r, p=plain: same_psi(r, ut.psi(np.asarray(p, dtype=np.float64), A)),
            )
        else:
            add(
                f"psi-{side}-{label}",
                lambda v=value: ut.psi(E, v),
                OK,
                check=lambda r, p=plain: same_psi(r, ut.psi(E, np.asarray(p, dtype=np.float64))),
            )
    add(
        f"psi-{side}-nan-raise",
        (lambda: ut.psi(np.r_[E, np.nan], A))
        if side == "expected"
        else (lambda: ut.psi(E, np.r_[A, np.nan])),
        ERR,
        side,
    )
for label, value in {**WRONG_TYPES, "0": 0, "1": 1, "-1": -1, "huge": 10**12, "nan": float("nan")}.items():
    if label == "list":
        continue
    add(f"psi-bins-{label}", lambda v=value: ut.psi(E, A, bins=v), ERR, "bins")
for label, value in {"np.int64": np.int64(10), "np.int16": np.int16(10)}.items():
    add(f"psi-bins-{label}", lambda v=value: ut.psi(E, A, bins=v), OK, check=same_psi)
for label, value in {
    "str": "median",
    "none": None,
    "int": 3,
    "2d": np.zeros((2, 2)),
    "short": [1.0, 2.0],
    "nan": [0.0, np.nan, 1.0],
    "unsorted": [2.0, 1.0, 3.0],
    "bool": True,
}.items():
    add(f"psi-binning-{label}", lambda v=value: ut.psi(E, A, binning=v), ERR, "binning")
add(
    "psi-binning-edges",
    lambda: ut.psi(E, A, binning=EDGES),
    OK,
    check=lambda r: same_psi(r, ut.psi(E, A, bins=EDGES)),
)
for label, value in {**WRONG_TYPES, "0": 0.0, "1": 1.0, "-1": -1.0, **NON_FINITE}.items():
    add(f"psi-eps-{label}", lambda v=value: ut.psi(E, A, eps=v), ERR, "eps")
add(
    "psi-eps-np.float32",
    lambda: ut.psi(E, A, eps=np.float32(1e-4)),
    OK,
    check=lambda r: same_psi(r, ut.psi(E, A, eps=float(np.float32(1e-4)))),
)
for label, value in {**WRONG_TYPES, "upper": "RAISE", "other": "drop"}.items():
    add(f"psi-nan_policy-{label}", lambda v=value: ut.psi(E, A, nan_policy=v), ERR, "nan_policy")
for label, value in {
    "str": "ab",
    "one": (0.1,),
    "three": (0.1, 0.2, 0.3),
    "reversed": (0.3, 0.1),
    "negative": (-0.1, 0.2),
    "nan": (np.nan, 0.2),
    "inf": (0.1, np.inf),
    "none": None,
    "float": 0.1,
}.items():
    add(f"psi-thresholds-{label}", lambda v=value: ut.psi(E, A, thresholds=v), ERR, "thresholds")
add("psi-thresholds-numpy", lambda: ut.psi(E, A, thresholds=np.array([0.1, 0.25])), OK, check=same_psi)

# --- Reference.fit(table, ...), Reference.psi(table), accumulators ---------------------------

BAD_TABLES = {
    "none": None,
    "int": 5,
    "str": "table",
    "1d": E,
    "3d": np.zeros((2, 2, 2)),
    "empty-dict": {},
    "empty-column": {"x": np.zeros(0)},
    "ragged-lengths": {"x": E, "y": E[:10]},
    "complex-column": {"x": np.ones(10, dtype=complex)},
    "datetime-column": {"x": np.arange(10).astype("datetime64[s]")},
    "2d-column": {"x": np.zeros((10, 2))},
    "list-column": pl.DataFrame({"x": [[1.0, 2.0], [3.0]]}),
    "struct-column": pl.DataFrame({"x": [{"a": 1}, {"a": 2}]}),
    "duplicate-names": pd.DataFrame(np.zeros((5, 2)), columns=["x", "x"]),
    "empty-polars": pl.DataFrame(),
    "ragged-list": [[1.0, 2.0], [3.0]],
    "lazy": pl.LazyFrame({"x": E}),
}
for label, value in BAD_TABLES.items():
    add(f"fit-table-{label}", lambda v=value: ut.Reference.fit(v), ERR, "table")
for label, value in {**WRONG_TYPES, "0": 0, "1": 1, "huge": 10**12}.items():
    if label == "list":
        continue
    add(f"fit-bins-{label}", lambda v=value: ut.Reference.fit(TABLE, bins=v), ERR, "bins")
add(
    "fit-bins-np.int64",
    lambda: ut.Reference.fit(TABLE, bins=np.int64(10)).psi({"x": A, "store": TABLE["store"][::-1]}),
    OK,
    check=same_report,
)
for label, value in {
    "str": "store",
    "int": 3,
    "missing": ["nope"],
    "float": 3.5,
}.items():
    add(
        f"fit-categorical-{label}", lambda v=value: ut.Reference.fit(TABLE, categorical=v), ERR, "categorical"
    )
add(
    "fit-categorical-tuple",
    lambda: ut.Reference.fit(TABLE, categorical=("store",)).columns,
    OK,
    check=lambda r: r == ["x", "store"],
)
for label, value in {**WRONG_TYPES, "other": "drop"}.items():
    add(f"fit-nan_policy-{label}", lambda v=value: ut.Reference.fit(TABLE, nan_policy=v), ERR, "nan_policy")
for label, value in {**WRONG_TYPES, "0": 0.0, **NON_FINITE}.items():
    add(f"fit-eps-{label}", lambda v=value: ut.Reference.fit(TABLE, eps=v), ERR, "eps")
for label, value in {"str": "ab", "one": (0.1,), "nan": (np.nan, 0.2), "none": None}.items():
    add(f"fit-thresholds-{label}", lambda v=value: ut.Reference.fit(TABLE, thresholds=v), ERR, "thresholds")
for label, value in {"str": "median", "none": None, "short": [1.0, 2.0]}.items():
    add(f"fit-binning-{label}", lambda v=value: ut.Reference.fit(TABLE, binning=v), ERR, "binning")
for label, value, plain in good_arrays(E):
    if label in ("list",):
        continue
    add(
        f"fit-column-{label}",
        lambda v=value: ut.Reference.fit({"x": v}).psi({"x": A})["x"].value,
        OK,
        check=lambda r, p=plain: (
            r == ut.Reference.fit({"x": np.asarray(p, dtype=np.float64)}).psi({"x": A})["x"].value
        ),
    )
add(
    "fit-matrix-unaligned",
    lambda: ut.Reference.fit(unaligned(np.column_stack([E, A]))).psi(np.column_stack([A, E])),
    OK,
    check=lambda r: same_report(r, ut.Reference.fit(np.column_stack([E, A])).psi(np.column_stack([A, E]))),
)

CURRENT_BAD = {
    **{k: v for k, v in BAD_TABLES.items() if k not in ("empty-column",)},
    "missing-column": {"x": A},
    "extra-column": {"x": A, "store": TABLE["store"], "y": A},
    "numeric-for-categorical": {"x": A, "store": A},
    "categorical-for-numeric": {"x": TABLE["store"], "store": TABLE["store"]},
    "int-for-str-categorical": {"x": A, "store": np.arange(2000)},
    "nan-under-raise": {"x": np.r_[A[:-1], np.nan], "store": TABLE["store"]},
    "null-category-under-raise": {"x": A[:3], "store": pl.Series(["a", None, "b"])},
}
for label, value in CURRENT_BAD.items():
    add(f"reference.psi-table-{label}", lambda v=value: REF.psi(v), ERR, ("table", "actual"))
    add(f"update-batch-{label}", lambda v=value: REF.accumulator().update(v), ERR, ("batch", "actual"))
add(
    "update-batch-empty-dict-columns",
    lambda: REF.accumulator().update({"x": A[:0], "store": TABLE["store"][:0]}).rows,
    OK,
    check=lambda r: r == 0,
)
add(
    "reference.psi-table-reordered",
    lambda: REF.psi({"store": TABLE["store"][::-1], "x": A}),
    OK,
    check=same_report,
)
add(
    "reference.psi-table-polars",
    lambda: REF.psi(pl.DataFrame({"x": A, "store": TABLE["store"][::-1]})),
    OK,
    check=same_report,
)
add(
    "reference.psi-table-pandas",
    lambda: REF.psi(pd.DataFrame({"x": A, "store": TABLE["store"][::-1]})),
    OK,
    check=same_report,
)
add(
    "reference.psi-table-unaligned",
    lambda: REF.psi({"x": unaligned(A), "store": TABLE["store"][::-1]}),
    OK,
    check=same_report,
)
OTHER_REF = ut.Reference.fit({"y": E})
for label, value in {
    "none": None,
    "int": 3,
    "reference": REF,
    "histogram": ut.HistogramAccumulator(EDGES),
    "other-reference": OTHER_REF.accumulator(),
}.items():
    add(f"merge-other-{label}", lambda v=value: REF.accumulator().merge(v), ERR, "other")
add("finalize-empty", lambda: REF.accumulator().finalize(), ERR, ("actual", "rows", "no values"))
for label, value in {
    "none": None,
    "str": "abc",
    "int": 3,
    "garbage": b"garbage",
    "empty": b"",
    "truncated": REF.accumulator().to_bytes()[:-3],
    "reference-bytes": b"\x00" + REF.to_bytes()[1:],
}.items():
    add(
        f"accumulator.from_bytes-data-{label}",
        lambda v=value: ut.PsiAccumulator.from_bytes(v),
        ERR,
        ("data", "bytes"),
    )
    add(
        f"reference.from_bytes-data-{label}",
        lambda v=value: ut.Reference.from_bytes(v),
        ERR,
        ("data", "bytes"),
    )
add(
    "accumulator.from_bytes-bytearray",
    lambda: ut.PsiAccumulator.from_bytes(
        bytearray(REF.accumulator().update({"x": A, "store": TABLE["store"][::-1]}).to_bytes())
    ).finalize(),
    OK,
    check=same_report,
)

# --- HistogramAccumulator(edges), update(x), merge(other), from_bytes(data) -------------------

for label, value in {
    "none": None,
    "str": "abc",
    "scalar": 3.0,
    "one": [1.0],
    "2d": np.zeros((2, 2)),
    "nan": [0.0, np.nan, 1.0],
    "inf": [0.0, np.inf],
    "decreasing": [1.0, 0.0],
    "equal": [1.0, 1.0],
    "complex": np.array([1j, 2j]),
    "ragged": [[1.0], [1.0, 2.0]],
    "object": np.array(["a", 1], dtype=object),
}.items():
    add(f"histacc-edges-{label}", lambda v=value: ut.HistogramAccumulator(v), (ERR,), "edges")


def hist_update(value):
    acc = ut.HistogramAccumulator(EDGES)
    acc.update(value)
    return acc.counts


for label, value in BAD_ARRAYS.items():
    if label == "empty":
        continue
    add(f"histacc-update-x-{label}", lambda v=value: hist_update(v), ERR, "x")
for label, value, plain in good_arrays(E):
    add(
        f"histacc-update-x-{label}",
        lambda v=value: hist_update(v),
        OK,
        check=lambda r, p=plain: np.testing.assert_array_equal(r, np.histogram(p, bins=EDGES)[0]),
    )
add("histacc-update-x-empty", lambda: hist_update(np.zeros(0)), OK, check=lambda r: r.sum() == 0)
for label, value in {
    "none": None,
    "other-edges": ut.HistogramAccumulator([0.0, 1.0]),
    "psi": REF.accumulator(),
}.items():
    add(f"histacc-merge-other-{label}", lambda v=value: ut.HistogramAccumulator(EDGES).merge(v), ERR, "other")
for label, value in {
    "none": None,
    "str": "abc",
    "garbage": b"garbage",
    "empty": b"",
    "psi-bytes": REF.accumulator().to_bytes(),
}.items():
    add(
        f"histacc.from_bytes-data-{label}",
        lambda v=value: ut.HistogramAccumulator.from_bytes(v),
        ERR,
        ("data", "bytes"),
    )

for case in CASES:
    if case.outcome == (ERR,):
        case.outcome = ERR


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case):
    run_case(case, __name__)


def test_matrix_size():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 300


def test_duplicate_names_of_a_wide_table_are_all_named_once() -> None:
    # 5,000 columns, three names repeated ("c7" four times, with its own column): the message names each
    # repeated name with its count, and no unique one.
    names = [f"c{i}" for i in range(5_000)]
    names[10] = names[4_000] = names[4_999] = "c7"
    names[20] = "c2"
    names[3_000] = "c1"
    frame = pd.DataFrame(np.zeros((3, len(names)), dtype=np.float32), columns=names)
    with pytest.raises(ut.UndertowError, match=r"^table: ") as caught:
        ut.Reference.fit(frame)
    message = str(caught.value)
    assert "'c7' 4 times" in message and "'c2' 2 times" in message and "'c1' 2 times" in message
    assert "'c0'" not in message and "'c4999'" not in message
