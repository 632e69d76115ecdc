"""kssd.compat: each private TF/Keras access exercised for real, so an upgrade breaks here."""

import unittest

import keras
import numpy as np
import pytest

from kssd import compat

tf = pytest.importorskip("tensorflow")


# --------------------------------------------------------------------------- Keras
def test_keras_tensorflow_backend_runs_ops_on_tf_graph_tensors():
    backend = compat.keras_tensorflow_backend()

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    def graph(x):  # symbolic TF tensors, whatever the Keras backend
        joined = backend.numpy.concatenate([x, backend.numpy.log(x)], axis=-1)
        return backend.numpy.maximum(joined, 0.0)

    out = graph(tf.constant([[1.0, np.e]]))
    assert isinstance(out, tf.Tensor)
    np.testing.assert_allclose(out.numpy(), [[1.0, np.e, 0.0, 1.0]], rtol=1e-6)
    for name in ("numpy", "core", "math", "nn"):  # what kssd.backend._BackendOps looks in
        assert hasattr(backend, name)


def test_all_layers_walks_nested_models_and_sublayers():
    class Wrapper(keras.layers.Layer):  # a sublayer held as an attribute, not in .layers
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(3, name="hidden_dense")

        def call(self, x):
            return self.inner(x)

    nested = keras.Sequential(
        [keras.layers.Dense(4, name="seq_dense"), Wrapper(name="wrapper")], name="nested"
    )
    x = keras.Input((2,), name="x")
    model = keras.Model(x, keras.layers.BatchNormalization(name="bn")(nested(x)), name="outer")
    names = [layer.name for layer in compat.all_layers(model)]
    assert names[0] == "outer"
    assert {"x", "nested", "seq_dense", "wrapper", "hidden_dense", "bn"} <= set(names)
    assert len(names) == len(set(names))
    assert "hidden_dense" not in [layer.name for layer in model.layers]  # what .layers misses
    assert "outer" not in [layer.name for layer in compat.all_layers(model, include_self=False)]


def test_optimizer_learning_rate_returns_the_schedule_or_the_variable():
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([5], [0.1, 0.01])
    assert compat.optimizer_learning_rate(keras.optimizers.SGD(schedule)) is schedule
    plain = compat.optimizer_learning_rate(keras.optimizers.SGD(0.25))
    assert not isinstance(plain, keras.optimizers.schedules.LearningRateSchedule)
    assert float(keras.ops.convert_to_numpy(plain)) == pytest.approx(0.25)


def test_keras_test_case_runs_a_layer_test():
    case_class = compat.keras_test_case()
    assert issubclass(case_class, unittest.TestCase)

    class Probe(case_class):
        def runTest(self):
            self.run_layer_test(
                keras.layers.Dense,
                init_kwargs={"units": 2},
                input_shape=(3, 4),
                expected_output_shape=(3, 2),
                expected_num_trainable_weights=2,
                run_training_check=False,
                run_mixed_precision_check=False,
            )

    result = unittest.TestResult()
    Probe().run(result)
    assert result.wasSuccessful(), result.errors + result.failures


def test_keras_file_utils_is_what_get_file_and_applications_use(tmp_path):
    file_utils = compat.keras_file_utils()
    assert file_utils.get_file is keras.utils.get_file
    source = tmp_path / "w.bin"
    source.write_bytes(b"abc")
    path = file_utils.get_file("w.bin", source.as_uri(), cache_dir=str(tmp_path / "cache"), cache_subdir="")
    assert open(path, "rb").read() == b"abc"
    from keras.src.applications import mobilenet_v2  # what the monkeypatching tests rely on

    assert mobilenet_v2.file_utils is file_utils


# --------------------------------------------------------------------------- ONNX export
_KEEP_ALIVE = []  # a concrete function does not own its variables


def _scale_function():
    variable = tf.Variable([[2.0, -1.0]])
    _KEEP_ALIVE.append(variable)

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")], autograph=False)
    def scale(x):
        return tf.identity(x * variable + 1.0, name="y")

    return scale.get_concrete_function()


def test_freeze_concrete_function_folds_variables_into_constants():
    frozen = compat.freeze_concrete_function(_scale_function())
    ops = {node.op for node in frozen.graph.as_graph_def().node}
    assert "Const" in ops and not ops & {"VarHandleOp", "ReadVariableOp"}
    assert not frozen.graph.variables
    out = frozen(tf.constant([[3.0, 4.0]]))
    np.testing.assert_allclose(np.asarray(out[0] if isinstance(out, (list, tuple)) else out), [[7.0, -3.0]])


