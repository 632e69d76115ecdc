"""L2Normalization: contract, values, channel axis, errors."""

import keras
import numpy as np
import pytest

from kssd.layers import L2Normalization
from kssd.testing import run_layer_contract


def _reference(x, gamma, axis):
    norm = np.sqrt(np.maximum((x.astype("float64") ** 2).sum(axis, keepdims=True), 1e-12))
    shape = [1] * x.ndim
    shape[axis] = -1
    return (x / norm * np.reshape(gamma, shape)).astype("float32")


def test_contract_channels_last():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 4)).astype("float32")
    out = run_layer_contract(
        L2Normalization,
        {"gamma_init": 20.0},
        x,
        (2, 3, 3, 4),
        expected_output=_reference(x, np.full(4, 20.0), -1),
        expected_num_weights=1,
        rtol=1e-5,
    )
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 20.0, rtol=1e-5)


def test_contract_channels_first_axis():
    x = np.random.default_rng(1).normal(size=(2, 5, 3, 3)).astype("float32")
    run_layer_contract(
        L2Normalization,
        {"gamma_init": 2.5, "axis": 1, "epsilon": 1e-10},
        x,
        (2, 5, 3, 3),
        expected_output=_reference(x, np.full(5, 2.5), 1),
        expected_num_weights=1,
        rtol=1e-5,
    )


def test_gamma_is_trainable_per_channel_and_zero_input_is_finite():
    layer = L2Normalization(gamma_init=1.0)
    x = np.zeros((1, 2, 2, 3), "float32")
    out = np.asarray(layer(x))
    assert np.all(out == 0.0)
    assert [tuple(w.shape) for w in layer.trainable_weights] == [(3,)]
    layer.gamma.assign(np.array([1.0, 2.0, 3.0], "float32"))
    y = np.ones((1, 1, 1, 3), "float32")
    np.testing.assert_allclose(np.asarray(layer(y))[0, 0, 0], np.array([1, 2, 3]) / np.sqrt(3), rtol=1e-5)


def test_gamma_receives_gradients_in_fit():
    inputs = keras.Input((2, 2, 3))
    model = keras.Model(inputs, L2Normalization(gamma_init=1.0)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(2).normal(size=(4, 2, 2, 3)).astype("float32")
    model.fit(x, np.zeros_like(x), epochs=1, verbose=0)
    gamma = np.asarray(model.layers[-1].gamma)
    assert np.all(gamma < 1.0)  # pulled towards the zero target


def test_bad_axis_raises_value_error():
    with pytest.raises(ValueError, match="`axis`=4 is out of range"):
        L2Normalization(axis=4)(np.ones((1, 2, 2, 3), "float32"))
    with pytest.raises(ValueError, match="`axis` must be an int"):
        L2Normalization(axis=1.5)
    with pytest.raises(ValueError, match="`epsilon`"):
        L2Normalization(epsilon=0)
