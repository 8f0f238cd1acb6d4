"""Loci with planted regulatory elements, and the truth table that goes with them."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creme_fast.assays.context import categorize_context
from creme_fast.sequence.tiles import tile_layout
from creme_fast.sequence.tokens import encode, reverse_complement
from creme_fast.synthetic.grammar import (
    DEFAULT_GRAMMAR,
    MOTIF_LENGTH,
    Grammar,
    kmer_keys,
    motif_keys,
)

__all__ = [
    "DEFAULT_DESIGNS",
    "KIND_EXPECTATIONS",
    "Element",
    "LocusDesign",
    "SyntheticLoci",
    "flag",
    "generate_loci",
]

# what each kind of element should show: (necessary, sufficient), signed
KIND_EXPECTATIONS = {
    "enhancer": (1, 1),      # necessity > 0.3 and sufficiency > 0.3
    "silencer": (-1, -1),    # both < -0.3
    "cooperative": (1, 0),   # needed, but useless without its partner
    "redundant": (0, 1),     # enough alone, but its partner covers its loss
}
THRESHOLD = 0.3  # the paper's tile-effect cut-off


@dataclass(frozen=True)
class Element:
    """A planted element: copies of one motif inside one tile.

    Attributes
    ----------
    name : str
    motif : str
        A motif of the grammar.
    kind : {"enhancer", "silencer", "cooperative", "redundant"}
    tile : int
        Tile relative to the TSS tile (-1 is the tile just upstream, +1 just
        downstream).
    offsets : tuple of int
        Motif starts inside the tile.
    strands : str
        One of ``+``/``-`` per copy.
    """

    name: str
    motif: str
    kind: str
    tile: int
    offsets: tuple[int, ...] = (2500,)
    strands: str = "+"


@dataclass(frozen=True)
class LocusDesign:
    """A locus: its expected context class and its elements."""

    name: str
    context: str
    elements: tuple[Element, ...] = ()


DEFAULT_DESIGNS: tuple[LocusDesign, ...] = (
    LocusDesign("enhancing", "enhancing", (
        Element("A_enhancer", "enh_A", "enhancer", -4),
        Element("B_enhancer", "enh_B", "enhancer", +5, strands="-"),
        Element("U_enhancer", "enh_U", "enhancer", +12, offsets=(1000, 3600), strands="+-"),
    )),
    LocusDesign("neutral", "neutral"),
    LocusDesign("silencing", "silencing", (
        Element("silencer_up", "silencer", "silencer", -2),
        Element("silencer_down", "silencer", "silencer", +5, offsets=(2000,), strands="-"),
    )),
    LocusDesign("cooperative", "enhancing", (
        Element("coop_up", "coop_1", "cooperative", -3),
        Element("coop_down", "coop_2", "cooperative", +3, strands="-"),
    )),
    LocusDesign("redundant", "enhancing", (
        Element("red_up", "red_1", "redundant", -2),
        Element("red_down", "red_2", "redundant", +4, strands="-"),
    )),
)


@dataclass
class SyntheticLoci:
    """Generated loci.

    Attributes
    ----------
    tokens : numpy.ndarray of uint8, shape=(n_loci, seq_length)
    designs : tuple of LocusDesign
    tiles : numpy.ndarray, shape=(n_tiles, 2)
        The tile layout every tile index refers to.
    tss_tile : tuple of int
    elements : pandas.DataFrame
        One row per element: locus, element, motif, kind, tile (layout index),
        tile_start, tile_end, distance_bp (of the element's first copy), tracks
        (the tracks it acts on, ``;``-joined).
    motifs : pandas.DataFrame
        One row per planted motif copy: locus, element, motif, strand, start, end.
    truth : pandas.DataFrame
        One row per element and track: the effects the grammar predicts
        (``necessity_expected``, ``sufficiency_expected``) and the flags the
        tests should raise (``necessary``, ``sufficient``: 1, -1 or 0).
    context : pandas.DataFrame
        One row per locus and track: ``context_expected`` and the class.
    """

    tokens: np.ndarray
    designs: tuple[LocusDesign, ...]
    tiles: np.ndarray
    tss_tile: tuple[int, int]
    elements: pd.DataFrame
    motifs: pd.DataFrame
    truth: pd.DataFrame
    context: pd.DataFrame

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.designs]

    def locus(self, name: str) -> int:
        """Row of the locus called ``name``."""
        if name not in self.names:
            raise ValueError(f"no locus {name!r}; loci are {', '.join(self.names)}")
        return self.names.index(name)

    def element(self, name: str) -> pd.Series:
        """The :attr:`elements` row of the element called ``name``."""
        rows = self.elements[self.elements["element"] == name]
        if rows.empty:
            raise ValueError(f"no element {name!r}")
        return rows.iloc[0]


def _background(rng: np.random.Generator, n: int, length: int, gc: float,
                cpg_keep: float) -> np.ndarray:
    """i.i.d. bases at ``gc`` content with CpG depleted to ``cpg_keep`` of its rate.

    Depletion turns a C or G of each dropped CpG into T or A, so bases are drawn
    at the GC content ``g0`` that depletion brings down to ``gc``:
    ``g0 - (1 - keep) (g0 / 2)^2 = gc``.
    """
    loss = 1.0 - cpg_keep
    g0 = gc if loss == 0 else (1.0 - np.sqrt(1.0 - loss * gc)) / (loss / 2)
    p = np.array([1 - g0, g0, g0, 1 - g0]) / 2
    seqs = rng.choice(4, size=(n, length), p=p).astype(np.uint8)
    cpg = (seqs[:, :-1] == 1) & (seqs[:, 1:] == 2)
    drop = cpg & (rng.random(cpg.shape) > cpg_keep)
    rows, cols = np.nonzero(drop)
    to_tg = rng.random(rows.shape[0]) < 0.5  # deamination on either strand: CG -> TG or CA
    seqs[rows[to_tg], cols[to_tg]] = 3
    seqs[rows[~to_tg], cols[~to_tg] + 1] = 0
    return seqs


def _scrub(rng: np.random.Generator, seqs: np.ndarray, keys: np.ndarray) -> None:
    """Mutate every accidental motif occurrence away (in place)."""
    for _ in range(100):
        hits = np.isin(kmer_keys(seqs), keys)
        if not hits.any():
            return
        rows, cols = np.nonzero(hits)
        seqs[rows, cols] = (seqs[rows, cols] + rng.integers(1, 4, rows.shape[0])) % 4
    raise RuntimeError("could not remove accidental motif occurrences")  # pragma: no cover


def generate_loci(grammar: Grammar = DEFAULT_GRAMMAR,
                  designs: Sequence[LocusDesign] = DEFAULT_DESIGNS, *, seed: int = 0,
                  tile_size: int = 5000, gc: float = 0.41,
                  cpg_keep: float = 0.25) -> SyntheticLoci:
    """Generate loci: background, promoter at the centre, planted elements.

    Parameters
    ----------
    grammar : Grammar
    designs : sequence of LocusDesign
        Default: enhancing, neutral, silencing, cooperative-pair and
        redundant-pair loci.
    seed : int, default=0
    tile_size : int, default=5000
        Tile layout the designs' tile indices refer to.
    gc : float, default=0.41
        GC content of the background (human genome average).
    cpg_keep : float, default=0.25
        Fraction of CpGs kept (the genome is CpG-depleted about four-fold).

    Returns
    -------
    SyntheticLoci

    Raises
    ------
    ValueError
        A design names an unknown motif or a tile outside the layout, or the
        grammar does not give a design the effects its kinds promise (so its
        truth would be ambiguous).
    """
    length = grammar.seq_length
    layout = tile_layout(length, tile_size)
    n_left = int(np.sum(layout.tiles[:, 1] <= layout.tss[0]))
    keys, _ = motif_keys(grammar.motifs)
    rng = np.random.default_rng(seed)
    designs = tuple(designs)
    seqs = _background(rng, len(designs), length, gc, cpg_keep)
    _scrub(rng, seqs, keys)
    prom = grammar.promoter_start
    seqs[:, prom:prom + MOTIF_LENGTH] = encode(grammar.motifs["promoter"])
    element_rows, motif_rows = [], []
    for i, design in enumerate(designs):
        for el in design.elements:
            grammar.index(el.motif)
            if el.kind not in KIND_EXPECTATIONS:
                raise ValueError(f"{design.name}/{el.name}: unknown kind {el.kind!r}")
            if el.tile == 0 or not -n_left <= el.tile <= layout.n_tiles - n_left:
                raise ValueError(f"{design.name}/{el.name}: tile {el.tile:+d} is outside the "
                                 f"layout ({-n_left:+d}..{layout.n_tiles - n_left:+d}, not 0)")
            if len(el.strands) != len(el.offsets):
                raise ValueError(f"{design.name}/{el.name}: one strand per offset")
            t = n_left + el.tile if el.tile < 0 else n_left + el.tile - 1
            start, end = (int(v) for v in layout.tiles[t])
            fwd = encode(grammar.motifs[el.motif])
            for offset, strand in zip(el.offsets, el.strands):
                pos = start + offset
                if not 0 <= offset <= end - start - MOTIF_LENGTH:
                    raise ValueError(f"{design.name}/{el.name}: offset {offset} leaves the tile")
                seqs[i, pos:pos + MOTIF_LENGTH] = fwd if strand == "+" else reverse_complement(fwd)
                motif_rows.append((design.name, el.name, el.motif, strand, pos,
                                   pos + MOTIF_LENGTH))
            tracks = _tracks_of(grammar, el)
            first = start + el.offsets[0]
            element_rows.append((design.name, el.name, el.motif, el.kind, t, start, end,
                                 int(round(float(grammar.motif_center_offset(first)))),
                                 ";".join(grammar.tracks[k] for k in tracks)))
    elements = pd.DataFrame(element_rows, columns=[
        "locus", "element", "motif", "kind", "tile", "tile_start", "tile_end", "distance_bp",
        "tracks"])
    motifs = pd.DataFrame(motif_rows, columns=["locus", "element", "motif", "strand", "start",
                                               "end"])
    truth, context = _expectations(grammar, designs, seqs, motifs, elements)
    return SyntheticLoci(tokens=seqs, designs=designs, tiles=layout.tiles, tss_tile=layout.tss,
                         elements=elements, motifs=motifs, truth=truth, context=context)


def _tracks_of(grammar: Grammar, el: Element) -> list[int]:
    """Tracks an element acts on (a track with zero linear weight ignores an enhancer)."""
    if el.motif in grammar.enhancer_weight and el.kind == "enhancer":
        return [k for k, w in enumerate(grammar.enhancer_weight[el.motif]) if w != 0]
    return list(range(grammar.n_tracks))


def _expectations(grammar: Grammar, designs: tuple[LocusDesign, ...], seqs: np.ndarray,
                  motifs: pd.DataFrame, elements: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                          pd.DataFrame]:
    """Effects the grammar predicts, from kernel-weighted counts of the planted copies."""
    counts, promoter = grammar.counts(seqs)
    prom_only = np.zeros_like(counts)
    truth_rows, context_rows = [], []
    for i, design in enumerate(designs):
        wt = grammar.activity(counts[i], promoter[i])
        alone = grammar.activity(prom_only[i], promoter[i])
        for k, track in enumerate(grammar.tracks):
            effect = (wt[k] - alone[k]) / wt[k]
            category = categorize_context(np.array([effect]))[0]
            if category != design.context:
                raise ValueError(f"{design.name} on {track}: the grammar gives a context "
                                 f"effect of {effect:.3f} ({category}), not {design.context}")
            context_rows.append((design.name, track, effect, category))
        for el in design.elements:
            copies = motifs[(motifs["locus"] == design.name) & (motifs["element"] == el.name)]
            own = np.zeros_like(counts[i])
            own[grammar.index(el.motif)] = grammar.kernel(
                grammar.motif_center_offset(copies["start"].to_numpy())).sum()
            without = grammar.activity(counts[i] - own, promoter[i])
            with_only = grammar.activity(own, promoter[i])
            necessity = (wt - without) / wt
            sufficiency = (with_only - alone) / wt
            need, suff = KIND_EXPECTATIONS[el.kind]
            acts = set(_tracks_of(grammar, el))
            for k, track in enumerate(grammar.tracks):
                flags = (need, suff) if k in acts else (0, 0)
                for value, want, test in ((necessity[k], flags[0], "necessity"),
                                          (sufficiency[k], flags[1], "sufficiency")):
                    if flag(value) != want:
                        raise ValueError(
                            f"{design.name}/{el.name} on {track}: the grammar gives a "
                            f"{test} effect of {value:.3f}, which does not read as a "
                            f"{el.kind if want else 'non-element'} (cut-off {THRESHOLD})")
                truth_rows.append((design.name, el.name, el.kind, track, k in acts,
                                   necessity[k], sufficiency[k], flags[0], flags[1]))
    truth = pd.DataFrame(truth_rows, columns=[
        "locus", "element", "kind", "track", "acts", "necessity_expected",
        "sufficiency_expected", "necessary", "sufficient"])
    context = pd.DataFrame(context_rows, columns=["locus", "track", "context_expected",
                                                  "category"])
    return truth, context


def flag(effect: Any) -> np.ndarray:
    """1 above the paper's 0.3 cut-off, -1 below -0.3, else 0 (elementwise)."""
    effect = np.asarray(effect, dtype=np.float64)
    return np.where(effect > THRESHOLD, 1, np.where(effect < -THRESHOLD, -1, 0))
