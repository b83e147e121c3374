"""`undertow embed REFERENCE CURRENT --column emb`: embedding drift (cosine, PCA, MMD, domain
classifier) of a vector column, the current side streamed. Exit codes: docs/jobs.md."""

from __future__ import annotations

import argparse
from typing import Any

from undertow.cli.common import add_output_args, names, run


def add_parser(sub: Any) -> None:
    embed = sub.add_parser("embed", help="embedding drift of a vector column of two Parquet sources")
    embed.add_argument("reference", help="Parquet/Arrow file or directory")
    embed.add_argument("current")
    embed.add_argument(
        "--column",
        action="append",
        required=True,
        metavar="C",
        help="the vector column (fixed_size_list or list of floats); repeat for several",
    )
    embed.add_argument("--components", type=int, default=32)
    embed.add_argument("--sample", type=int, default=5000, help="rows per side for the MMD test")
    embed.add_argument("--permutations", type=int, default=200)
    embed.add_argument("--alpha", type=float, default=0.05)
    embed.add_argument("--seed", type=int, default=0)
    add_output_args(embed)


def command(args: argparse.Namespace) -> int:
    from undertow.jobs.exit_codes import ExitCode, JobError
    from undertow.jobs.spec import EmbeddingSpec

    for flag, value, low in (("--components", args.components, 1), ("--sample", args.sample, 2),
                             ("--permutations", args.permutations, 1), ("--seed", args.seed, 0)):  # fmt: skip
        if value < low:
            raise JobError(f"must be >= {low}, got {value}", ExitCode.USAGE, flag)
    if not 0 < args.alpha < 1:
        raise JobError(f"must be in (0, 1), got {args.alpha}", ExitCode.USAGE, "--alpha")
    return run(
        args,
        reference=args.reference,
        current=args.current,
        batch_size=args.batch_size,
        embedding=EmbeddingSpec(
            columns=names(args.column) or [],
            components=args.components,
            sample=args.sample,
            permutations=args.permutations,
            alpha=args.alpha,
            seed=args.seed,
        ),
    )
