"""kssd.backend.ops_for: Keras ops normally, TensorFlow ops for TF tensors off the TF backend."""

import os

import keras
import numpy as np
import pytest

from kssd import backend
from kssd.backend import ops_for

tf = pytest.importorskip("tensorflow")

# Every op name kssd's box math, matcher and encoder look up through ops_for.
USED_OPS = [
    "abs",
    "arange",
    "argmax",
    "cast",
    "concatenate",
    "convert_to_tensor",
    "equal",
    "exp",
    "expand_dims",
    "log",
    "logical_and",
    "logical_or",
    "max",
    "maximum",
    "minimum",
    "shape",
    "sum",
    "take",
    "vectorized_map",
    "where",
    "zeros",
    "ones",
]


def test_numpy_inputs_get_keras_ops():
    assert ops_for(np.zeros(3)) is keras.ops
    assert ops_for() is keras.ops


def test_tf_tensors_choice_depends_on_the_backend():
    ops = ops_for(np.zeros(2), tf.zeros(2))
    if keras.backend.backend() == "tensorflow":
        assert ops is keras.ops
    else:
        assert ops is not keras.ops
        out = ops.maximum(tf.constant([1.0, -2.0]), 0.0)
        assert isinstance(out, tf.Tensor)
        np.testing.assert_allclose(out.numpy(), [1.0, 0.0])


def test_tensorflow_namespace_has_every_op_kssd_uses():
    ops = backend._tensorflow_ops()
    for name in USED_OPS:
        assert callable(getattr(ops, name)), name
    with pytest.raises(AttributeError):
        _ = ops.no_such_op_name
    x = tf.constant([[3.0, 1.0], [0.0, 5.0]])
    assert ops.argmax(x, axis=1).numpy().tolist() == [0, 1]
    assert isinstance(ops.take(x, tf.constant([1]), axis=0), tf.Tensor)


def test_graph_mode_tensors_route_to_tensorflow_off_the_tf_backend():
    seen = {}

    @tf.function
    def fn(x):
        ops = ops_for(x)
        seen["keras"] = ops is keras.ops
        return ops.sum(ops.exp(x))

    result = fn(tf.constant([0.0, 0.0]))
    assert float(result) == pytest.approx(2.0)
    assert seen["keras"] == (keras.backend.backend() == "tensorflow")


def test_tf_data_map_uses_ops_for():
    def fn(x):
        ops = ops_for(x)
        return ops.concatenate([ops.expand_dims(x, 0), ops.zeros((1, 2), "float32")], axis=0)

    dataset = tf.data.Dataset.from_tensor_slices(np.ones((3, 2), "float32")).map(fn)
    out = [t.numpy() for t in dataset]
    assert len(out) == 3 and all(o.tolist() == [[1.0, 1.0], [0.0, 0.0]] for o in out)


def test_import_kssd_turns_on_onednn_unless_told_otherwise_or_tensorflow_came_first():
    import subprocess
    import sys

    probe = "import os, sys; {first}import kssd; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}

    def run(first="", **extra):
        result = subprocess.run(
            [sys.executable, "-c", probe.format(first=first)],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return result.stdout.split()[-1]

    assert run() == "1"
    assert run(TF_ENABLE_ONEDNN_OPTS="0") == "0"
    assert run(first="import tensorflow; ") == "None"
