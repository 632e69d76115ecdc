"""The shared layer contract helper must catch broken layers (a contract that cannot fail is useless)."""

import keras
import numpy as np
import pytest

from kssd.testing import assert_outputs_close, run_layer_contract


@keras.saving.register_keras_serializable(package="kssd_contract_test")
class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return dict(super().get_config(), factor=self.factor)


@keras.saving.register_keras_serializable(package="kssd_contract_test")
class ForgetsArgument(Scale):
    def __init__(self, factor=2.0, offset=1.0, **kwargs):
        super().__init__(factor=factor, **kwargs)
        self.offset = offset


@keras.saving.register_keras_serializable(package="kssd_contract_test")
class WrongValue(Scale):
    def get_config(self):
        return dict(super().get_config(), factor=1.0)


@keras.saving.register_keras_serializable(package="kssd_contract_test")
class WrongSymbolicShape(Scale):
    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (7,)


class NotRegistered(Scale):
    pass


X = np.arange(6, dtype="float32").reshape(2, 3)


def test_a_correct_layer_passes_and_returns_eager_outputs():
    out = run_layer_contract(
        Scale, {"factor": 3.0}, X, (2, 3), package="kssd_contract_test", expected_output=X * 3
    )
    np.testing.assert_array_equal(out, X * 3)


@pytest.mark.parametrize(
    "cls, message",
    [
        (ForgetsArgument, r"lacks constructor arguments \['offset'\]"),
        (WrongValue, r"get_config\(\)\['factor'\] is 1.0"),
        (WrongSymbolicShape, "symbolic output"),
    ],
)
def test_broken_layers_are_caught(cls, message):
    with pytest.raises(AssertionError, match=message):
        run_layer_contract(cls, {"factor": 3.0}, X, (2, 3), package="kssd_contract_test")


def test_unregistered_layer_is_caught():
    with pytest.raises(AssertionError, match="registered as"):
        run_layer_contract(NotRegistered, {}, X, package="kssd_contract_test")


def test_wrong_expected_values_and_shapes_are_caught():
    with pytest.raises(AssertionError):
        run_layer_contract(Scale, {}, X, package="kssd_contract_test", expected_output=X)
    with pytest.raises(AssertionError, match=r"shape \(2, 3\), expected \(2, 4\)"):
        run_layer_contract(Scale, {}, X, (2, 4), package="kssd_contract_test")


def test_assert_outputs_close_checks_structure_dtype_and_integers():
    with pytest.raises(AssertionError, match="structure"):
        assert_outputs_close({"a": X}, {"b": X})
    with pytest.raises(AssertionError, match="dtype"):
        assert_outputs_close(X, X.astype("float64"))
    with pytest.raises(AssertionError):
        assert_outputs_close(np.array([1, 2], "int32"), np.array([1, 3], "int32"))
    assert_outputs_close([X, np.array([np.nan])], [X + 1e-8, np.array([np.nan])])
