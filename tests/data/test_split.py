"""split_items: the one seeded hold-out split."""

import numpy as np
import pytest

from kssd.data import split_items


def test_same_seed_same_split_and_order_kept():
    items = [f"img{i}" for i in range(50)]
    kept, held = split_items(items, 0.1, seed=3)
    assert (kept, held) == split_items(items, 0.1, seed=3)
    assert len(held) == 5 and len(kept) == 45
    assert set(kept).isdisjoint(held) and sorted(kept + held) == sorted(items)
    assert kept == [x for x in items if x in kept] and held == [x for x in items if x in held]
    assert split_items(items, 0.1, seed=4) != (kept, held)


def test_held_out_positions_are_the_first_of_the_seeded_permutation():
    held_positions = sorted(np.random.default_rng(7).permutation(20)[:4].tolist())
    assert split_items(list(range(20)), 0.2, seed=7)[1] == held_positions


def test_at_least_one_item_and_nothing_for_zero_or_tiny_inputs():
    assert len(split_items(range(3), 0.01, seed=0)[1]) == 1
    assert split_items(range(5), 0.0, seed=0) == ([0, 1, 2, 3, 4], [])
    assert split_items(["a"], 0.5, seed=0) == (["a"], [])
    with pytest.raises(ValueError, match="fraction"):
        split_items(range(5), 1.0)
