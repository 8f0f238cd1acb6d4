"""The paper's plots for the demo, drawn with matplotlib's object API (no pyplot
state, no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.demo.recovery import distance_expected
from creme_fast.io.tables import atomic_write
from creme_fast.synthetic.grammar import Grammar
from creme_fast.synthetic.loci import THRESHOLD, SyntheticLoci

__all__ = ["draw_all"]


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    return atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def context_plot(loci: SyntheticLoci, result: Any, grammar: Grammar, path: Path) -> Path:
    """Context effect per locus and track, with the paper's class cut-offs."""
    fig, ax = _figure(7, 3.5)
    ax = ax[0, 0]
    effect = result.effect
    width = 0.8 / effect.shape[1]
    x = np.arange(effect.shape[0])
    for k, track in enumerate(grammar.tracks):
        ax.bar(x + k * width, effect[:, k], width, label=track)
    for y in (0.95, 0.05, -0.05, -0.3):
        ax.axhline(y, color="grey", lw=0.6, ls="--")
    ax.set_xticks(x + width * (effect.shape[1] - 1) / 2, loci.names)
    ax.set_ylabel("context effect (WT - shuffled) / WT")
    ax.legend(fontsize=7)
    return _save(fig, path)


def tile_effects_plot(loci: SyntheticLoci, necessity: Any, sufficiency: Any, grammar: Grammar,
                      path: Path) -> Path:
    """Necessity and sufficiency effect per tile along each locus; planted tiles marked."""
    n = len(loci.names)
    fig, axes = _figure(10, 2.0 * n, n, 2)
    centre = (loci.tss_tile[0] + loci.tss_tile[1]) / 2
    x = (loci.tiles.mean(axis=1) - centre) / 1000
    for i, name in enumerate(loci.names):
        planted = loci.elements[loci.elements["locus"] == name]
        for j, (label, result) in enumerate((("necessity", necessity),
                                              ("sufficiency", sufficiency))):
            ax = axes[i, j]
            for k, track in enumerate(grammar.tracks):
                ax.plot(x, result.effect[i, :, k], marker=".", lw=0.8, label=track)
            for _, el in planted.iterrows():
                ax.axvline(x[el["tile"]], color="k", lw=0.5, alpha=0.4)
            for y in (THRESHOLD, -THRESHOLD):
                ax.axhline(y, color="grey", lw=0.6, ls="--")
            ax.set_title(f"{name}: {label}", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[i, 0].set_ylabel("effect", fontsize=7)
    for j in range(2):
        axes[-1, j].set_xlabel("tile centre, kb from TSS", fontsize=7)
    axes[0, 0].legend(fontsize=6)
    return _save(fig, path)


def distance_plot(loci: SyntheticLoci, result: Any, grammar: Grammar, track: int,
                  path: Path) -> Path:
    """Activity versus the CRE's distance from the TSS, with the grammar's curve."""
    fig, ax = _figure(6, 3.5)
    ax = ax[0, 0]
    d = result.distance_bp / 1000
    order = np.argsort(d)
    ax.plot(d[order], result.activity[order, track], "o", ms=3, label="measured")
    ax.plot(d[order], distance_expected(loci, grammar, result, "U_enhancer")[order, track],
            "-", lw=1, label="grammar")
    ax.set_xlabel("CRE distance from TSS (kb)")
    ax.set_ylabel(f"activity ({grammar.tracks[track]})")
    ax.legend(fontsize=7)
    return _save(fig, path)


def higher_order_plot(results: dict[str, Any], path: Path) -> Path:
    """Greedy trace against the additive model, for each pair locus."""
    names = ("cooperative", "redundant")
    fig, axes = _figure(9, 3.2, 1, len(names))
    for ax, name in zip(axes[0], names):
        res = results[f"higher_order_{name}"]
        rounds = np.arange(len(res.selected) + 1)
        ax.plot(rounds, np.r_[res.wt, res.observed], "o-", label="observed")
        ax.plot(rounds, np.r_[res.wt, res.additive], "s--", label="additive model")
        ax.set_xticks(rounds, ["WT"] + [str(t) for t in res.selected])
        ax.set_xlabel("tiles shuffled (greedy order)")
        ax.set_title(f"{name}: {res.classification()[1]} at 2 tiles", fontsize=8)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("activity")
    return _save(fig, path)


def multiplicity_plot(result: Any, grammar: Grammar, path: Path) -> Path:
    """Activity versus CRE copy number, with the model's ceiling."""
    fig, ax = _figure(5, 3.5)
    ax = ax[0, 0]
    act = np.r_[result.tss_only, result.activity_by_copies]
    ax.plot(np.arange(len(act)), act, "o-")
    ax.axhline(grammar.ceiling, color="grey", ls="--", lw=0.8, label="ceiling")
    ax.set_xlabel("copies of the CRE")
    ax.set_ylabel("activity")
    ax.legend(fontsize=7)
    return _save(fig, path)


def fine_tile_plot(loci: SyntheticLoci, result: Any, path: Path) -> Path:
    """Kept sub-tiles over the CRE, with the planted motif copies."""
    fig, ax = _figure(8, 2.2)
    ax = ax[0, 0]
    start = result.cre_tile[0]
    ax.fill_between(np.arange(result.kept_mask.size), result.kept_mask.astype(float),
                    step="post", alpha=0.5, label="kept")
    copies = loci.motifs[loci.motifs["element"] == "U_enhancer"]
    for s in copies["start"]:
        ax.axvline(s - start, color="r", lw=1)
    ax.set_xlabel("position in the CRE (bp); red: planted motifs")
    ax.set_yticks([])
    ax.legend(fontsize=7)
    return _save(fig, path)


def draw_all(loci: SyntheticLoci, results: dict[str, Any], grammar: Grammar, track: int,
             out: Path) -> list[Path]:
    """Every demo plot as a PNG in ``out``; returns the paths."""
    return [
        context_plot(loci, results["context_dependence"], grammar, out / "context.png"),
        tile_effects_plot(loci, results["necessity"], results["sufficiency"], grammar,
                          out / "necessity_sufficiency.png"),
        distance_plot(loci, results["distance"], grammar, track, out / "distance.png"),
        higher_order_plot(results, out / "higher_order.png"),
        multiplicity_plot(results["multiplicity"], grammar, out / "multiplicity.png"),
        fine_tile_plot(loci, results["fine_tile"], out / "fine_tile.png"),
    ]
