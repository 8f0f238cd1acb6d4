"""The eight CREME tests on the pipelined engine, one module each.

Every test takes a :class:`~creme_fast.runtime.Predictor`, builds a plan of
mutants (native dinucleotide shuffles keyed by (seed, locus, ...), so results
do not depend on batch size), runs it through
:func:`~creme_fast.pipeline.run_plan`, and returns a typed result with the raw
predictions, the paper's normalised effects, ``to_frame()`` and save/load.
Engine options accepted by every test: ``batch_size``, ``bins``, ``tracks``,
``verbose``, ``stats`` (``_common.ENGINE_OPTIONS``); any other keyword is a
``TypeError`` naming it and the ones that exist. ``bins`` left out reads the TSS
bins the model records (as ``creme-fast run`` does; a model that records none
is refused, naming ``bins=``); ``bins="all"`` averages every output bin (see
:mod:`creme_fast.runtime.readout`).
"""
from creme_fast.assays.context import (
    ContextDependenceResult,
    categorize_context,
    context_dependence,
)
from creme_fast.assays.distance import DistanceResult, distance
from creme_fast.assays.fine_tile import FineTileResult, fine_tile_search
from creme_fast.assays.higher_order import HigherOrderResult, classify_interaction, higher_order
from creme_fast.assays.multiplicity import MultiplicityResult, multiplicity
from creme_fast.assays.necessity import NecessityResult, necessity
from creme_fast.assays.sufficiency import SufficiencyResult, sufficiency
from creme_fast.assays.swap import ContextSwapResult, context_swap

__all__ = [
    "ContextDependenceResult", "ContextSwapResult", "DistanceResult", "FineTileResult",
    "HigherOrderResult", "MultiplicityResult", "NecessityResult", "SufficiencyResult",
    "categorize_context", "classify_interaction", "context_dependence", "context_swap",
    "distance", "fine_tile_search", "higher_order", "multiplicity", "necessity", "sufficiency",
]
