"""``creme-fast demo``: the eight CREME tests on the synthetic ground-truth model."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from creme_fast.cli.common import add_threads_option, progress_wanted, record
from creme_fast.cli.options import positive_int, seed

log = logging.getLogger("creme_fast.cli")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run every CREME test on the built-in ground-truth model "
                       "and check what they recover against what was planted")
    p.add_argument("--out", type=Path, default=Path("creme-fast-demo"), metavar="DIR",
                   help="output directory (default: ./creme-fast-demo)")
    p.add_argument("--shuffles", type=positive_int, default=10, metavar="N",
                   help="dinucleotide shuffles per mutant (default: 10, the paper's)")
    p.add_argument("--tile-size", type=positive_int, default=5000, metavar="BP",
                   help="tile width in bp (default: 5000, the paper's)")
    p.add_argument("--seed", type=seed, default=0, help="shuffle seed, 0..2**64-1 "
                   "(default: 0)")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                   help="sequences per model call (results do not depend on it; default: 8)")
    add_threads_option(p)
    p.set_defaults(handler=run)


def format_recovery(recovery: pd.DataFrame) -> str:
    """The planted-versus-recovered table as aligned text (passing "no unplanted tile
    flagged" rows are summed up in one line; recovery.csv has them all)."""
    quiet = (recovery["element"] == "(other tiles)") & recovery["ok"]
    shown = recovery[~quiet].assign(ok=recovery["ok"].map({True: "yes", False: "NO"}))
    return (shown.to_string(index=False, max_colwidth=48)
            + f"\n(and {int(quiet.sum())} locus/track checks: no unplanted tile flagged)")


def run(args: argparse.Namespace) -> int:
    from creme_fast.demo import DemoSettings, run_demo

    settings = DemoSettings(tile_size=args.tile_size, num_shuffles=args.shuffles,
                            seed=args.seed, batch_size=args.batch_size,
                            verbose=progress_wanted(args), threads=args.threads)
    start = time.perf_counter()
    result = run_demo(args.out, settings)
    log.info("planted versus recovered:\n%s", format_recovery(result.recovery))
    log.info("wrote %d files to %s in %.0f s", len(result.files), args.out,
             time.perf_counter() - start)
    failed = result.recovery[~result.recovery["ok"]]
    if len(failed):
        log.error("%d of %d checks did not recover the planted truth", len(failed),
                  len(result.recovery))
    record("demo: %d of %d checks recovered the planted truth; %d files in %s (exit %d)",
           len(result.recovery) - len(failed), len(result.recovery), len(result.files),
           args.out, 1 if len(failed) else 0)
    return 1 if len(failed) else 0
