"""``creme-fast workflow init DIR``: the shipped Snakemake workflow, ready to edit."""
from __future__ import annotations

import argparse
from pathlib import Path

from creme_fast.cli.common import record

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "workflow", help="write the Snakemake workflow of the paper's screen",
        description="The Snakemake workflow shipped with creme-fast (pip install "
        "'creme-fast[workflow]'): `init DIR` writes DIR/Snakefile and DIR/config.yaml; fill "
        "in the config's model, fasta and tss, then run `snakemake --cores N` in DIR.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION",
                              help="init: write the workflow into a directory (required)")
    init = actions.add_parser("init", help="write DIR/Snakefile and DIR/config.yaml",
                              description="Write the workflow's Snakefile and a config to "
                              "edit (paths in it are relative to the config file).")
    init.add_argument("directory", type=Path, metavar="DIR",
                      help="where the workflow goes (created if missing)")
    init.add_argument("--force", action="store_true",
                      help="replace a Snakefile or config.yaml already in DIR")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from creme_fast.workflow import init

    try:
        files = init(args.directory, force=args.force)
    except FileExistsError as exc:
        raise ValueError(str(exc)) from None
    record("workflow init: wrote %s; edit %s (model, fasta, tss), then run `snakemake "
           "--cores N` in %s", ", ".join(str(f) for f in files), files[1], args.directory)
    return 0
