"""creme-nn 0.2.5 compatible functions running on creme-fast's engine.

creme-nn code switches by its imports alone: ``from creme import creme, utils,
custom_model, shuffle`` becomes ``from creme_fast.compat import creme, utils,
custom_model, shuffle`` (``import creme_fast.compat as creme`` also works: the
eight tests, ``generate_tile_shuffles``, the normalisation helpers and
``set_tile_range`` are here too), and creme-nn can be uninstalled.

For reproducible runs pass ``rng=numpy.random.RandomState(seed)`` to every
test: ``np.random.seed`` makes neither creme-nn nor this layer reproducible.
Deliberate differences from the reference are listed in each module's
docstring (``creme_fast.compat.creme`` first).
"""
from creme_fast.compat import creme, custom_model, shuffle, utils
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
    "creme", "custom_model", "utils",
]
