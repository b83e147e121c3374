"""The runner of the bad-input matrices (tests/tabular/test_bad_input_matrix.py and
tests/stream/test_stream_bad_input_matrix.py).

A case is a call and what must come of it: OK (a result, checked) or ERR (an UndertowError or
TypeError whose message names the argument). Anything else fails: another exception type (a raw
numpy/polars/pyarrow error, KeyError, AttributeError), a PanicException (a BaseException), a
result where an error was due, or an error message that does not say which argument is wrong.
Cases marked `sub` run in a fresh interpreter so a crash fails the case instead of pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import undertow as ut

OK, ERR = "ok", "err"


@dataclass
class Case:
    name: str
    fn: Callable[[], Any]
    outcome: Any
    argument: str | tuple[str, ...] = ""
    check: Callable[[Any], Any] | None = None
    sub: bool = False


def evaluate(case: Case) -> str | None:
    """None when the case behaves, else what went wrong."""
    try:
        result = case.fn()
    except (ut.UndertowError, TypeError) as exc:
        if case.outcome == OK:
            return f"refused a valid input: {type(exc).__name__}: {exc}"
        if type(exc).__module__.startswith(("numpy", "polars", "pyarrow", "pandas")):
            return f"raw library error {type(exc).__module__}.{type(exc).__name__}: {exc}"
        names = (case.argument,) if isinstance(case.argument, str) else case.argument
        if not any(n in str(exc) for n in names):
            return f"message does not name {names}: {type(exc).__name__}: {exc}"
        return None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return f"wrong exception {type(exc).__module__}.{type(exc).__name__}: {str(exc)[:300]}"
    if case.outcome == ERR:
        return f"no error, returned {type(result).__name__}"
    if case.check is not None:
        try:
            verdict = case.check(result)
        except AssertionError as exc:
            return f"wrong result: {str(exc)[:300]}"
        if verdict is False:
            return f"wrong result: {result!r:.200}"
    return None


def run_case(case: Case, module: str) -> None:
    if not case.sub:
        problem = evaluate(case)
        assert problem is None, f"{case.name}: {problem}"
        return
    code = (
        f"import sys\nfrom {module} import CASES\nfrom bad_input_cases import evaluate\n"
        f"case = next(c for c in CASES if c.name == {case.name!r})\n"
        "problem = evaluate(case)\nprint('PROBLEM: ' + problem if problem else 'FINE')\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "RUST_BACKTRACE": "0"}
    env["PYTHONPATH"] = os.pathsep.join(
        [p for p in (env.get("PYTHONPATH"), os.path.join(root, "tests", "support"), root) if p]
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, timeout=300
    )
    assert proc.returncode == 0, f"{case.name}: exit {proc.returncode}: {proc.stderr[-1500:]}"
    assert proc.stdout.strip().endswith("FINE"), f"{case.name}: {proc.stdout.strip()[-800:]}"
