"""The one plotting module: the paper's figures for the demo, ``creme-fast plot`` and
the run summaries, drawn from result-schema tables with matplotlib's object API
(no pyplot state, no display needed)."""
from creme_fast.plots.figures import (
    context_figure,
    distance_figure,
    fine_tile_figure,
    higher_order_figure,
    multiplicity_figure,
    padded_spans,
    tile_profile_figure,
)
from creme_fast.plots.rundir import plot_run
from creme_fast.plots.summary import summary_figure

__all__ = ["context_figure", "distance_figure", "fine_tile_figure", "higher_order_figure",
           "multiplicity_figure", "padded_spans", "plot_run", "summary_figure",
           "tile_profile_figure"]
