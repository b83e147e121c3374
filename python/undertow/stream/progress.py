"""Progress of a streamed scan: a ``tqdm.auto`` bar where someone watches (a terminal or a
Jupyter kernel), log lines where nobody does (a nightly job's log).

``progress=True``:

* tqdm installed and stderr a terminal, or running in Jupyter: a ``tqdm.auto`` bar (a widget in
  Jupyter when ipywidgets is installed, text otherwise);
* else (no tqdm, or a batch job without a terminal): INFO records on the ``"undertow"`` logger,
  one per 10% of the rows when the total is known, else one every `LOG_EVERY_BATCHES` batches,
  each with the rows so far and rows/s, and a last one with the total. If the application has
  configured no logging at all, the same lines go to stderr, so an explicit ``progress=True`` is
  never silently invisible.

``progress=None`` (the default): the bar on a terminal or in Jupyter (when tqdm is installed),
else log records only when the application's logging would show INFO records of ``"undertow"``.
``progress=False``: nothing.

A missing or broken optional package (tqdm, ipywidgets) never fails the scan: it falls back to
log lines.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

LOGGER = logging.getLogger("undertow")
LOG_EVERY_PERCENT = 10
LOG_EVERY_BATCHES = 10


def in_jupyter() -> bool:
    """True inside a Jupyter (ipykernel) kernel, where stderr is not a terminal but a bar shows."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _watched() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        tty = bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):  # a closed or detached stderr
        tty = False
    return tty or in_jupyter()


def _logs_info() -> bool:
    return LOGGER.isEnabledFor(logging.INFO) and LOGGER.hasHandlers()


def progress_wanted(progress: bool | None) -> bool:
    """Whether a scan with this `progress` shows anything (so it is worth counting rows first)."""
    if progress is None:
        return _watched() or _logs_info()
    return bool(progress)


def _tqdm_bar(total: int | None, description: str) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: log lines instead
        return None
    try:
        return tqdm(total=total, unit="rows", unit_scale=True, desc=description, file=sys.stderr)
    except Exception as exc:  # a broken widget stack must not fail a scan
        LOGGER.debug("undertow: no progress bar (%s), logging instead", exc)
        return None


class Progress:
    """The progress of one scan; ``update(rows)`` once per batch, ``close()`` once at the end."""

    def __init__(self, progress: bool | None, total: int | None, description: str = "undertow") -> None:
        self._bar: Any = None
        self._log = False
        self._to_stderr = False
        self._total = total if total else None
        self._description = description
        self._rows = 0
        self._batches = 0
        self._next_percent = LOG_EVERY_PERCENT
        self._start = time.perf_counter()
        if progress is False or (progress is None and not progress_wanted(None)):
            return
        if _watched():
            self._bar = _tqdm_bar(total, description)
        if self._bar is None and (progress or _logs_info()):
            self._log = True
            self._to_stderr = not LOGGER.hasHandlers()

    @property
    def mode(self) -> str:
        """ "bar", "log" or "off" (for tests and for the curious)."""
        return "bar" if self._bar is not None else "log" if self._log else "off"

    def update(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)
            return
        if not self._log:
            return
        self._rows += rows
        self._batches += 1
        if self._total is not None:
            percent = 100 * self._rows / self._total
            if percent >= self._next_percent and self._rows < self._total:
                while self._next_percent <= percent:
                    self._next_percent += LOG_EVERY_PERCENT
                self._emit(f"{int(percent)}% ({self._rows:,} of {self._total:,} rows)")
        elif self._batches % LOG_EVERY_BATCHES == 0:
            self._emit(f"{self._rows:,} rows ({self._batches:,} batches)")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._log:
            self._log = False
            self._emit(f"read {self._rows:,} rows", final=True)

    def _emit(self, what: str, final: bool = False) -> None:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        rate = self._rows / elapsed
        message = f"{self._description}: {what} in {elapsed:.1f} s, {rate:,.0f} rows/s"
        if self._to_stderr:
            print(message, file=sys.stderr, flush=True)
        else:
            LOGGER.info(message)
