"""`uniform` mode reaches every sequence with the same dinucleotide counts, uniformly."""
from collections import Counter

import numpy as np
import pytest
from scipy.stats import chisquare

from creme_fast.sequence import decode, dinuc_shuffle, encode


def all_dinuc_arrangements(seq: str) -> set[str]:
    """Every sequence with the same first base and dinucleotide counts (Euler paths)."""
    pairs = Counter(zip(seq, seq[1:]))
    out_edges: dict[str, Counter] = {}
    for (a, b), n in pairs.items():
        out_edges.setdefault(a, Counter())[b] += n
    found = set()

    def extend(prefix: list[str], remaining: int) -> None:
        if remaining == 0:
            found.add("".join(prefix))
            return
        here = out_edges.get(prefix[-1], Counter())
        for nxt in sorted(here):
            if here[nxt]:
                here[nxt] -= 1
                prefix.append(nxt)
                extend(prefix, remaining - 1)
                prefix.pop()
                here[nxt] += 1

    extend([seq[0]], len(seq) - 1)
    return found


@pytest.mark.parametrize("seq,n_expected", [("ACCCACGATGATG", 27), ("AACGTTGCANNAC", None),
                                             ("GATTACAGATTACA", None)])
def test_uniform_reaches_all_uniformly(seq, n_expected):
    universe = sorted(all_dinuc_arrangements(seq))
    if n_expected is not None:
        assert len(universe) == n_expected
    draws_per = 300
    out = dinuc_shuffle(encode(seq), draws_per * len(universe), mode="uniform", seed=12345)
    counts = Counter(decode(row) for row in out)
    assert set(counts) == set(universe)
    observed = np.array([counts[s] for s in universe])
    _, p_value = chisquare(observed)
    assert p_value > 1e-3, (p_value, observed)


def test_deeplift_rule_misses_arrangements():
    """The reason uniform exists: deeplift's rule reaches 9 of the 27 (tangermeme #27)."""
    seq = "ACCCACGATGATG"
    out = dinuc_shuffle(encode(seq), 5000, mode="fast", seed=1)
    reached = {decode(row) for row in out}
    assert reached < all_dinuc_arrangements(seq)
    assert len(reached) == 9
