"""Command line: `undertow demo`, `undertow psi REFERENCE CURRENT`, `undertow audit INDEX DOCS`.

The dispatcher only: each subcommand's module declares its arguments (`add_parser`) and runs it
(`command`, returning the exit code). faiss is imported only by the subcommands that need it."""

from __future__ import annotations

import argparse

from undertow.cli import audit, demo, psi

SUBCOMMANDS = {"demo": demo, "psi": psi, "audit": audit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="undertow", description="Drift you cannot see from the surface.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS.values():
        module.add_parser(sub)
    args = parser.parse_args(argv)
    return int(SUBCOMMANDS[args.command].command(args))
