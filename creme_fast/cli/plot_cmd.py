"""``creme-fast plot DIR [DIR ...] --out FIG_DIR``: the paper's figures for run directories."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from creme_fast.cli.options import int_list

log = logging.getLogger("creme_fast.cli")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot", help="draw the paper's figures for creme-fast run directories",
        description="Per gene: the necessity/sufficiency profile (both in one figure when "
        "both runs are given), the distance curve, the higher-order trajectory, the "
        "multiplicity curve, the fine-tile sub-tiles; across genes: the context histogram "
        "and each run's summary figure. PNG and PDF (or --format).")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run directories")
    p.add_argument("--compare", action="store_true",
                   help="two runs of one test (context, necessity or sufficiency; e.g. one per "
                   "model) against each other: wild-type activity per gene and effects per "
                   "gene or per tile, matched by gene and tile in genome coordinates, with "
                   "the rank correlation (compare.TEST.png/.pdf and .csv)")
    p.add_argument("--compare-tracks", type=int_list, metavar="A,B",
                   help="with --compare: the track (original index) read in each run "
                   "(default: each run's first track)")
    p.add_argument("--gene", action="append", metavar="NAME",
                   help="only this gene (repeat for more; default: every gene)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="figure directory (created); required")
    p.add_argument("--format", default="png,pdf",
                   help="comma-separated: png, pdf, svg (default: png,pdf)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from creme_fast.plots import plot_run
    from creme_fast.plots.compare import compare_runs

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad or not formats:
        raise ValueError(f"--format {args.format!r}: choose from png, pdf, svg")
    if args.compare_tracks is not None and not args.compare:
        raise ValueError("--compare-tracks needs --compare")
    if args.compare:
        if len(args.dirs) != 2:
            raise ValueError(f"--compare takes two run directories, got {len(args.dirs)}")
        tracks = args.compare_tracks or [None, None]
        if len(tracks) != 2:
            raise ValueError(f"--compare-tracks takes two tracks (A,B), got {len(tracks)}")
        files = compare_runs(*args.dirs, args.out, tracks=tracks, genes=args.gene,
                             formats=formats)
        log.info("wrote %d files to %s", len(files), args.out)
        return 0
    files = plot_run(args.dirs, args.out, genes=args.gene, formats=formats)
    log.info("wrote %d files to %s", len(files), args.out)
    return 0
