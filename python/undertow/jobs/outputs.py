"""The outputs of a job, written so a failed run leaves no report that looks complete: every
file is written to a temporary name in its own directory first (``.report.json.XXXX.tmp``), and
renamed to its real name only once all of them are written (a rename within a directory is
atomic). On any failure the temporary files are removed; nothing named report.* appears.

`preflight` checks, before any data is read, that each output's directory exists or can be
created and is writable, so a typo in the output path fails in a second, not after the run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile

from undertow._core import UndertowError


def preflight(path: str) -> None:
    """`path`'s directory made and written to once; an UndertowError saying why not."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        if os.path.isdir(path):
            raise UndertowError(f"{path!r} is a directory")
        handle, probe = tempfile.mkstemp(prefix=".undertow-probe-", dir=directory)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise UndertowError(f"cannot write to {directory!r} ({error.strerror or error})") from None


def write_all(contents: dict[str, tuple[str, str | bytes]]) -> None:
    """{key: (path, text or bytes)}: all written to temporary names, then all renamed."""
    written: list[tuple[str, str]] = []
    try:
        for key, (path, data) in contents.items():
            directory = os.path.dirname(os.path.abspath(path))
            temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
            try:
                # os.open with 0o666, not mkstemp's 0o600: the file gets the umask's permissions
                handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except OSError as error:
                raise UndertowError(f"{key}: cannot write {path!r} ({error.strerror or error})") from None
            written.append((temporary, path))
            with os.fdopen(handle, "wb") as out:
                out.write(data.encode() if isinstance(data, str) else data)
                out.flush()
                os.fsync(out.fileno())
        for temporary, path in written:
            os.replace(temporary, path)
        written = []
    finally:
        for temporary, _ in written:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
