"""Builds a sentence-embedding corpus from English text on this machine, for the calibration of
EmbeddingDrift on data that is NOT in the repository (an honest check: nothing was tuned on it).

    python scripts/calibration/embedding_corpus.py --model PATH/m2v_model --out corpus.npz \
        --docs /usr/share/doc --stdlib --max-sentences 20000

Text sources (all offline): ``--docs DIR`` reads every plain or gzipped text file under DIR
(Debian ``copyright``, ``README``, ``changelog``, NEWS files: licence boilerplate repeats across
packages, so the corpus keeps natural duplicate sentences); ``--stdlib`` adds the docstrings of
the Python standard library modules importable here. Sentences are split at ``. ! ?`` followed by
whitespace and kept when 5 to 60 words long; duplicates are kept (``--dedupe`` removes them). The
encoder is a model2vec static model (``pip install model2vec``; it needs no network). The output
npz holds ``emb`` (float32, unit rows), ``source`` (which text source each row came from) and
``dup`` (how many times each row's text occurs in the corpus).
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import os
import pkgutil
import re
import sys
from collections import Counter

import numpy as np

SPLIT = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text)
    out = []
    for s in SPLIT.split(text):
        words = s.split()
        if 5 <= len(words) <= 60 and sum(c.isalpha() for c in s) > 0.6 * len(s):
            out.append(" ".join(words))
    return out


def doc_texts(root: str):
    for directory, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = os.path.join(directory, name)
            if os.path.islink(path) or os.path.getsize(path) > 2_000_000:
                continue
            try:
                if name.endswith(".gz"):
                    with gzip.open(path, "rt", encoding="utf-8", errors="strict") as f:
                        yield "doc", f.read()
                elif "." not in name or name.endswith((".txt", ".md", ".rst")):
                    with open(path, encoding="utf-8", errors="strict") as f:
                        yield "doc", f.read()
            except (UnicodeDecodeError, OSError, EOFError):
                continue


def stdlib_texts():
    import warnings

    warnings.simplefilter("ignore")  # deprecated modules announce themselves on import
    names = sorted(m.name for m in pkgutil.iter_modules() if m.name in sys.stdlib_module_names)
    for name in names:
        if name.startswith("_") or name in ("antigravity", "this", "idlelib", "tkinter", "turtle"):
            continue
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        docs = [module.__doc__ or ""]
        for attr in sorted(dir(module)):
            obj = getattr(module, attr, None)
            doc = getattr(obj, "__doc__", None)
            if getattr(obj, "__module__", None) == name and isinstance(doc, str):
                docs.append(doc)
        yield "stdlib", "\n".join(docs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="a model2vec model directory")
    parser.add_argument("--out", required=True)
    parser.add_argument("--docs", action="append", default=[], help="a directory of text files")
    parser.add_argument("--stdlib", action="store_true", help="add the Python stdlib docstrings")
    parser.add_argument("--dedupe", action="store_true")
    parser.add_argument("--max-sentences", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows: list[tuple[str, str]] = []
    for root in args.docs:
        rows += [(src, s) for src, text in doc_texts(root) for s in sentences(text)]
    if args.stdlib:
        rows += [(src, s) for src, text in stdlib_texts() for s in sentences(text)]
    if args.dedupe:
        seen: set[str] = set()
        rows = [r for r in rows if not (r[1] in seen or seen.add(r[1]))]
    rng = np.random.default_rng(args.seed)
    if len(rows) > args.max_sentences:
        keep = np.sort(rng.choice(len(rows), args.max_sentences, replace=False))
        rows = [rows[i] for i in keep]
    texts = [r[1] for r in rows]
    counts = Counter(texts)
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(args.model)
    emb = np.asarray(model.encode(texts), dtype=np.float64)
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    np.savez_compressed(
        args.out,
        emb=emb.astype(np.float32),
        source=np.array([r[0] for r in rows]),
        dup=np.array([counts[t] for t in texts]),
    )
    dup = np.array([counts[t] for t in texts])
    print(
        f"{len(texts)} sentences ({len(counts)} distinct, {np.mean(dup > 1):.1%} of rows duplicated) "
        f"-> {args.out}"
    )


if __name__ == "__main__":
    main()
