"""The JUnit XML file: one <testsuite> per section, one <testcase> per check (a PSI column, an
embedding statistic, an audit check), so GitLab, GitHub and Jenkins show drift as test results.

* fail -> <failure type="drift"> (the message says the value and the bound);
* warn -> a passing test case with the warning in <system-out>, or <failure type="warning">
  under ``fail_on = "warn"`` (then the exit code is 1 as well);
* skipped (an audit check not run, windows with too few rows) -> <skipped>.

The layout is the one GitLab's and Jenkins' parsers read (testsuites > testsuite > testcase,
with tests/failures/errors/skipped counts and classname/name on each case).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from undertow.jobs.sections import Section


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def junit_xml(sections: list[Section], fail_on: str, seconds: float, title: str | None = None) -> str:
    root = ET.Element("testsuites", name=title or "undertow")
    total = failures = skipped = 0
    for section in sections:
        suite_name = (
            section.kind if section.name in ("tabular", "index") else f"{section.kind}.{section.name}"
        )
        suite = ET.SubElement(root, "testsuite", name=f"undertow.{suite_name}")
        s_failures = s_skipped = 0
        for check in section.checks:
            case = ET.SubElement(
                suite, "testcase", classname=f"undertow.{suite_name}", name=check.name, time="0"
            )
            detail = (
                f"{check.name}: value {_fmt(check.value)}, threshold {_fmt(check.threshold)}: {check.message}"
            )
            if check.status == "fail" or (check.status == "warn" and fail_on == "warn"):
                kind = "drift" if check.status == "fail" else "warning"
                failure = ET.SubElement(case, "failure", message=check.message, type=kind)
                failure.text = detail
                s_failures += 1
            elif check.status == "skipped":
                ET.SubElement(case, "skipped", message=check.message)
                s_skipped += 1
            elif check.status == "warn":
                ET.SubElement(case, "system-out").text = f"WARNING {detail}"
        if section.notes:
            ET.SubElement(suite, "system-out").text = "\n".join(section.notes)
        count = len(section.checks)
        suite.set("tests", str(count))
        suite.set("failures", str(s_failures))
        suite.set("errors", "0")
        suite.set("skipped", str(s_skipped))
        suite.set("time", "0")
        total, failures, skipped = total + count, failures + s_failures, skipped + s_skipped
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("skipped", str(skipped))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
