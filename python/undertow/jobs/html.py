"""report.html: the page `undertow.report` renders (python/undertow/report), one section per
job section, in the job's order and named after it."""

from __future__ import annotations

from undertow.jobs.sections import Section


def _label(section: Section) -> str:
    if section.kind == "psi":
        return "PSI per column"
    if section.kind == "embedding":
        return f"embedding drift: {section.name}"
    if section.kind == "psi_windows":
        return f"PSI per {section.result.get('every')} window of {section.name}"
    return "index audit"


def render_html(sections: list[Section], title: str | None) -> str:
    """One self-contained page (no network) with a section per report."""
    from undertow.report import report

    return report(*[(_label(s), s.report) for s in sections if s.report is not None], title=title)


def html_available() -> bool:
    try:
        import undertow.report  # noqa: F401
    except ImportError:
        return False
    return True
