"""kssd: SSD object detection for Keras 3.

Importing ``kssd`` registers every public layer, loss and schedule for Keras
serialization, so ``keras.saving.load_model(path)`` works after ``import kssd``. Imported before
TensorFlow, it turns on TensorFlow's oneDNN CPU kernels (:mod:`kssd._tensorflow_defaults`). (Under the
``kssd`` console script these imports wait until a name of kssd is used:
:mod:`kssd._deferred_imports`.)

Examples:
    >>> import kssd
    >>> anchors = kssd.anchors.generate_anchors(
    ...     (240, 320), steps=[8, 16, 32, 64],
    ...     min_sizes=[[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]])
    >>> anchors.shape
    (4420, 4)
"""

__version__ = "0.1.0"

from kssd import _deferred_imports, _tensorflow_defaults

_tensorflow_defaults.prefer_onednn()  # before anything imports TensorFlow

if _deferred_imports.deferring(__name__):  # the console script, until a name of kssd is used
    __getattr__ = _deferred_imports.module_getattr(__name__)

else:
    from kssd import anchors, boxes, callbacks, encoding, inference, layers, losses, models  # noqa: F401
