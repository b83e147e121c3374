"""Every docstring example in the public modules runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "undertow",
    "undertow.tabular.psi",
    "undertow.tabular.histogram",
    "undertow.tabular.reference",
    "undertow.coverage.api",
    "undertow.coverage.clusters",
    "undertow.cohorts.api",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
