"""Shared test helpers live in tests/support/ (independent float64 references, the audit corpus).

They are plain modules, imported by their own names (``from reference_impl import ...``), so this
rootdir conftest puts tests/support/ on sys.path before any test module is collected. The test
folders themselves are packages (``__init__.py``): two folders may then hold test files with the
same base name, under pytest's default import mode, without touching the benches' imports.
"""

from __future__ import annotations

import sys
from pathlib import Path

SUPPORT = Path(__file__).parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))
