"""Issue 10, items 10 and 11 (tabular part): valid input accepted, invalid input refused clearly."""

import numpy as np
import polars as pl
import pytest

import undertow as ut


def _unaligned(values: np.ndarray) -> np.ndarray:
    buffer = np.zeros(values.nbytes + 1, dtype=np.uint8)
    out = np.frombuffer(buffer.data, dtype=values.dtype, count=values.size, offset=1)
    out[...] = values
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unaligned_arrays_are_accepted(dtype):
    rng = np.random.default_rng(3)
    e, a = rng.normal(size=5000).astype(dtype), rng.normal(0.3, 1, size=5000).astype(dtype)
    assert ut.psi(_unaligned(e), _unaligned(a)).value == ut.psi(e, a).value
    counts, edges = ut.histogram(_unaligned(e), bins=20)
    np.testing.assert_array_equal(counts, np.histogram(e, bins=20)[0])
    acc = ut.HistogramAccumulator(edges)
    acc.update(_unaligned(e))
    np.testing.assert_array_equal(acc.counts, counts)
    ref = ut.Reference.fit({"x": _unaligned(e)}, bins=10)
    assert ref.psi({"x": _unaligned(a)})["x"].value == ut.psi(e, a).value


def test_unaligned_memmap_after_odd_header(tmp_path):
    values = np.arange(1000, dtype=np.float64)
    path = tmp_path / "x.bin"
    path.write_bytes(b"HEAD" + values.tobytes())
    mapped = np.memmap(path, dtype=np.float64, mode="r", offset=4)
    counts, _ = ut.histogram(mapped, bins=10)
    np.testing.assert_array_equal(counts, np.histogram(values, bins=10)[0])


def test_unaligned_matrix_table_is_accepted():
    m = np.arange(200.0).reshape(100, 2)
    ref = ut.Reference.fit(m, bins=4)
    flat = _unaligned(m.ravel()).reshape(100, 2)
    assert ref.psi(flat)["0"].value == 0.0
    fortran = np.lib.stride_tricks.as_strided(_unaligned(m.T.ravel()), shape=(100, 2), strides=(8, 800))
    assert fortran.flags.f_contiguous and not fortran.flags.aligned
    assert ref.psi(fortran)["1"].value == 0.0


def test_polars_list_column_is_refused_with_its_name():
    frame = pl.DataFrame({"tags": [["a", "b"], ["c"]], "x": [1.0, 2.0]})
    with pytest.raises(TypeError, match=r"column 'tags'.*List"):
        ut.Reference.fit(frame)


def test_polars_decimal_column_is_numeric():
    from decimal import Decimal

    frame = pl.DataFrame({"x": pl.Series([Decimal("1.5"), Decimal("2.5"), Decimal("3.5")] * 10)})
    ref = ut.Reference.fit(frame, bins=2)
    assert ref.psi(frame)["x"].value == 0.0
    assert ut.psi(frame["x"], frame["x"], bins=2).value == 0.0


def test_categorical_as_a_string_is_refused():
    table = {"store": np.array(["a", "b"] * 10), "s": np.arange(20), "t": np.arange(20)}
    with pytest.raises(TypeError, match=r"categorical: .*\['store'\]"):
        ut.Reference.fit(table, categorical="store")
    with pytest.raises(TypeError, match="categorical"):
        ut.Reference.fit(table, categorical=3)


def test_missing_categorical_column_names_the_missing_column():
    ref = ut.Reference.fit({"store": np.array(["a", "b"] * 10), "x": np.arange(20.0)})
    with pytest.raises(ut.UndertowError, match=r"missing \['store'\]"):
        ref.psi({"x": np.arange(5.0)})


WIDE_ROW = """
import numpy as np, undertow as ut
x = np.arange(200_000, dtype=np.float64).reshape(1, -1)
ref = ut.Reference.fit(x)
back = ut.Reference.from_bytes(ref.to_bytes())
print(len(back.columns), back.columns[-1], back.edges("199999").tolist())
"""


def test_a_one_row_matrix_of_200000_columns_fits_in_linear_time():
    # The reference's duplicate-name check compared each name with all before it: 64,000
    # columns took 6 s and (1, 2**19 + 3) did not finish in 90 s (a hostile review). In a
    # child with a timeout 40x the linear time, so a quadratic check fails instead of hanging.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", WIDE_ROW], capture_output=True, text=True, timeout=60, check=True
    )
    # A constant column (one value) gets the three bins below / equal / above.
    assert done.stdout.split()[:2] == ["200000", "199999"]
    edges = [-np.inf, 199999.0, float(np.nextafter(199999.0, np.inf)), np.inf]
    assert done.stdout.split(maxsplit=2)[2].strip() == str(edges)
