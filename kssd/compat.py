"""Every private TensorFlow / Keras API kssd and kssd_zoo rely on, behind one small function each.

Private modules (``keras.src``, ``tensorflow.python``, ``tensorflow.lite.python``,
``tensorflow.lite.tools``) and underscore attributes of TF/Keras objects can change in any
release. Keeping each access here, with the versions it was checked with and a test in
``tests/test_compat.py`` that exercises it for real, means that an upgrade breaks in one place.

All imports are lazy (inside the functions), so ``import kssd`` does not pull in TFLite, tf2onnx
or the Keras testing harness.

Checked with Keras 3.15.1, TensorFlow 2.21.0, JAX 0.10.2 and tf2onnx 1.17.0.
"""

__all__ = [
    "all_layers",
    "build_from_input_spec",
    "freeze_concrete_function",
    "keras_file_utils",
    "keras_tensorflow_backend",
    "keras_test_case",
    "optimizer_learning_rate",
    "patch_multi_worker_reduction",
    "patch_tf2onnx",
    "set_calibrate_only",
    "tflite_model_from_bytes",
    "tflite_model_to_bytes",
    "tflite_ops_details",
    "tflite_quantize_calibrated",
    "tflite_schema",
]


# --------------------------------------------------------------------------- Keras
def keras_tensorflow_backend():
    """Keras' TensorFlow backend module (``keras.src.backend.tensorflow``), under any backend.

    Replaces ``from keras.src.backend import tensorflow``. Keras has no public way to run its
    op implementations on TensorFlow tensors while another backend (JAX, PyTorch) is active;
    its own preprocessing layers do the same through ``keras.src.utils.backend_utils``. Used by
    :func:`kssd.backend.ops_for` so box math runs inside ``tf.data`` under every backend.
    Checked with Keras 3.15.1 (modules ``numpy``, ``core``, ``math``, ``nn``).

    Examples:
        >>> from kssd.compat import keras_tensorflow_backend
        >>> hasattr(keras_tensorflow_backend().numpy, "concatenate")
        True
    """
    from keras.src.backend import tensorflow as tf_backend

    return tf_backend


def build_from_input_spec(model, epoch_iterator):
    """Build ``model``'s variables, loss and metrics from fit's input *spec*, reading no batch.

    Under a ``tf.distribute`` strategy, Keras' TensorFlow trainer (``_maybe_symbolic_build``,
    checked with Keras 3.15.1) builds the model from the first batch it pulls off fit's
    iterator: that batch is then never trained on (a run under a strategy is one batch off the
    same run on one device, and breaks the exact resume), and with
    ``MultiWorkerMirroredStrategy`` the ``strategy.reduce`` of that nested batch raises
    (keras-team/keras#20585). Only shapes and dtypes are needed, and the dataset's
    ``element_spec`` has them. Returns False when the private attributes it needs
    (``epoch_iterator.data_adapter.get_tf_dataset``, ``model._symbolic_build``) are gone, for
    the caller to fall back to Keras' own build.
    """
    import tensorflow as tf
    from keras.src import tree

    adapter = getattr(epoch_iterator, "data_adapter", None)
    if not hasattr(adapter, "get_tf_dataset") or not hasattr(model, "_symbolic_build"):
        return False
    spec = adapter.get_tf_dataset().element_spec
    if not all(isinstance(s, tf.TensorSpec) for s in tree.flatten(spec)):
        return False
    import keras

    batch = tree.map_structure(lambda s: keras.KerasTensor(tuple(s.shape), s.dtype.name), spec)
    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=batch)
    return True


def patch_multi_worker_reduction():
    """Let Keras' TensorFlow trainer average fit's logged values over several workers.

    With ``MultiWorkerMirroredStrategy``, Keras 3.15.1 reduces each value a train step returns
    (the loss and the metrics, all scalars) with ``strategy.reduce("MEAN", v, axis=0)``, which
    raises for a scalar ("Invalid reduction dimension 0 for input with 0 dimensions"), so
    ``fit`` fails at its first step. The patch reduces those values over the replicas
    (``axis=None``), the mean Keras means, and leaves every other case to Keras. Idempotent.
    """
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "kssd_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        multi_worker = trainer._collective_all_reduce_multi_worker(strategy)
        if multi_worker and reduction in ("auto", "mean"):

            def mean(value):
                if isinstance(value, (tf.Tensor, tf.distribute.DistributedValues)):
                    return strategy.reduce("MEAN", value, axis=None)
                return value

            return tree.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica.kssd_patched = True
    trainer.reduce_per_replica = reduce_per_replica


