"""``creme-fast plot DIR [DIR ...] --out FIG_DIR``: the paper's figures for run directories."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("creme_fast.cli")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot", help="draw the paper's figures for creme-fast run directories",
        description="Per gene: the necessity/sufficiency profile (both in one figure when "
        "both runs are given), the distance curve, the higher-order trajectory, the "
        "multiplicity curve, the fine-tile sub-tiles; across genes: the context histogram "
        "and each run's summary figure. PNG and PDF (or --format).")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run directories")
    p.add_argument("--gene", action="append", metavar="NAME",
                   help="only this gene (repeat for more; default: every gene)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="figure directory (created); required")
    p.add_argument("--format", default="png,pdf",
                   help="comma-separated: png, pdf, svg (default: png,pdf)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from creme_fast.plots import plot_run

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad or not formats:
        raise ValueError(f"--format {args.format!r}: choose from png, pdf, svg")
    files = plot_run(args.dirs, args.out, genes=args.gene, formats=formats)
    log.info("wrote %d files to %s", len(files), args.out)
    return 0
