"""Shared test helpers for kssd and for code built on it.

``run_layer_contract`` checks a layer against the kssd layer contract (config round trip,
eager and symbolic call, compiled call, ``.keras`` save/load); ``run_model_saving_test``
checks a whole model's ``.keras`` round trip; ``assert_outputs_close`` compares nested outputs;
``toy_detector`` builds a small untrained :class:`kssd.models.SSDDetector` for examples.

Examples:
    >>> import numpy as np
    >>> from kssd.layers import L2Normalization
    >>> from kssd.testing import run_layer_contract
    >>> _ = run_layer_contract(L2Normalization, {}, np.ones((1, 2, 2, 3), "float32"), (1, 2, 2, 3))
"""

from kssd.testing.layer_contract import (
    assert_outputs_close,
    run_layer_contract,
    run_model_saving_test,
)
from kssd.testing.toy_detector import toy_detector

__all__ = ["assert_outputs_close", "run_layer_contract", "run_model_saving_test", "toy_detector"]
