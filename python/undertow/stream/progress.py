"""Progress of a scan: a tqdm bar on stderr, shown only when asked or attached to a terminal."""

from __future__ import annotations

import sys


class Progress:
    """A tqdm bar on stderr when attached to a terminal (progress=None), silence otherwise."""

    def __init__(self, progress: bool | None, total: int | None, description: str) -> None:
        enabled = sys.stderr.isatty() if progress is None else bool(progress)
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="rows", unit_scale=True, desc=description, file=sys.stderr)

    def update(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def wants_progress(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else bool(progress)
