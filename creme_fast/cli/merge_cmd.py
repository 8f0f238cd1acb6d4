"""``creme-fast merge DIR... --out DIR``: shard runs of one test as one run directory."""
from __future__ import annotations

import argparse
from pathlib import Path

from creme_fast.cli.common import record

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "merge", help="combine the run directories of shards (--shard K/N) of one test",
        description="Combine finished `creme-fast run` directories of one test with the "
        "same settings (e.g. the shards of --shard K/N) into one run directory: results "
        "parts, failed.tsv and a summary rebuilt from them. Different settings, and a "
        "missing shard of a split, are refused, naming them; each locus is taken once; "
        "nothing is written before every input has been read.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="DIR", help="run directories")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="merged run directory (replaced if it holds an earlier merge); "
                   "required")
    p.add_argument("--allow-partial", action="store_true",
                   help="merge the shards given although others of their --shard K/N split "
                   "are missing (they are named, and listed in settings.json; default: "
                   "refuse)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from creme_fast.runs.merge import merge_runs

    outcome = merge_runs(args.inputs, args.out, allow_partial=args.allow_partial)
    record("merge %s: %d runs, %d loci, %d failed%s%s; %s (exit %d)", outcome.test,
           outcome.n_inputs, outcome.loci, outcome.failed,
           f", {outcome.duplicates} in several inputs" if outcome.duplicates else "",
           f", shards {', '.join(outcome.missing_shards)} MISSING"
           if outcome.missing_shards else "",
           args.out / "summary.parquet", 0)
    return 0  # failed loci of the shards are listed in failed.tsv; the merge succeeded
