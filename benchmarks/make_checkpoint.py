"""Write a random-weights Enformer checkpoint (save_pretrained) for export benchmarks.

    python benchmarks/make_checkpoint.py OUT_DIR [--dim 1536 --depth 11 --heads 8]
                                         [--noise 0.07]

Defaults are the published architecture (dim 1536, depth 11, heads 8, human 5313 /
mouse 1643 tracks): what ``creme-fast export`` of the official weights has to hold.
``--noise SIGMA`` adds N(0, SIGMA) to every parameter, as the suite's
input-sensitive models are made (``tests/enformer_fixtures.py``): a randomly
initialised Enformer predicts nearly the same value for every input, and its
weights may behave differently from trained ones in a profile.
"""
from __future__ import annotations

import argparse

import torch
from enformer_pytorch import Enformer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--dim", type=int, default=1536)
    p.add_argument("--depth", type=int, default=11)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.0,
                   help="standard deviation of the normal noise added to every parameter")
    args = p.parse_args()
    if args.noise < 0:
        p.error(f"--noise must be >= 0, got {args.noise}")
    torch.manual_seed(args.seed)
    model = Enformer.from_hparams(dim=args.dim, depth=args.depth, heads=args.heads)
    if args.noise:
        with torch.no_grad():
            for param in model.parameters():
                param.add_(torch.randn_like(param) * args.noise)
    # pytorch_model.bin, as the official snapshot has
    model.save_pretrained(args.out, safe_serialization=False)


if __name__ == "__main__":
    main()
