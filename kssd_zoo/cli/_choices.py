"""The names ``kssd`` options offer as choices, copied from kssd's registries.

Importing any ``kssd`` module imports TensorFlow, which ``kssd --help`` must not wait for, so the
command line keeps these copies; ``tests/cli/test_cli_manners.py`` checks that each equals the
registry it copies (a new reader, metric, augmentation or export format is added here too).
"""

#: ``kssd.data.readers.READERS.names()``: formats ``kssd data convert`` reads.
READER_FORMATS = ("coco", "imglab", "voc", "widerface", "yolo")

#: ``sorted(kssd.data.readers.formats())``: the readers' formats plus ``tfrecord``.
SOURCE_FORMATS = ("coco", "imglab", "tfrecord", "voc", "widerface", "yolo")

#: ``kssd.data.readers.READERS.where(takes_class_names=True)``: readers that take class names.
CLASS_NAME_FORMATS = ("imglab", "voc", "yolo")

#: ``kssd.boxes.matcher.MATCHING_STRATEGIES``.
MATCHING_STRATEGIES = ("bipartite", "forced")

#: ``kssd.metrics.evaluate.METRICS.names()``.
METRICS = ("coco", "voc07", "voc12", "widerface")

#: ``kssd.data.augment.AUGMENTATIONS.names()``.
AUGMENTATIONS = ("face", "none", "ssd")

#: ``tuple(kssd.export.EXPORT_FORMATS)``, in registration order.
EXPORT_FORMATS = ("saved_model", "tflite", "onnx", "onnx_opencv", "keras")

#: ``kssd.export.tflite.QUANTIZATIONS`` without None (no quantization).
QUANTIZATIONS = ("float16", "int8", "dynamic_int8")

#: ``kssd_zoo.training.distribute.DISTRIBUTE_CHOICES``: values of ``kssd train --distribute``.
DISTRIBUTE_CHOICES = ("none", "mirrored", "multi_worker", "tpu")

#: ``kssd_zoo.training.fit.LR_SCALING``: values of ``kssd train --lr-scaling``.
LR_SCALING = ("none", "linear")

#: ``tuple(kssd_zoo.sticker.detection.QUALITY)``: values of ``kssd sticker --quality``.
STICKER_QUALITY = ("fast", "balanced", "best")
