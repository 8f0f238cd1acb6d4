"""Write a random-weights Borzoi snapshot (borzoi-pytorch's save_pretrained) for benchmarks.

    python benchmarks/issue31/make_borzoi_checkpoint.py OUT_DIR [--depth 8] [--flashed]

Defaults are the published architecture (dim 1536, depth 8, heads 8, 6,144 output bins,
human head of 7,611 tracks): what ``creme-fast export --model borzoi`` of
``johahi/borzoi-replicate-0`` has to hold. ``--flashed`` writes Flashzoi's.
"""
from __future__ import annotations

import argparse

import torch

from creme_fast.export.models.borzoi import build_borzoi


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--bins-to-return", type=int, default=6144)
    p.add_argument("--flashed", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    model = build_borzoi({"depth": args.depth, "bins_to_return": args.bins_to_return,
                          "flashed": args.flashed})
    model.save_pretrained(args.out)


if __name__ == "__main__":
    main()
