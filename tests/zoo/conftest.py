"""Fixtures shared by the zoo tests."""

import pytest

import kssd_zoo


@pytest.fixture(scope="module")
def built():
    """``built(name)``: the zoo model ``name``, uncompiled, built once per test module."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = kssd_zoo.build(name, compile=False)
        return cache[name]

    return get
