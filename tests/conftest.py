"""Shared pytest fixtures: where ../shared lives, and skipping when it is absent."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = (REPO_ROOT / ".." / "shared").resolve()


def shared_path(*parts):
    """Path under ../shared, or skip the test with a clear reason when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the ../shared data folder beside the repository)")
    return path


@pytest.fixture
def shared():
    """Fixture returning :func:`shared_path`."""
    return shared_path


@pytest.fixture
def compiled():
    """Wrap a function in ``jax.jit`` under the JAX backend, leave it as is otherwise.

    Eager JAX compiles every op separately for every new shape, which makes op-heavy tests
    take many seconds each on a small CPU; one jit per call keeps them fast. The hand-computed
    tests still call the functions eagerly.
    """
    import keras

    if keras.backend.backend() != "jax":
        return lambda fn: fn
    import jax

    return jax.jit
