"""compat's progress bars and its warning for regions with a single arrangement (issue 19)."""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from toy_models import ConvToy

import creme_fast.compat as fast
from creme_fast.compat import creme as compat_creme
from creme_fast.errors import CremeFastWarning
from creme_fast.sequence import one_hot

L = 2000


class Slow(ConvToy):
    """ConvToy that takes ``delay`` seconds per call, so a bar's delay can pass."""

    def __init__(self, delay: float = 0.0, **kwargs) -> None:
        super().__init__(seq_length=L, **kwargs)
        self.delay = delay

    def predict(self, x):
        time.sleep(self.delay)
        return super().predict(x)


@pytest.fixture
def x():
    return one_hot(np.random.RandomState(0).randint(0, 4, L).astype(np.uint8), dtype=np.float64)


def tiles():
    return fast.set_tile_range(L, 200)[1]


def test_higher_order_shows_rounds(x, capsys):
    fast.higher_order_interaction_test(Slow(), x, tiles()[:4], np.argmin, num_shuffle=2,
                                       num_rounds=3, rng=np.random.RandomState(0), verbose=True)
    err = capsys.readouterr().err
    assert "higher-order rounds" in err and "0/3" in err  # a bar over the 3 rounds
    assert "necessity" in err  # the mutants of each round


def test_bars_appear_only_after_a_delay(x, capsys, monkeypatch):
    fast.necessity_test(Slow(), x, tiles()[:3], 2, rng=np.random.RandomState(0))
    assert "necessity" not in capsys.readouterr().err  # quick: no bar by default
    monkeypatch.setattr(compat_creme, "PROGRESS_DELAY_S", 0.05)
    fast.necessity_test(Slow(0.1), x, tiles()[:3], 2, rng=np.random.RandomState(0),
                        batch_size=2)
    assert "necessity" in capsys.readouterr().err  # slow: the default bar shows
    fast.necessity_test(Slow(0.1), x, tiles()[:3], 2, rng=np.random.RandomState(0),
                        batch_size=2, verbose=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name", ["multiplicity", "prune"])
def test_multiplicity_and_prune_show_progress(x, capsys, name):
    model = Slow()
    center, others = fast.set_tile_range(L, 200)
    rng = np.random.RandomState(1)
    if name == "multiplicity":
        cre = others[2]
        fast.multiplicity_test(model, x, center, cre, x[cre[0]:cre[1]], others[:4], 2, 2,
                               np.argmax, rng=rng, verbose=True)
        assert "multiplicity copies" in capsys.readouterr().err
        return
    _, pred_mut, _, controls = fast.sufficiency_test(model, x, center, [others[2]], 3,
                                                     mean=False, return_seqs=True, rng=rng,
                                                     verbose=False)
    fast.prune_sequence(model, x, controls, pred_mut.mean(), others[2][0], others[2][1],
                        [50, 10], [0.99, 0.98], 1, [1, 2], verbose=True)
    assert "prune steps" in capsys.readouterr().err


def test_single_arrangement_warning_names_sequence_coordinates_once(x):
    """All-N tiles (a window past a chromosome end): one warning for the call, in sequence
    coordinates, with the number of regions."""
    x = x.copy()
    x[1000:1400] = 0.25  # N over two 200 bp tiles
    x[1500:1502] = np.eye(4)[[0, 1]]
    tile_set = [[200, 400], [1000, 1200], [1200, 1400], [1500, 1502]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast.necessity_test(ConvToy(seq_length=L), x, tile_set, 3, rng=np.random.RandomState(0),
                            verbose=False)
        fast.higher_order_interaction_test(ConvToy(seq_length=L), x, list(tile_set), np.argmin,
                                           num_shuffle=2, num_rounds=3,
                                           rng=np.random.RandomState(0), verbose=False)
    messages = [str(w.message) for w in caught if w.category is CremeFastWarning]
    assert len(messages) == 2, messages  # one per call, not one per region or shuffle
    for message in messages:
        assert message.startswith("3 shuffled regions of the 2,000 bp sequence admit a single "
                                  "arrangement")
        assert "[1,000, 1,200), [1,200, 1,400), [1,500, 1,502)" in message
        assert "[0, " not in message
    assert caught[0].filename == __file__  # pointed at the caller's line


def test_whole_sequence_shuffle_of_one_token(x):
    flat = np.zeros((L, 4))
    flat[:, 2] = 1  # all G: the context shuffles are copies
    with pytest.warns(CremeFastWarning, match=r"^1 shuffled region of the 2,000 bp sequence "
                                              r"admits a single arrangement .*\[0, 2,000\)"):
        fast.context_dependence_test(ConvToy(seq_length=L), flat, [900, 1100], 2,
                                     rng=np.random.RandomState(0), verbose=False)
