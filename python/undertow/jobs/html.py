"""report.html: the page `undertow.report` renders from the job's report objects."""

from __future__ import annotations

from undertow.jobs.sections import Section


def render_html(sections: list[Section], title: str | None) -> str:
    """One self-contained page with a section per report, in the job's order."""
    from undertow.report import report

    return report(*[s.report for s in sections if s.report is not None], title=title)


def html_available() -> bool:
    try:
        import undertow.report  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["html_available", "render_html"]