def test_patch_tf2onnx_then_convert_a_frozen_graph():
    tf2onnx = pytest.importorskip("tf2onnx")
    assert compat.patch_tf2onnx() is True
    frozen = compat.freeze_concrete_function(_scale_function())
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(), input_names=["x:0"], output_names=["y:0"], opset=17
    )
    assert {"Mul", "Add"} <= {node.op_type for node in proto.graph.node}
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x:0": np.array([[3.0, 4.0]], "float32")})
    np.testing.assert_allclose(out, [[7.0, -3.0]])


# --------------------------------------------------------------------------- TFLite
def _conv_converter():
    """A tiny conv -> relu -> conv model as a TFLite converter (weights as variables)."""
    rng = np.random.default_rng(0)
    k1 = tf.Variable(rng.normal(size=(3, 3, 3, 4)).astype("float32"))
    k2 = tf.Variable(rng.normal(size=(1, 1, 4, 2)).astype("float32"))
    module = tf.Module()
    module.k1, module.k2 = k1, k2

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32)])
    def net(x):
        h = tf.nn.relu(tf.nn.conv2d(x, k1, 1, "SAME", name="first_conv"))
        return tf.nn.conv2d(h, k2, 1, "SAME", name="second_conv")

    return tf.lite.TFLiteConverter.from_concrete_functions([net.get_concrete_function()], module)


def _float_tflite():
    return _conv_converter().convert()


def test_tflite_model_from_and_to_bytes_round_trip():
    data = _float_tflite()
    model = compat.tflite_model_from_bytes(data)
    assert len(model.subgraphs) == 1 and len(model.subgraphs[0].operators) >= 2
    again = compat.tflite_model_to_bytes(model)
    assert isinstance(again, bytes)
    assert len(compat.tflite_model_from_bytes(again).subgraphs[0].operators) == len(
        model.subgraphs[0].operators
    )
    interpreter = tf.lite.Interpreter(model_content=again)
    interpreter.allocate_tensors()
    interpreter.invoke()  # a valid flatbuffer


def test_tflite_schema_names_the_operators():
    schema = compat.tflite_schema()
    model = compat.tflite_model_from_bytes(_float_tflite())
    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    assert "CONV_2D" in {names[c] for c in codes}
    assert schema.TensorType.INT8 != schema.TensorType.FLOAT32


def test_calibrate_only_then_quantize_with_a_denylist():
    converter = _conv_converter()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(1)
    converter.representative_dataset = lambda: (
        [rng.uniform(0, 1, (1, 8, 8, 3)).astype("float32")] for _ in range(8)
    )
    assert compat.set_calibrate_only(converter) is converter
    calibrated = converter.convert()
    schema = compat.tflite_schema()
    graph = compat.tflite_model_from_bytes(calibrated).subgraphs[0]
    # Calibration only: still float, with recorded ranges.
    assert all(t.type != schema.TensorType.INT8 for t in graph.tensors)
    assert any(t.quantization is not None and t.quantization.min is not None for t in graph.tensors)

    full = compat.tflite_model_from_bytes(compat.tflite_quantize_calibrated(calibrated)).subgraphs[0]
    assert any(t.type == schema.TensorType.INT8 for t in full.tensors)

    last = graph.operators[-1]
    last_name = graph.tensors[last.outputs[0]].name
    last_name = last_name.decode() if isinstance(last_name, bytes) else last_name
    partial = compat.tflite_model_from_bytes(compat.tflite_quantize_calibrated(calibrated, [last_name]))
    types = {
        (t.name.decode() if isinstance(t.name, bytes) else t.name): t.type
        for t in partial.subgraphs[0].tensors
    }
    assert types[last_name] == schema.TensorType.FLOAT32  # the denylisted node stays float
    assert schema.TensorType.INT8 in types.values()


def test_tflite_ops_details_lists_operators():
    interpreter = tf.lite.Interpreter(model_content=_float_tflite())
    details = compat.tflite_ops_details(interpreter)
    assert [d["op_name"] for d in details].count("CONV_2D") == 2
    assert all({"index", "op_name", "inputs", "outputs"} <= set(d) for d in details)
