"""to_bytes/from_bytes round trips and rejection of truncated, corrupted and foreign bytes."""

import pickle

import numpy as np
import polars as pl
import pytest
from reference_impl import assert_reports_identical, psi_reference

import undertow as ut


def _small_reference(nan_policy="bin"):
    rng = np.random.default_rng(0)
    ref_df = pl.DataFrame(
        {
            "x": rng.normal(size=200),
            "y": rng.random(200).astype(np.float32),
            "c": rng.choice(["a", "b", "c"], 200),
        }
    )
    ref = ut.Reference.fit(ref_df, bins=4, nan_policy=nan_policy, eps=1e-3, thresholds=(0.05, 0.2))
    return ref, ref_df


def _current(seed=1, n=150):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 1, size=n)
    x[::17] = np.nan
    return pl.DataFrame(
        {
            "x": x,
            "y": rng.random(n).astype(np.float32),
            "c": rng.choice(["a", "b", "d"], n),
        }
    )


def test_reference_round_trip():
    ref, ref_df = _small_reference()
    b = ref.to_bytes()
    assert isinstance(b, bytes)
    restored = ut.Reference.from_bytes(b)
    assert restored.columns == ref.columns
    cur = _current()
    assert_reports_identical(restored.psi(cur), ref.psi(cur))
    # settings travel with the bytes (eps, thresholds, nan_policy, bins)
    want = psi_reference(
        ref_df["x"].to_numpy(),
        cur["x"].to_numpy(),
        bins=4,
        eps=1e-3,
        nan_policy="bin",
        thresholds=(0.05, 0.2),
    )
    np.testing.assert_allclose(restored.psi(cur)["x"].value, want["value"], rtol=1e-9)
    assert restored.to_bytes() == b


def test_reference_round_trip_numpy_explicit_edges():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 3))
    ref = ut.Reference.fit(x, binning=np.array([-9.0, -0.5, 0.0, 0.5, 9.0]))
    restored = ut.Reference.from_bytes(ref.to_bytes())
    y = rng.normal(size=(100, 3))
    assert_reports_identical(restored.psi(y), ref.psi(y))


def test_accumulator_round_trip():
    ref, _ = _small_reference()
    cur = _current()
    acc = ref.accumulator().update(cur[:70])
    b = acc.to_bytes()
    assert isinstance(b, bytes)
    restored = ut.PsiAccumulator.from_bytes(b)
    assert restored.rows == 70
    assert_reports_identical(restored.finalize(), acc.finalize())
    assert restored.to_bytes() == b
    # a restored accumulator keeps working and merges with live ones
    restored.update(cur[70:])
    assert restored.rows == 150
    assert_reports_identical(restored.finalize(), ref.psi(cur))
    other = ref.accumulator().update(cur[70:])
    again = ut.PsiAccumulator.from_bytes(b).merge(other)
    assert_reports_identical(again.finalize(), ref.psi(cur))


def test_empty_accumulator_round_trip():
    ref, _ = _small_reference()
    acc = ut.PsiAccumulator.from_bytes(ref.accumulator().to_bytes())
    assert acc.rows == 0
    cur = _current()
    acc.update(cur)
    assert_reports_identical(acc.finalize(), ref.psi(cur))


def _all_corruptions(b: bytes):
    for i in range(len(b)):
        yield f"prefix {i}", b[:i]
    for i in range(len(b)):
        for mask in (0x01, 0x80, 0xFF):
            flipped = bytearray(b)
            flipped[i] ^= mask
            yield f"byte {i} ^ {mask:#x}", bytes(flipped)


def test_reference_rejects_every_truncation_and_flipped_byte():
    ref, _ = _small_reference()
    b = ref.to_bytes()
    for what, bad in _all_corruptions(b):
        with pytest.raises(ValueError):
            ut.Reference.from_bytes(bad)
            pytest.fail(f"accepted {what}")


def test_accumulator_rejects_every_truncation_and_flipped_byte():
    ref, _ = _small_reference()
    b = ref.accumulator().update(_current()).to_bytes()
    for what, bad in _all_corruptions(b):
        with pytest.raises(ValueError):
            ut.PsiAccumulator.from_bytes(bad)
            pytest.fail(f"accepted {what}")


def test_wrong_kind_of_bytes_rejected():
    ref, _ = _small_reference()
    acc = ref.accumulator().update(_current())
    with pytest.raises(ValueError):
        ut.Reference.from_bytes(acc.to_bytes())
    with pytest.raises(ValueError):
        ut.PsiAccumulator.from_bytes(ref.to_bytes())


@pytest.mark.parametrize(
    "foreign",
    [b"", b"hello", b"\x00" * 64, b"\xff" * 64, pickle.dumps({"a": 1}), pickle.dumps(b"x" * 100)],
)
def test_foreign_bytes_rejected(foreign):
    with pytest.raises(ValueError):
        ut.Reference.from_bytes(foreign)
    with pytest.raises(ValueError):
        ut.PsiAccumulator.from_bytes(foreign)


def test_undertow_error_is_value_error():
    assert issubclass(ut.UndertowError, ValueError)
    with pytest.raises(ValueError):
        ut.Reference.from_bytes(b"hello")
