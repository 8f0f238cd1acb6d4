"""creme-nn 0.2.5 compatible functions running on creme-fast's engine.

``import creme_fast.compat as creme`` is meant as a one-line switch for code
written against creme-nn: the eight tests, ``generate_tile_shuffles``, the
normalisation helpers and ``set_tile_range`` are available here, and
``creme_fast.compat.shuffle`` mirrors ``creme.shuffle``. Deliberate
differences from the reference are listed in each module's docstring.
"""
from creme_fast.compat import shuffle
from creme_fast.compat.creme import (
                                     context_dependence_test,
                                     context_effect_on_tss,
                                     context_swap_test,
                                     distance_test,
                                     fold_change_over_control,
                                     generate_tile_shuffles,
                                     higher_order_interaction_test,
                                     multiplicity_test,
                                     necessity_test,
                                     normalized_tile_effect,
                                     prune_sequence,
                                     reduce_pred_index,
                                     remove_tss_tile,
                                     set_tile_range,
                                     sufficiency_test,
)

__all__ = [
    "context_dependence_test", "context_effect_on_tss", "context_swap_test", "distance_test",
    "fold_change_over_control", "generate_tile_shuffles", "higher_order_interaction_test",
    "multiplicity_test", "necessity_test", "normalized_tile_effect", "prune_sequence",
    "reduce_pred_index", "remove_tss_tile", "set_tile_range", "shuffle", "sufficiency_test",
]
