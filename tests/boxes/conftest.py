"""Fixtures for these tests."""

import keras
import pytest


@pytest.fixture
def compiled():
    """Wrap a function in ``jax.jit`` under the JAX backend, leave it as is otherwise.

    Eager JAX compiles every op separately for every new shape, which makes op-heavy tests
    take many seconds each on a small CPU; one jit per call keeps them fast. The hand-computed
    tests still call the functions eagerly.
    """
    if keras.backend.backend() != "jax":
        return lambda fn: fn
    import jax

    return jax.jit
