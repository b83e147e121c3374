"""`undertow demo`: a drift report on a small real example shipped with the package.

The example (data/demo.parquet, built by scripts/make_demo_data.py) is 2,400 real sentences
from chatterbot-corpus and Python's reference manual, embedded with all-MiniLM-L6-v2, as a
feature table: words, chars, source, topic, cosine to the reference centroid and the first
principal component. The reference is a 50/50 mix of the two sources; "current_same" is a fresh
sample of that mix (no drift), "current_shifted" is 80% python-docs (the traffic moved).

It also writes the whole story as one HTML page (undertow-demo.html, or `--html PATH`): the two
PSI reports, the embedding drift of the sentences' vectors when the mix moves, the same features
over six days (three of each mix) and, with faiss, the index audit.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import polars as pl

from undertow.tabular.reference import Reference

DATA = Path(__file__).parents[1] / "data" / "demo.parquet"
FEATURES = ["words", "chars", "source", "topic", "cosine_to_centroid", "pc1"]


HTML = "undertow-demo.html"
VECTORS = Path(__file__).parents[1] / "data" / "demo_vectors.npz"


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("demo", help="a drift report on a small real example shipped with undertow")
    parser.add_argument(
        "--html", default=HTML, metavar="PATH", help=f"where to write the HTML report (default: ./{HTML})"
    )


def command(args: argparse.Namespace) -> int:
    reports = run()
    path = write_html(reports, args.html)
    print(f"HTML report: {path}")
    return 0


def embedding_demo(table: pl.DataFrame, seed: int = 0) -> Any:
    """Embedding drift of the reference sentences' MiniLM vectors: a random half of them (50/50
    sources) is the reference; from the other half, 80% python-docs is the current traffic."""
    import numpy as np

    from undertow.embedding.drift import EmbeddingDrift

    data = np.load(VECTORS)
    row_of = {int(i): n for n, i in enumerate(data["ids"])}
    reference = table.filter(pl.col("split") == "reference")
    rows = np.array([row_of[int(i)] for i in reference.get_column("id")])
    docs = (reference.get_column("source") == "python-docs").to_numpy()
    rng = np.random.default_rng(seed)
    half = rng.permutation(len(rows))
    fit, rest = half[: len(rows) // 2], half[len(rows) // 2 :]
    python_rows, chat_rows = rest[docs[rest]], rest[~docs[rest]]
    current = np.concatenate([python_rows, chat_rows[: len(python_rows) // 4]])
    vectors = data["minilm"].astype(np.float32)
    drift = EmbeddingDrift.fit(vectors[rows[fit]], components=16)
    return drift.compare(vectors[rows[current]])


def over_time_demo(table: pl.DataFrame, reference: Reference) -> pl.DataFrame:
    """The six features over six days: three days of the same mix, then three of the moved one."""
    import datetime as dt

    from undertow.windows import drift_over

    days = []
    for name, first_day in (("current_same", 1), ("current_shifted", 4)):
        # shuffled (seeded): the file is ordered by source, and each day should hold the whole mix
        part = (
            table.filter(pl.col("split") == name).select(FEATURES).sample(fraction=1.0, shuffle=True, seed=0)
        )
        day = [dt.datetime(2026, 1, first_day + (3 * i) // part.height) for i in range(part.height)]
        days.append(part.with_columns(pl.Series("day", day)))
    return drift_over(pl.concat(days), reference, "day", every="1d")


def write_html(reports: dict[str, Any], path: str | Path = HTML) -> Path:
    from undertow.report import report

    names = {
        "current_shifted": "80% python-docs (the traffic moved)",
        "current_same": "the same 50/50 mix",
        "embedding": "sentence vectors, 50/50 vs 80% python-docs",
        "over_time": "three days of each mix",
        "audit": "a faiss index with planted debt",
    }
    sections = [(label, reports[key]) for key, label in names.items() if key in reports]
    report(*sections, title="undertow demo", path=path)
    return Path(path).resolve()


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
    reports["embedding"] = embedding_demo(table)
    reports["over_time"] = over_time_demo(table, reference)
    print_fn(f"undertow demo: PSI of {len(FEATURES)} features of real sentence data ({DATA.name})")
    print_fn(
        f"reference: {int((split == 'reference').sum())} sentences, 50% chatterbot-corpus / 50% python-docs\n"
    )
    for name in ("current_same", "current_shifted"):
        report = reports[name]
        label = "same mix (expect stable)" if name == "current_same" else "80% python-docs (expect drift)"
        print_fn(f"== {name}: {label}")
        print_fn(report.to_polars().select("column", "kind", "psi", "status"))
        print_fn(f"overall: {report.status}\n")
    print_fn(
        "== embeddings: MiniLM vectors of the sentences, 50/50 vs 80% python-docs\n"
        f"{reports['embedding']!r}\n"
    )
    try:
        import faiss  # noqa: F401
    except ImportError:
        print_fn('(the index audit needs faiss: pip install "undertow[faiss]")')
        return reports
    from undertow.cli import demo_audit

    reports["audit"] = demo_audit.run(print_fn)
    return reports
