"""Seeded hold-out split of a list of items (records, paths, ...)."""

import numpy as np


def split_items(items, fraction, seed=None):
    """Hold out a seeded random ``fraction`` of ``items``; both parts keep the input order.

    The held-out positions are the first ``max(1, round(len(items) * fraction))`` entries of
    ``np.random.default_rng(seed).permutation(len(items))``, so a seed always picks the same
    items. ``fraction`` 0 (or fewer than two items) holds nothing out.

    Args:
        items: a sequence.
        fraction: share of the items to hold out, in [0, 1).
        seed: seed of the permutation, default None (fresh randomness).

    Returns:
        ``(kept, held_out)``: two lists.

    Examples:
        >>> from kssd.data import split_items
        >>> kept, held = split_items(list("abcdefghij"), 0.2, seed=0)
        >>> len(kept), len(held), sorted(kept + held) == list("abcdefghij")
        (8, 2, True)
        >>> split_items(list("abcdefghij"), 0.2, seed=0) == (kept, held)
        True
    """
    items = list(items)
    fraction = float(fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    if not fraction or len(items) < 2:
        return items, []
    order = np.random.default_rng(seed).permutation(len(items))
    count = max(1, int(round(len(items) * fraction)))
    held = set(order[:count].tolist())
    kept = [item for i, item in enumerate(items) if i not in held]
    return kept, [item for i, item in enumerate(items) if i in held]
