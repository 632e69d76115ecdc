"""The TFLite interpreter kssd runs ``.tflite`` files with: LiteRT when installed, else TensorFlow's.

LiteRT (``pip install ai-edge-litert``, Google's standalone TFLite runtime with the same kernels
and XNNPACK) imports in about 0.1 s against about 5 s for TensorFlow, so a program that only runs
an exported detector (the sticker application on its shipped TFLite file) never imports
TensorFlow. Both interpreters have the same API.

Examples:
    >>> from kssd.tflite_interpreter import interpreter_class
    >>> interpreter_class().__name__
    'Interpreter'
"""

import os


def interpreter_class():
    """``ai_edge_litert.interpreter.Interpreter`` if installed, else ``tf.lite.Interpreter``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def open_interpreter(path=None, *, content=None, num_threads=None):
    """A TFLite interpreter for the file ``path`` (or the flat buffer ``content``).

    Args:
        path: a ``.tflite`` file.
        content: the file's bytes instead of ``path``.
        num_threads: interpreter threads, default None = every CPU core (the interpreter's own
            default uses fewer: 1.7x slower on 2 cores, ``benchmarks/bench_tflite_batch.py``).

    Returns:
        The interpreter (tensors not yet allocated; its signature runners allocate them).
    """
    threads = int(num_threads or os.cpu_count() or 1)
    if content is not None:
        return interpreter_class()(model_content=bytes(content), num_threads=threads)
    return interpreter_class()(model_path=str(path), num_threads=threads)
