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
