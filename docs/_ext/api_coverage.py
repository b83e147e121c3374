"""mkdocs hook: every name in `undertow.__all__` has a `::: undertow.<name>` on an API page.

A public name added to the package without a reference entry is a warning, so
`mkdocs build --strict` fails on it, as on a broken link. `__all__` is read from the source
(python/undertow/__init__.py) without importing the package, like mkdocstrings does.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger(__name__)

DIRECTIVE = re.compile(r"^:::\s+undertow\.(\w+)\s*$", re.MULTILINE)
documented: set[str] = set()


def public_names(init_file: Path) -> list[str]:
    """The string entries of the `__all__` assignment in `init_file`."""
    for node in ast.parse(init_file.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return [ast.literal_eval(element) for element in node.value.elts]
    raise ValueError(f"{init_file}: no __all__ assignment")


def on_pre_build(config: Any) -> None:
    documented.clear()  # `mkdocs serve` rebuilds in the same process


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri.startswith("api/"):
        documented.update(DIRECTIVE.findall(markdown))
    return markdown


def on_post_build(config: Any) -> None:
    init_file = Path(config.config_file_path).parent / "python" / "undertow" / "__init__.py"
    missing = sorted(set(public_names(init_file)) - documented)
    if missing:
        log.warning("public names without an API entry in docs/api/: %s", ", ".join(missing))
