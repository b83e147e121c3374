"""Every report kind, and the demo's page, in a real browser (Debian's chromium, driven by
Playwright): no console error, no page error, no request but the file itself, not blank, and
exactly the figures each section should hold, rendered. A screenshot per kind lands in the test's
tmp dir, and in $UNDERTOW_ARTIFACTS when set (CI keeps it)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import report_cases as cases
from PIL import Image
from playwright.sync_api import Browser, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import undertow as ut

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# whether EmbeddingDriftReport keeps its permutation statistics (then every exact test has a null)
KEEPS_NULL = "mmd_null" in ut.EmbeddingDriftReport.__dataclass_fields__


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM, "the browser tests need Debian's chromium (apt-get install chromium)"
    with sync_playwright() as playwright:
        # root in a container: Chromium's sandbox needs user namespaces it may not have
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser: Browser, path: Path, name: str, tmp_path: Path) -> dict[str, Any]:
    """Loads `path`, waits for every figure, and returns what the page did."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console: list[str] = []
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    url = path.resolve().as_uri()
    page.goto(url)
    try:
        # generous: a loaded 2-core machine took 20 s for the page of 100 columns
        page.wait_for_function("document.body.hasAttribute('data-figures')", timeout=180_000)
    except PlaywrightTimeout:
        pass  # reported below: the figure count is then -1
    sections = page.eval_on_selector_all(
        "section.result",
        """els => els.map(s => ({kind: s.dataset.kind, expected: Number(s.dataset.figures),
            rendered: s.querySelectorAll('div.vega[data-rendered] svg.marks').length,
            drawn: Array.from(s.querySelectorAll('div.vega svg.marks')).filter(
                svg => svg.getBoundingClientRect().width > 50 && svg.getBoundingClientRect().height > 50
                       && svg.querySelectorAll('path, rect, line, circle, symbol').length > 5).length}))""",
    )
    shot = page.screenshot(full_page=True)
    (tmp_path / f"{name}.png").write_bytes(shot)
    if os.environ.get("UNDERTOW_ARTIFACTS"):
        folder = Path(os.environ["UNDERTOW_ARTIFACTS"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"report-{name}.png").write_bytes(shot)
    figures = int(page.get_attribute("body", "data-figures") or -1)
    page.close()
    return {"url": url, "console": console, "errors": errors, "requests": requests, "sections": sections,
            "figures": figures, "screenshot": shot}  # fmt: skip


def check(result: dict[str, Any], expected: list[tuple[str, int]]) -> None:
    assert result["console"] == [] and result["errors"] == []
    assert [r for r in result["requests"] if r != result["url"]] == []  # no network, no other file
    assert [(s["kind"], s["expected"]) for s in result["sections"]] == expected
    for s in result["sections"]:
        assert s["rendered"] == s["expected"] == s["drawn"], s
    assert result["figures"] == sum(n for _, n in expected)
    image = Image.open(io.BytesIO(result["screenshot"])).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    non_white = sum(count for count, rgb in colours if min(rgb) < 240)
    assert len(colours) > 50 and non_white > 0.02 * image.width * image.height


def expect(*results: Any) -> list[tuple[str, int]]:
    kinds = {
        ut.PsiReport: "psi",
        ut.EmbeddingDriftReport: "embedding",
        ut.AuditReport: "audit",
        ut.RotationReport: "rotation",
    }
    return [(next((k for t, k in kinds.items() if isinstance(r, t)), "drift_over"), cases.expected_figures(r))
            for r in results]  # fmt: skip


@pytest.fixture(scope="module")
def audits() -> tuple[Any, Any]:
    return cases.audit_reports()


def test_psi(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    report = cases.psi_report()
    path = tmp_path / "psi.html"
    report.to_html(path)
    check(open_page(browser, path, "psi", tmp_path), expect(report))


def test_embedding_with_and_without_the_permutation_null(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    plain, with_null = cases.embedding_report(), cases.with_null(cases.embedding_report())
    path = tmp_path / "embedding.html"
    ut.report(plain, with_null, path=path)
    check(open_page(browser, path, "embedding", tmp_path), expect(plain, with_null))
    assert expect(plain, with_null) == [("embedding", 3 + KEEPS_NULL), ("embedding", 4)]


def test_audit_with_and_without_a_baseline(browser, tmp_path, audits) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "audit.html"
    ut.report(*audits, path=path)
    check(open_page(browser, path, "audit", tmp_path), expect(*audits))
    assert expect(*audits) == [("audit", 1), ("audit", 2)]


def test_drift_over(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    frames = [cases.over_time_frame(), cases.over_time_frame(with_embedding=False, by="shop")]
    path = tmp_path / "over_time.html"
    ut.report(*frames, path=path)
    check(open_page(browser, path, "drift_over", tmp_path), expect(*frames))


def test_rotation_with_and_without_queries_and_in_a_mix(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with_queries, without = cases.rotation_report(), cases.rotation_report(queries=False)
    path = tmp_path / "rotation.html"
    with_queries.to_html(path)
    check(open_page(browser, path, "rotation", tmp_path), expect(with_queries))
    results = [cases.psi_report(columns=3, rows=500), with_queries, without, cases.over_time_frame()]
    path = tmp_path / "rotation-mix.html"
    ut.report(*results, path=path)
    check(open_page(browser, path, "rotation-mix", tmp_path), expect(*results))
    assert expect(with_queries, without) == [("rotation", 2), ("rotation", 2)]


def test_every_kind_on_one_page_and_the_table_sorts(browser, tmp_path, audits) -> None:  # type: ignore[no-untyped-def]
    results = [cases.psi_report(columns=100, rows=2000), cases.embedding_report(), audits[1],
               cases.over_time_frame()]  # fmt: skip
    path = tmp_path / "all.html"
    ut.report(*results, path=path)
    check(open_page(browser, path, "all", tmp_path), expect(*results))
    page = browser.new_page()
    page.goto(path.resolve().as_uri())
    table = "#s1-table"
    first = page.inner_text(f"{table} tbody tr:first-child td:first-child")
    assert first == max(results[0].columns, key=lambda c: results[0][c].value)  # worst first
    page.click(f"{table} th:nth-child(3)")  # PSI, descending
    page.click(f"{table} th:nth-child(3)")  # ascending
    assert page.inner_text(f"{table} tbody tr:first-child td:first-child") == min(
        results[0].columns, key=lambda c: results[0][c].value
    )
    page.fill("input[data-table='s1-table']", "x42")
    visible = page.eval_on_selector_all(
        f"{table} tbody tr", "rows => rows.filter(r => r.style.display !== 'none').length"
    )
    assert visible == 1
    page.close()


def test_the_demo_page(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "undertow-demo.html"
    out = subprocess.run(
        [sys.executable, "-m", "undertow", "demo", "--html", str(path)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    assert f"HTML report: {path.resolve()}" in out.stdout
    sections = [("psi", 2), ("psi", 2), ("embedding", 3 + KEEPS_NULL), ("drift_over", 1), ("audit", 1)]
    check(open_page(browser, path, "demo", tmp_path), sections)


def test_the_harness_catches_a_request_an_error_and_a_missing_figure(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    report = cases.psi_report(columns=2, rows=500)
    html = report.to_html()
    path = tmp_path / "bad.html"
    injected = '<img src="http://127.0.0.1:9/pixel.png"><script>console.error("boom")</script></body>'
    head, tail = html.rsplit("</body>", 1)
    path.write_text(head + injected + tail, encoding="utf-8")
    result = open_page(browser, path, "bad", tmp_path)
    assert "http://127.0.0.1:9/pixel.png" in result["requests"]
    assert any("boom" in line for line in result["console"])
    with pytest.raises(AssertionError):
        check(result, expect(report))
    # a section claiming a figure more than it renders
    path.write_text(html.replace('data-figures="2"', 'data-figures="3"'), encoding="utf-8")
    with pytest.raises(AssertionError):
        check(open_page(browser, path, "short", tmp_path), expect(report))
