"""Detection data: dataset readers, TFRecord I/O and statistics.

Every reader yields one *record* per image: a dict with ``image_id`` (path relative to
the dataset root), ``image_path``/``image_bytes``, ``height``, ``width``, ``boxes``
(N, 4) float32 absolute xyxy pixels, ``labels`` (N,) int32 class ids 1..C (0 is
background and never appears) and ``attributes`` (dict of (N,) arrays). Readers also
expose ``class_names`` (index i -> class id i + 1) and ``stats`` (a
:class:`~kssd.data.records.DatasetStats`).

Examples:
    >>> import numpy as np
    >>> from kssd.data import make_record, sanitize_boxes
    >>> r = make_record("a.jpg", [[-5, 0, 5, 5]], [1], height=10, width=10)
    >>> sanitize_boxes(r)["boxes"].tolist()
    [[0.0, 0.0, 5.0, 5.0]]
"""

from kssd import _deferred_imports

if _deferred_imports.deferring(__name__):  # the console script, until a name is used
    __getattr__ = _deferred_imports.module_getattr(__name__)

else:
    from kssd.data.coco import COCOReader
    from kssd.data.images import ImageReadError, image_size, load_encoded_image, read_image
    from kssd.data.imglab import ImglabReader

    # The tf.data pipelines (kssd/data/pipeline.py) build on the readers and TFRecord I/O above.
    from kssd.data.pipeline import load_dataset
    from kssd.data.readers import FORMATS, DataSourceError, detect_format, open_reader, read_source
    from kssd.data.records import (
        DatasetStats,
        clip_boxes,
        make_record,
        sanitize_boxes,
        select_boxes,
        validate_record,
    )
    from kssd.data.split import split_items
    from kssd.data.stats import anchor_coverage, box_size_histogram
    from kssd.data.tfrecord import (
        example_to_record,
        list_tfrecord_files,
        make_example,
        parse_example,
        read_dataset_info,
        read_tfrecords,
        write_tfrecords,
    )
    from kssd.data.voc import VOC_CLASSES, VOCReader
    from kssd.data.widerface import WiderFaceReader
    from kssd.data.yolo import YOLOReader

__all__ = [
    "COCOReader",
    "DataSourceError",
    "DatasetStats",
    "FORMATS",
    "ImageReadError",
    "ImglabReader",
    "VOCReader",
    "VOC_CLASSES",
    "WiderFaceReader",
    "YOLOReader",
    "anchor_coverage",
    "box_size_histogram",
    "clip_boxes",
    "detect_format",
    "example_to_record",
    "image_size",
    "list_tfrecord_files",
    "load_dataset",
    "load_encoded_image",
    "make_example",
    "make_record",
    "open_reader",
    "parse_example",
    "read_dataset_info",
    "read_image",
    "read_source",
    "read_tfrecords",
    "sanitize_boxes",
    "select_boxes",
    "split_items",
    "validate_record",
    "write_tfrecords",
]
