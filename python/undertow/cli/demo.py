"""`undertow demo`: a drift report on a small real example shipped with the package.

The example (data/demo.parquet, built by scripts/make_demo_data.py) is 2,400 real sentences
from chatterbot-corpus and Python's reference manual, embedded with all-MiniLM-L6-v2, as a
feature table: words, chars, source, topic, cosine to the reference centroid and the first
principal component. The reference is a 50/50 mix of the two sources; "current_same" is a fresh
sample of that mix (no drift), "current_shifted" is 80% python-docs (the traffic moved).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import polars as pl

from undertow.tabular.reference import Reference

DATA = Path(__file__).parents[1] / "data" / "demo.parquet"
FEATURES = ["words", "chars", "source", "topic", "cosine_to_centroid", "pc1"]


def add_parser(sub: Any) -> None:
    sub.add_parser("demo", help="a drift report on a small real example shipped with undertow")


def command(args: argparse.Namespace) -> int:
    run()
    return 0


def load() -> pl.DataFrame:
    return pl.read_parquet(DATA)


def run(print_fn=print) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    table = load()
    split = table.get_column("split")
    reference = Reference.fit(table.filter(split == "reference").select(FEATURES), bins=10)
    reports = {}
    for name in ("current_same", "current_shifted"):
        current = table.filter(split == name).select(FEATURES)
        reports[name] = reference.psi(current)
    print_fn(f"undertow demo: PSI of {len(FEATURES)} features of real sentence data ({DATA.name})")
    print_fn(
        f"reference: {int((split == 'reference').sum())} sentences, 50% chatterbot-corpus / 50% python-docs\n"
    )
    for name, report in reports.items():
        label = "same mix (expect stable)" if name == "current_same" else "80% python-docs (expect drift)"
        print_fn(f"== {name}: {label}")
        print_fn(report.to_polars().select("column", "kind", "psi", "status"))
        print_fn(f"overall: {report.status}\n")
    try:
        import faiss  # noqa: F401
    except ImportError:
        print_fn('(the index audit needs faiss: pip install "undertow[faiss]")')
        return reports
    from undertow.cli import demo_audit

    reports["audit"] = demo_audit.run(print_fn)
    return reports
