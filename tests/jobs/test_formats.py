"""The reference states file, strict JSON, the JUnit XML and the all-or-nothing outputs."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import undertow as ut
from undertow.jobs.junit import junit_xml
from undertow.jobs.outputs import write_all
from undertow.jobs.report_json import document, dumps, strict
from undertow.jobs.sections import Check, Section, psi_section
from undertow.jobs.states import MAGIC, JobReference


def _no_constants(text: str) -> object:
    def refuse(name: str) -> None:
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def fitted() -> JobReference:
    rng = np.random.default_rng(3)
    tabular = ut.Reference.fit({"a": rng.normal(size=2000), "b": rng.integers(0, 4, 2000).astype(str)})
    drift = ut.EmbeddingDrift.fit(rng.normal(size=(400, 8)), components=4, permutations=20)
    return JobReference(tabular, {"emb": drift}, {"tabular": {"bins": 10}}, ["a note"])


def test_states_round_trip(fitted):
    back = JobReference.from_bytes(fitted.to_bytes())
    assert back.tabular.to_bytes() == fitted.tabular.to_bytes()
    assert back.embeddings["emb"].to_bytes() == fitted.embeddings["emb"].to_bytes()
    assert back.settings == fitted.settings and back.notes == ["a note"]


def _resealed(data: bytes, edit) -> bytes:  # type: ignore[no-untyped-def]
    """`data` with its header edited and a valid checksum: only the header check can refuse it."""
    (size,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    header = json.loads(data[start : start + size])
    edit(header)
    head = json.dumps(header).encode()
    body = MAGIC + struct.pack("<I", len(head)) + head + data[start + size : -32]
    return body + hashlib.sha256(body).digest()


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda d: d[: len(d) // 2], "truncated or damaged"),
        (lambda d: d[:-40] + bytes([d[-40] ^ 1]) + d[-39:], "truncated or damaged"),
        (lambda d: b"PAR1" + d[4:], "not an undertow job reference file"),
        (lambda d: _resealed(d, lambda h: h.update(undertow_version="0.0.1")), "written by undertow 0.0.1"),
        (lambda d: _resealed(d, lambda h: h.update(kind="audit-baseline")), "holds a 'audit-baseline'"),
        (lambda d: _resealed(d, lambda h: h.update(format=2)), "format 2"),
        (
            lambda d: _resealed(d, lambda h: h["parts"][0].update(size=h["parts"][0]["size"] - 1)),
            "part 'tabular': .*truncated",
        ),
    ],
)
def test_states_refusals(fitted, damage, words):
    with pytest.raises(ut.UndertowError, match=words) as info:
        JobReference.from_bytes(damage(fitted.to_bytes()))
    assert "undertow fit" in str(info.value)


def test_a_bare_reference_is_refused_as_another_kind(fitted):
    with pytest.raises(ut.UndertowError, match="not an undertow job reference file"):
        JobReference.from_bytes(fitted.tabular.to_bytes())


def test_strict_json_has_no_infinity_or_nan():
    assert strict([np.inf, -np.inf, np.nan, np.float32(1.5), np.arange(2)]) == [
        "inf",
        "-inf",
        "nan",
        1.5,
        [0, 1],
    ]
    assert json.dumps([float("inf")]) == "[Infinity]"  # what the json module writes by default
    ref = ut.Reference.fit({"x": np.arange(100.0)}, bins=4)
    section = psi_section(ref.psi({"x": np.arange(100.0) + 30}), [])
    doc = document([section], title=None, notes=[], fail_on="drift", exit_code=2, seconds=0.1)
    data = _no_constants(dumps(doc))
    edges = data["sections"][0]["result"]["columns"]["x"]["edges"]
    assert edges[0] == "-inf" and edges[-1] == "inf"
    assert [float(e) for e in edges[1:-1]] == ref.edges("x")[1:-1].tolist()
    assert data["undertow_report"] == 1 and data["summary"]["checks"] == 1


def test_junit_structure_and_counts():
    sections = [
        Section(
            "psi",
            "tabular",
            "significant",
            [
                Check("a", "fail", 0.4, 0.25, "PSI 0.4"),
                Check("b", "warn", 0.15, 0.25, "PSI 0.15"),
                Check("c", "ok", 0.0, 0.25, "PSI 0"),
            ],
            {},
        ),
        Section("audit", "index", "ok", [Check("score_shift", "skipped", None, None, "no baseline")], {}),
    ]
    for fail_on, failures in (("drift", 1), ("warn", 2)):
        root = ET.fromstring(junit_xml(sections, fail_on, 1.0))
        assert root.tag == "testsuites"
        assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", str(failures), "1")
        suites = root.findall("testsuite")
        assert [s.get("name") for s in suites] == ["undertow.psi", "undertow.audit"]
        cases = {c.get("name"): c for c in root.iter("testcase")}
        assert set(cases) == {"a", "b", "c", "score_shift"}
        assert all(c.get("classname", "").startswith("undertow.") for c in cases.values())
        assert cases["a"].find("failure").get("type") == "drift"
        assert (cases["b"].find("failure") is not None) == (fail_on == "warn")
        assert cases["c"].find("failure") is None and cases["score_shift"].find("skipped") is not None
        for suite in suites:
            assert int(suite.get("tests")) == len(suite.findall("testcase"))
            assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))


def test_outputs_are_all_written_or_none(tmp_path):
    good, bad = tmp_path / "report.json", tmp_path / "missing-dir" / "junit.xml"
    with pytest.raises(ut.UndertowError, match=r"outputs\.junit"):
        write_all({"outputs.json": (str(good), "{}"), "outputs.junit": (str(bad), "<x/>")})
    assert os.listdir(tmp_path) == []  # neither the first file nor a temporary one
    write_all({"outputs.json": (str(good), "{}")})
    assert good.read_text() == "{}" and os.listdir(tmp_path) == ["report.json"]
    mode = os.stat(good).st_mode & 0o777
    assert mode == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
