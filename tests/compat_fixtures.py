"""Inputs for the creme-nn drop-in tests: a FASTA the tests write, a small Enformer
whose output depends on its input, and its creme-fast export."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from enformer_fixtures import SEQ_LENGTH, make_small_enformer

CHROMS = {"chr3": 9000, "chr4": 6000, "chr16": 5000, "chr17": 7000}
# the tutorials' genes, moved onto the small genome (CLUAP1 sits near chr16's start, so its
# window is padded with N as a window past a chromosome end is)
GENES = {"ABCA8": "ABCA8_chr17_1500_-", "NFKBIZ": "NFKBIZ_chr3_2500_+",
         "GATA2": "GATA2_chr3_6000_-", "CLUAP1": "CLUAP1_chr16_600_+", "KIT": "KIT_chr4_3000_+"}


def write_genome(path: Path, seed: int = 0) -> dict[str, str]:
    """A FASTA of random sequence (60 bp lines) with a soft-masked stretch and an N run;
    returns the upper-case sequences."""
    rng = np.random.default_rng(seed)
    seqs = {}
    with open(path, "w") as fh:
        for name, size in CHROMS.items():
            seq = "".join(rng.choice(list("ACGT"), size))
            seq = seq[:1000] + seq[1000:1200].lower() + seq[1200:2000] + "N" * 30 + seq[2030:]
            seqs[name] = seq.upper()
            fh.write(f">{name} synthetic\n")
            fh.writelines(seq[i:i + 60] + "\n" for i in range(0, size, 60))
    return seqs


def input_dependent_enformer(seed: int = 0):
    """The small Enformer of ``enformer_fixtures``, whose predictions depend on the input
    (a randomly initialised one predicts nearly the same for every sequence)."""
    return make_small_enformer(seed).eval()


def write_export(model, path: Path, **options) -> Path:
    """A one-hot-input creme-fast export of ``model`` (all tracks and bins unless told)."""
    from creme_fast.export import export_enformer

    export_enformer(model, path, seq_length=SEQ_LENGTH, **options)
    return path