def all_layers(model, include_self=True):
    """Every layer of ``model``, nested ones included, depth first (``model._flatten_layers()``).

    Replaces the private ``Layer._flatten_layers(include_self=True, recursive=True)``; the public
    ``Model.layers`` only lists the direct children. Checked with Keras 3.15.1.

    Args:
        model: a ``keras.layers.Layer`` (a model is one).
        include_self: also yield ``model`` itself first, default True (as ``_flatten_layers``).

    Returns:
        A list of layers, each once.

    Examples:
        >>> import keras
        >>> from kssd.compat import all_layers
        >>> inner = keras.Sequential([keras.layers.Dense(2, name="d")], name="inner")
        >>> outer = keras.Sequential([inner], name="outer")
        >>> [layer.name for layer in all_layers(outer)]
        ['outer', 'inner', 'd']
    """
    return list(model._flatten_layers(include_self=include_self, recursive=True))


def optimizer_learning_rate(optimizer):
    """The optimizer's learning rate as configured: a schedule object, or the variable.

    Replaces ``optimizer._learning_rate``; the public ``optimizer.learning_rate`` evaluates a
    schedule at the current step instead of returning it. Checked with Keras 3.15.1.

    Examples:
        >>> import keras
        >>> from kssd.compat import optimizer_learning_rate
        >>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
        >>> optimizer_learning_rate(keras.optimizers.SGD(schedule)) is schedule
        True
    """
    return optimizer._learning_rate


def keras_test_case():
    """Keras' own layer test harness class (``keras.src.testing.TestCase``).

    Replaces ``from keras.src.testing import TestCase``: Keras exports no public path to it.
    Only for tests (it imports ``unittest`` / ``absl`` machinery). Checked with Keras 3.15.1.

    Examples:
        >>> from kssd.compat import keras_test_case
        >>> hasattr(keras_test_case(), "run_layer_test")
        True
    """
    from keras.src.testing import TestCase

    return TestCase


def keras_file_utils():
    """The module behind ``keras.utils.get_file`` (``keras.src.utils.file_utils``).

    ``keras.applications`` call ``file_utils.get_file`` through this module, so a test that
    simulates an offline weight download must patch it here (patching ``keras.utils.get_file``
    has no effect on them). Checked with Keras 3.15.1.

    Examples:
        >>> from kssd.compat import keras_file_utils
        >>> callable(keras_file_utils().get_file)
        True
    """
    from keras.src.utils import file_utils

    return file_utils


