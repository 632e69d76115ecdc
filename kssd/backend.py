"""Choose the op namespace for a computation: Keras ops, or TensorFlow inside tf.data.

kssd's box math is written once against Keras' NumPy-like op names. Under the
TensorFlow backend that is simply ``keras.ops``. Under JAX or PyTorch, a tf.data
pipeline still hands TensorFlow tensors to the same code; for those we use the
TensorFlow implementation of the same ops, exactly as Keras' own preprocessing
layers do, so the encoder and augmentations stay graph-mode safe everywhere.
"""

import keras

_TF_OPS = None


class _BackendOps:
    """Look up an op name in a Keras backend's numpy, core, math and nn modules."""

    def __init__(self, backend_module):
        self._modules = [
            getattr(backend_module, name)
            for name in ("numpy", "core", "math", "nn")
            if hasattr(backend_module, name)
        ]

    def __getattr__(self, name):
        for module in self._modules:
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(name)


def _tensorflow_ops():
    global _TF_OPS
    if _TF_OPS is None:
        from kssd.compat import keras_tensorflow_backend

        _TF_OPS = _BackendOps(keras_tensorflow_backend())
    return _TF_OPS


def _is_tf_graph_tensor(x):
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        return False
    return isinstance(x, tf.Tensor)


def ops_for(*tensors):
    """Return ``keras.ops``, or TensorFlow's op set when TF tensors meet a non-TF backend.

    Args:
        *tensors: the inputs of the computation.

    Returns:
        A namespace with Keras op names (``maximum``, ``argmax``, ``take``, ...).

    Examples:
        >>> import numpy as np
        >>> from kssd.backend import ops_for
        >>> ops = ops_for(np.zeros(3))
        >>> float(ops.sum(ops.ones((2,))))
        2.0
    """
    if keras.backend.backend() != "tensorflow" and any(_is_tf_graph_tensor(t) for t in tensors):
        return _tensorflow_ops()
    return keras.ops
