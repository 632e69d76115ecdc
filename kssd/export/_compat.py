"""Tracing helpers shared by the exporters (TensorFlow only)."""

import contextlib
import re


@contextlib.contextmanager
def tflite_friendly_tracing():
    """Trace graphs without ops that TFLite/ONNX lack, restoring everything afterwards.

    Keras' TensorFlow ``argmax`` adds a sign-bit test (``tf.bitwise.bitwise_and``, for
    ``-0.0``) that is not a TFLite built-in op. :class:`kssd.layers.NonMaxSuppression`
    calls ``ops.argmax`` on scores that are ``> score_threshold`` or ``-inf``, where the
    sign of zero never matters, so plain ``tf.argmax`` gives the same result. The NMS
    layer's cache of compiled functions is emptied on entry and exit so that it is traced
    again with (and later without) this ``argmax``. Workaround until the NMS layer picks
    the best box with ``ops.top_k(remaining, 1)``.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import numpy as tf_numpy

    try:
        import kssd.layers.non_max_suppression as nms_module

        cache = getattr(nms_module, "_COMPILED", None)
    except ImportError:  # pragma: no cover
        cache = None
    original = tf_numpy.argmax

    def plain_argmax(x, axis=None, keepdims=False):
        x = tf.convert_to_tensor(x)
        if axis is None:
            x, axis = tf.reshape(x, [-1]), 0
        y = tf.argmax(x, axis=axis, output_type=tf.int32)
        return tf.expand_dims(y, axis) if keepdims else y

    saved = dict(cache) if cache is not None else None
    if cache is not None:
        cache.clear()
    tf_numpy.argmax = plain_argmax
    try:
        yield
    finally:
        tf_numpy.argmax = original
        if cache is not None:
            cache.clear()
            cache.update(saved)


def layer_names(model):
    """All layer names of a model, nested models included."""
    names = []
    for layer in getattr(model, "layers", []):
        names.append(layer.name)
        names.extend(layer_names(layer))
    return names


def describe_failure(error, model, fmt):
    """A message naming the layer(s) and op(s) that a converter could not export."""
    text = str(error)
    ops = sorted(set(re.findall(r"'tf\.(\w+)' op is neither", text)) | set(re.findall(r"TF Select ops: ([\w, ]+)", text)))
    found = [n for n in layer_names(model) if re.search(rf"(^|[/\"@ ]){re.escape(n)}(_\d+)?[/@\"]", text)]
    # the innermost layer is the most specific; keep the order of the model
    where = f"layer(s) {', '.join(repr(n) for n in found)}" if found else "an unidentified layer"
    what = f" (ops not supported: {', '.join(ops)})" if ops else ""
    first_line = text.strip().splitlines()[0][:300] if text.strip() else type(error).__name__
    return f"cannot export {model.name!r} to {fmt}: {where}{what}. Converter said: {first_line}"