# --------------------------------------------------------------------------- ONNX export
def freeze_concrete_function(concrete_function):
    """Fold a concrete function's captured variables and constants into a frozen graph.

    Replaces ``tensorflow.python.framework.convert_to_constants.convert_variables_to_constants_v2(
    f, lower_control_flow=False, aggressive_inlining=True)`` (control flow stays functional,
    which tf2onnx needs; there is no public equivalent). Checked with TensorFlow 2.21.0.

    Args:
        concrete_function: a ``tf.function``'s concrete function.

    Returns:
        The frozen ``ConcreteFunction`` (``.graph.as_graph_def()`` for tf2onnx).

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.compat import freeze_concrete_function
        >>> v = tf.Variable(2.0)
        >>> f = tf.function(lambda x: x * v, input_signature=[tf.TensorSpec([], tf.float32)])
        >>> float(freeze_concrete_function(f.get_concrete_function())(tf.constant(3.0))[0])
        6.0
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(
        concrete_function, lower_control_flow=False, aggressive_inlining=True
    )


def patch_tf2onnx():
    """Apply Keras' patch of tf2onnx for current NumPy/TF (``keras.src.export.tf2onnx_lib``).

    tf2onnx 1.17 still uses removed NumPy aliases (``np.object`` etc.); Keras ships the patch
    it uses for its own ONNX export. Checked with Keras 3.15.1 and tf2onnx 1.17.0.

    Returns:
        True if the patch was applied, False if this Keras has no such module.

    Examples:
        >>> from kssd.compat import patch_tf2onnx
        >>> patch_tf2onnx() in (True, False)
        True
    """
    try:
        from keras.src.export.tf2onnx_lib import patch_tf2onnx as patch
    except ImportError:  # pragma: no cover - a Keras without the module
        return False
    patch()
    return True


# --------------------------------------------------------------------------- TFLite
def tflite_model_from_bytes(data):
    """Parse a ``.tflite`` flatbuffer into its mutable object form (``ModelT``).

    Replaces ``tensorflow.lite.tools.flatbuffer_utils.convert_bytearray_to_object``.
    Checked with TensorFlow 2.21.0.

    Examples:
        >>> from kssd.compat import tflite_model_from_bytes
        >>> callable(tflite_model_from_bytes)
        True
    """
    from tensorflow.lite.tools import flatbuffer_utils

    return flatbuffer_utils.convert_bytearray_to_object(bytearray(data))


def tflite_model_to_bytes(model):
    """Serialize a ``ModelT`` (see :func:`tflite_model_from_bytes`) back to flatbuffer bytes.

    Replaces ``tensorflow.lite.tools.flatbuffer_utils.convert_object_to_bytearray``.
    Checked with TensorFlow 2.21.0.

    Examples:
        >>> from kssd.compat import tflite_model_to_bytes
        >>> callable(tflite_model_to_bytes)
        True
    """
    from tensorflow.lite.tools import flatbuffer_utils

    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def tflite_schema():
    """The TFLite flatbuffer schema module (``BuiltinOperator``, ``TensorType``, ...).

    Replaces ``from tensorflow.lite.python import schema_py_generated``. Checked with
    TensorFlow 2.21.0.

    Examples:
        >>> from kssd.compat import tflite_schema
        >>> tflite_schema().TensorType.INT8
        9
    """
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def set_calibrate_only(converter):
    """Make a ``tf.lite.TFLiteConverter`` stop after calibration.

    ``convert()`` then returns the float model with the recorded activation ranges, to be
    quantized later by :func:`tflite_quantize_calibrated`. Replaces
    ``converter._experimental_calibrate_only = True``. Checked with TensorFlow 2.21.0.

    Returns:
        ``converter``.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.compat import set_calibrate_only
        >>> f = tf.function(lambda x: x + 1.0, input_signature=[tf.TensorSpec([1], tf.float32)])
        >>> converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
        >>> set_calibrate_only(converter) is converter
        True
    """
    converter._experimental_calibrate_only = True
    return converter


def tflite_quantize_calibrated(data, denylisted_nodes=()):
    """Quantize a calibrated float ``.tflite`` model, leaving the denylisted nodes float.

    Replaces ``tensorflow.lite.python.convert.mlir_quantize(data, fully_quantize=False,
    denylisted_nodes=...)``, the call ``tf.lite.experimental.QuantizationDebugger
    .get_nondebug_quantized_model`` makes (that public class offers no node denylist without a
    debug run). Checked with TensorFlow 2.21.0.

    Args:
        data: flatbuffer bytes from a converter set up with :func:`set_calibrate_only`.
        denylisted_nodes: names of the output tensors of operators to keep in float.

    Returns:
        The quantized flatbuffer bytes.

    Examples:
        >>> from kssd.compat import tflite_quantize_calibrated
        >>> callable(tflite_quantize_calibrated)
        True
    """
    from tensorflow.lite.python.convert import mlir_quantize

    return mlir_quantize(bytes(data), fully_quantize=False, denylisted_nodes=list(denylisted_nodes))


def tflite_ops_details(interpreter):
    """Operator details of a ``tf.lite.Interpreter`` (dicts with ``op_name``, ``inputs``, ...).

    Replaces ``interpreter._get_ops_details()``. Checked with TensorFlow 2.21.0.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.compat import tflite_ops_details
        >>> f = tf.function(lambda x: x + 1.0, input_signature=[tf.TensorSpec([1], tf.float32)])
        >>> converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
        >>> interpreter = tf.lite.Interpreter(model_content=converter.convert())
        >>> [op["op_name"] for op in tflite_ops_details(interpreter)]
        ['ADD']
    """
    return interpreter._get_ops_details()
