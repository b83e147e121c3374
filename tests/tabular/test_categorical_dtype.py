"""A categorical column of another dtype class is refused, not scored as drift (issue 10, item 6).

Before: int codes in the reference and the same codes as float64 now gave PSI 16.1 "significant"
(every "1.0" landed in unseen against "1"); string vs float and bool vs 0/1 the same, also through
ut.scan. Now the reference records each categorical column's dtype class; another class is an
UndertowError naming the column, except integral floats against integer categories, which count
as the integers they equal (exact; pandas makes an int column with a null float64).
"""

import pickle

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import undertow as ut

CODES = np.arange(2000) % 25
LABELS = np.array([f"s{i}" for i in range(25)])[CODES]
FLAGS = CODES % 3 == 0


def _roundtrips(ref):
    return [ref, ut.Reference.from_bytes(ref.to_bytes()), pickle.loads(pickle.dumps(ref))]


def test_integral_floats_count_as_their_integers():
    ref = ut.Reference.fit({"c": CODES}, categorical=["c"])
    for r in _roundtrips(ref):
        got = r.psi({"c": CODES.astype(np.float64)})
        assert got["c"].value == 0.0
        np.testing.assert_array_equal(got["c"].actual_counts[:-1], np.bincount(CODES))
        assert got["c"].actual_counts[-1] == 0  # nothing unseen


@pytest.mark.parametrize(
    ("reference", "current", "categorical"),
    [
        (CODES, CODES + 0.5, ["c"]),  # non-integral floats vs integer codes
        (CODES, CODES.astype(str), ["c"]),  # strings vs integers
        (LABELS, CODES.astype(np.float64), None),  # floats vs strings
        (FLAGS, FLAGS.astype(np.int64), None),  # 0/1 vs bool
        (FLAGS.astype(np.int64), FLAGS, ["c"]),  # bool vs 0/1
        (CODES.astype(np.float64) + 0.5, CODES, ["c"]),  # ints vs float categories
        (LABELS, FLAGS, None),  # bool vs strings
    ],
)
def test_other_dtype_class_is_an_error_both_directions(reference, current, categorical):
    ref = ut.Reference.fit({"c": reference}, categorical=categorical)
    with pytest.raises(ut.UndertowError, match=r"column 'c'") as info:
        ref.psi({"c": current})
    assert "categor" in str(info.value)
    # the refusal leaves the accumulator untouched
    acc = ref.accumulator()
    with pytest.raises(ut.UndertowError):
        acc.update({"c": current})
    assert acc.rows == 0


def test_class_survives_bytes_for_unambiguous_labels():
    # "s0".."s24" can only be strings; "false"/"true" only strings or booleans
    for reference, current in [(LABELS, CODES.astype(np.float64)), (FLAGS, FLAGS.astype(np.int64))]:
        ref = ut.Reference.fit({"c": reference})
        for r in _roundtrips(ref)[1:]:
            with pytest.raises(ut.UndertowError, match="column 'c'"):
                r.psi({"c": current})
            acc = ut.PsiAccumulator.from_bytes(ref.accumulator().to_bytes())
            with pytest.raises(ut.UndertowError, match="column 'c'"):
                acc.update({"c": current})


def test_float_vs_int_through_scan(tmp_path):
    ref = ut.Reference.fit({"c": CODES}, categorical=["c"])
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"c": CODES.astype(np.float64)}), good)
    assert ut.scan(str(good)).psi(ref)["c"].value == 0.0
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"c": LABELS}), bad)
    with pytest.raises(ut.UndertowError, match="column 'c'"):
        ut.scan(str(bad)).psi(ref)


def test_same_class_other_width_still_matches():
    ref = ut.Reference.fit(pl.DataFrame({"c": pl.Series(CODES, dtype=pl.Int16)}), categorical=["c"])
    got = ref.psi(pl.DataFrame({"c": pl.Series(CODES, dtype=pl.UInt64)}))
    assert got["c"].value == 0.0
