"""A small genome written by the tests: several chromosomes, genes on both strands and
near both chromosome ends, soft-masked stretches, planted synthetic-model motifs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from creme_fast.sequence.tokens import decode, encode, reverse_complement
from creme_fast.synthetic import DEFAULT_GRAMMAR as G

CHROMS = {"chr1": 260_000, "chr2": 210_000, "chr3": 60_000}
GENES = [  # name, chrom, tss, strand
    ("geneA", "chr1", 120_000, "+"),
    ("geneB", "chr1", 150_000, "-"),
    ("geneC", "chr1", 40, "+"),          # at the start of chr1
    ("geneD", "chr1", 259_990, "-"),     # at the end of chr1
    ("geneE", "chr2", 100_000, "+"),
    ("geneF", "chr2", 105_000, "-"),
    ("geneG", "chr3", 30_000, "+"),      # chr3 is shorter than a window
    ("geneH", "chr2", 5_000, "-"),
]


def make_genome(directory: Path, seed: int = 0) -> tuple[Path, dict[str, np.ndarray]]:
    """Write ``genome.fa`` and return its path and the upper-case tokens per chromosome."""
    rng = np.random.default_rng(seed)
    seqs = {c: rng.integers(0, 4, n).astype(np.uint8) for c, n in CHROMS.items()}
    prom = encode(G.motifs["promoter"])
    enh = encode(G.motifs["enh_U"])
    for _, chrom, tss, strand in GENES:
        seq = seqs[chrom]
        if strand == "+":
            lo = tss - len(prom) // 2
            if lo >= 0 and lo + len(prom) <= seq.size:
                seq[lo:lo + len(prom)] = prom
            e = tss + 12_000
        else:  # the promoter reads on the minus strand: plant its reverse complement
            lo = tss - len(prom) // 2 + 1
            if lo >= 0 and lo + len(prom) <= seq.size:
                seq[lo:lo + len(prom)] = reverse_complement(prom)
            e = tss - 12_000
        if 0 <= e and e + len(enh) <= seq.size:
            seq[e:e + len(enh)] = enh
    path = directory / "genome.fa"
    with open(path, "w") as fh:
        for chrom, tokens in seqs.items():
            text = decode(tokens)
            if chrom == "chr1":  # soft-mask a stretch, as repeat-masked genomes do
                text = text[:50_000] + text[50_000:80_000].lower() + text[80_000:]
            fh.write(f">{chrom} test chromosome\n")
            fh.writelines(text[i:i + 60] + "\n" for i in range(0, len(text), 60))
    return path, seqs


def write_tss(directory: Path, genes=GENES, name: str = "genes.tsv") -> Path:
    path = directory / name
    pd.DataFrame(genes, columns=["name", "chrom", "tss", "strand"]).to_csv(
        path, sep="\t", index=False)
    return path
