"""`to_html` for every result kind the HTML report draws (one method, inherited)."""

from __future__ import annotations

import os


class HtmlPage:
    """Results that `undertow.report` has a section for."""

    __slots__ = ()

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """This result as a self-contained HTML page (see `undertow.report`); with `path` the
        page is also written there (atomically). Returns the HTML."""
        from undertow.report import report  # the report package imports the result modules

        return report(self, path=path)
