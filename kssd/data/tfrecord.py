"""TFRecord I/O for detection data: writing kssd shards and reading them (or TF OD API files).

kssd shards hold one ``tf.train.Example`` per image with these features:

====================  =========  ==================================================
key                   type       content
====================  =========  ==================================================
``filename``          bytes      the record's ``image_id`` (path relative to the root)
``height``, ``width`` int64      size of the stored (decoded) image in pixels
``classes``           int64 list class ids 1..C, one per box
``x_mins`` ...        float list ``x_mins``, ``y_mins``, ``x_maxes``, ``y_maxes``:
                                 box corners in ABSOLUTE pixels
``image_raw``         bytes      the encoded image (JPEG or PNG)
attribute keys        int64 or   optional, one value per box, e.g. ``difficult``,
                      float list ``iscrowd``, WIDER's ``blur`` ... ``pose``
====================  =========  ==================================================

Files written by the TensorFlow Object Detection API (``image/encoded``,
``image/object/bbox/xmin`` ... with NORMALIZED coordinates,
``image/object/class/label``) are read too: :func:`parse_example` and
:func:`read_tfrecords` detect the schema per example.

Examples:
    >>> import numpy as np
    >>> import cv2
    >>> from kssd.data import make_example, parse_example
    >>> ok, jpeg = cv2.imencode(".jpg", np.zeros((20, 30, 3), np.uint8))
    >>> record = {"image_id": "a.jpg", "height": 20, "width": 30,
    ...           "boxes": np.array([[1, 2, 11, 12]], np.float32),
    ...           "labels": np.array([1], np.int32), "attributes": {}}
    >>> example = make_example(record, jpeg.tobytes())
    >>> parsed = parse_example(example.SerializeToString())
    >>> parsed["image"].shape, parsed["boxes"].numpy().tolist()
    (TensorShape([20, 30, 3]), [[1.0, 2.0, 11.0, 12.0]])
"""

import glob
import itertools
import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

#: Feature keys of the kssd schema that are not box attributes.
KSSD_KEYS = (
    "filename",
    "height",
    "width",
    "classes",
    "x_mins",
    "y_mins",
    "x_maxes",
    "y_maxes",
    "image_raw",
)
#: Feature keys of the TF Object Detection API schema that kssd understands.
OD_API_KEYS = (
    "image/encoded",
    "image/filename",
    "image/source_id",
    "image/height",
    "image/width",
    "image/format",
    "image/object/bbox/xmin",
    "image/object/bbox/ymin",
    "image/object/bbox/xmax",
    "image/object/bbox/ymax",
    "image/object/class/label",
    "image/object/class/text",
)
# OD API per-object attribute keys -> kssd attribute names.
_OD_API_ATTRIBUTES = {
    "image/object/difficult": "difficult",
    "image/object/truncated": "truncated",
    "image/object/is_crowd": "iscrowd",
    "image/object/group_of": "group_of",
}
SCHEMAS = ("auto", "kssd", "od_api")
DATASET_INFO = "dataset.json"


def _int64(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _float(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def make_example(record, image_bytes):
    """Build the ``tf.train.Example`` of one record in the kssd schema.

    Args:
        record: a record dict (see :mod:`kssd.data`); uses ``image_id``, ``height``,
            ``width``, ``boxes`` (N, 4) absolute xyxy pixels, ``labels`` (N,) and the
            optional ``attributes`` dict of (N,) arrays (integer arrays are stored as
            int64 lists, others as float lists, under the attribute's name).
        image_bytes: the encoded image (JPEG or PNG bytes) stored as ``image_raw``.

    Returns:
        A ``tf.train.Example``.

    Raises:
        ValueError: when ``height``/``width`` are missing, when boxes/labels/attributes
            disagree in length, or an attribute name collides with a schema key.

    Examples:
        >>> import numpy as np
        >>> from kssd.data import make_example
        >>> ex = make_example({"image_id": "x.jpg", "height": 4, "width": 5,
        ...                    "boxes": np.zeros((0, 4), np.float32),
        ...                    "labels": np.zeros((0,), np.int32)}, b"...")
        >>> ex.features.feature["width"].int64_list.value[0]
        5
    """
    image_id = record.get("image_id")
    height, width = record.get("height"), record.get("width")
    if height is None or width is None:
        raise ValueError(f"record {image_id!r}: height and width are needed to write a TFRecord")
    boxes = np.asarray(record.get("boxes", np.zeros((0, 4))), np.float32).reshape(-1, 4)
    labels = np.asarray(record.get("labels", np.zeros((0,))), np.int64).reshape(-1)
    if len(boxes) != len(labels):
        raise ValueError(f"record {image_id!r}: {len(boxes)} boxes but {len(labels)} labels")
    feature = {
        "filename": _bytes([str(image_id).encode("utf-8")]),
        "height": _int64([height]),
        "width": _int64([width]),
        "classes": _int64(labels),
        "x_mins": _float(boxes[:, 0]),
        "y_mins": _float(boxes[:, 1]),
        "x_maxes": _float(boxes[:, 2]),
        "y_maxes": _float(boxes[:, 3]),
        "image_raw": _bytes([bytes(image_bytes)]),
    }
    for name, values in (record.get("attributes") or {}).items():
        values = np.asarray(values).reshape(-1)
        if name in KSSD_KEYS:
            raise ValueError(f"record {image_id!r}: attribute name {name!r} is a reserved key")
        if len(values) != len(boxes):
            raise ValueError(
                f"record {image_id!r}: attribute {name!r} has {len(values)} values for {len(boxes)} boxes"
            )
        if np.issubdtype(values.dtype, np.integer) or values.dtype == bool:
            feature[name] = _int64(values)
        else:
            feature[name] = _float(values)
    return tf.train.Example(features=tf.train.Features(feature=feature))


def shard_paths(out_dir, split, num_shards):
    """File names of a split's shards: ``<split>-00000-of-00004.tfrecord`` ...

    Args:
        out_dir: output directory.
        split: split name, e.g. ``"train"``.
        num_shards: number of shards (>= 1).

    Returns:
        A list of ``num_shards`` paths (str).

    Examples:
        >>> from kssd.data.tfrecord import shard_paths
        >>> [p.split("/")[-1] for p in shard_paths("out", "val", 2)]
        ['val-00000-of-00002.tfrecord', 'val-00001-of-00002.tfrecord']
    """
    if int(num_shards) < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    return [
        os.path.join(str(out_dir), f"{split}-{i:05d}-of-{int(num_shards):05d}.tfrecord")
        for i in range(int(num_shards))
    ]


def existing_outputs(out_dir, split):
    """Shards of ``split`` already present in ``out_dir`` (sorted list of paths)."""
    return sorted(glob.glob(os.path.join(str(out_dir), f"{glob.escape(split)}-*-of-*.tfrecord")))


def write_tfrecords(
    records,
    out_dir,
    split,
    num_shards=1,
    *,
    overwrite=False,
    class_names=None,
    source_format=None,
    stats=None,
    source_stats=None,
    progress=False,
    total=None,
):
    """Write records as sharded kssd TFRecords, skipping and counting bad samples.

    Each record's image is loaded with :func:`kssd.data.images.load_encoded_image`
    (original bytes when they decode cleanly; re-encoded as JPEG when the file needs
    conversion, e.g. CMYK or an EXIF rotation). Unreadable images are skipped and
    counted, never abort the run. Boxes are clipped to the decoded image and boxes
    with no area left are dropped; both are counted. Examples go to the shards in
    turn (record ``i`` into shard ``i % num_shards``). At the end ``dataset.json`` in
    ``out_dir`` is created or updated with this split's counts.

    Args:
        records: iterable of record dicts (``image_bytes`` or ``image_path`` set).
        out_dir: output directory (created if missing).
        split: split name used in the shard names.
        num_shards: number of shards, default 1.
        overwrite: replace existing shards of this split, default False (then an
            existing output raises ``FileExistsError``).
        class_names: list of class names stored in ``dataset.json``, default None.
        source_format: name of the source format stored in ``dataset.json``, default None.
        stats: a :class:`kssd.data.records.DatasetStats` to add the counts to, default
            None (a new one).
        source_stats: the reader's ``DatasetStats``, default None; its skipped/dropped/
            clipped counts (taken after the records were consumed, so problems met while
            iterating count too) are added to the result and to ``dataset.json``.
        progress: show a tqdm progress bar, default False.
        total: number of records for the progress bar, default None (``len(records)``
            when available).

    Returns:
        The :class:`kssd.data.records.DatasetStats` of what was written.

    Examples:
        >>> import tempfile, numpy as np, cv2
        >>> from kssd.data import write_tfrecords, read_tfrecords
        >>> jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
        >>> rec = {"image_id": "a.jpg", "image_bytes": jpeg,
        ...        "boxes": np.array([[1, 1, 4, 4]], np.float32),
        ...        "labels": np.array([1], np.int32), "attributes": {}}
        >>> out = tempfile.mkdtemp()
        >>> stats = write_tfrecords([rec], out, "train")
        >>> stats.images_written, [r["boxes"].tolist() for r in read_tfrecords(out)]
        (1, [[[1.0, 1.0, 4.0, 4.0]]])
    """
    from kssd.data.images import ImageReadError, load_encoded_image
    from kssd.data.records import DatasetStats, sanitize_boxes

    out_dir = Path(out_dir)
    stats = stats if stats is not None else DatasetStats()
    existing = existing_outputs(out_dir, split)
    if existing and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds {len(existing)} shard(s) of split {split!r} "
            f"(e.g. {os.path.basename(existing[0])}); pass overwrite=True (--overwrite) "
            "to replace them"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in existing:
        os.remove(path)
    paths = shard_paths(out_dir, split, num_shards)
    if total is None and hasattr(records, "__len__"):
        total = len(records)
    iterator = records
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(records, total=total, desc=f"{split}", unit="img")
        iterator = bar
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    written_per_shard = [0] * len(writers)
    index = 0
    try:
        for record in iterator:
            stats.images_seen += 1
            try:
                encoded, height, width, note = load_encoded_image(
                    record.get("image_bytes")
                    if record.get("image_bytes") is not None
                    else record.get("image_path")
                )
            except ImageReadError as error:
                stats.skip_image(error.reason, record.get("image_id"))
                continue
            if note:
                stats.count("images re-encoded as JPEG: " + note)
            record = sanitize_boxes(dict(record, height=height, width=width), stats)
            example = make_example(record, encoded)
            shard = index % len(writers)
            writers[shard].write(example.SerializeToString())
            written_per_shard[shard] += 1
            index += 1
            stats.add_written(record)
    finally:
        for writer in writers:
            writer.close()
        if bar is not None:
            bar.close()
    if source_stats is not None:
        stats.merge_issues(source_stats)
    _update_dataset_info(out_dir, split, stats, paths, written_per_shard, class_names, source_format)
    return stats


def _update_dataset_info(out_dir, split, stats, paths, per_shard, class_names, source_format):
    info_path = Path(out_dir) / DATASET_INFO
    info = {}
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            info = {}
    if class_names is not None:
        info["class_names"] = list(class_names)
    if source_format is not None:
        info["format"] = source_format
    info.setdefault("schema", "kssd")
    info.setdefault("splits", {})
    info["splits"][split] = {
        "shards": [os.path.basename(p) for p in paths],
        "examples_per_shard": per_shard,
        **stats.as_dict(),
    }
    info_path.write_text(json.dumps(info, indent=2, sort_keys=True))


def read_dataset_info(path):
    """Read ``dataset.json`` of a kssd TFRecord directory (or the file itself).

    Args:
        path: the output directory of a conversion, or the ``dataset.json`` path.

    Returns:
        The decoded dict (``class_names``, ``format``, ``splits``), or None when absent.

    Examples:
        >>> from kssd.data.tfrecord import read_dataset_info
        >>> read_dataset_info("/nonexistent") is None
        True
    """
    path = Path(path)
    if path.is_dir():
        path = path / DATASET_INFO
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _feature_spec(schema, attribute_keys):
    spec = {}
    if schema in ("kssd", "auto"):
        spec.update(
            {
                "filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
                "height": tf.io.FixedLenFeature([], tf.int64, default_value=0),
                "width": tf.io.FixedLenFeature([], tf.int64, default_value=0),
                "classes": tf.io.VarLenFeature(tf.int64),
                "x_mins": tf.io.VarLenFeature(tf.float32),
                "y_mins": tf.io.VarLenFeature(tf.float32),
                "x_maxes": tf.io.VarLenFeature(tf.float32),
                "y_maxes": tf.io.VarLenFeature(tf.float32),
                "image_raw": tf.io.FixedLenFeature([], tf.string, default_value=""),
            }
        )
        for key, dtype in attribute_keys.items():
            spec[key] = tf.io.VarLenFeature(dtype)
    if schema in ("od_api", "auto"):
        spec.update(
            {
                "image/encoded": tf.io.FixedLenFeature([], tf.string, default_value=""),
                "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
                "image/height": tf.io.FixedLenFeature([], tf.int64, default_value=0),
                "image/width": tf.io.FixedLenFeature([], tf.int64, default_value=0),
                "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
                "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
                "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
                "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
                "image/object/class/label": tf.io.VarLenFeature(tf.int64),
            }
        )
    return spec


def parse_example(serialized, schema="auto", attribute_keys=()):
    """Parse one serialized example into image, boxes and labels (graph-mode safe).

    Works inside ``tf.data.Dataset.map``. kssd examples and TF Object Detection API
    examples are both understood; with ``schema="auto"`` each example is read with
    whichever keys it holds (the OD API's normalized coordinates are scaled by the
    stored image size).

    Args:
        serialized: scalar string tensor (or bytes) holding a ``tf.train.Example``.
        schema: ``"auto"`` (default), ``"kssd"`` or ``"od_api"``.
        attribute_keys: per-box attributes stored in kssd examples to return too,
            default ``()``: a sequence of names (stored as int64 lists, like every
            attribute the kssd readers produce) or a dict name -> ``tf.int64`` /
            ``tf.float32``. They come back under ``"attributes"`` as int32 (N,) or
            float32 (N,) (a key missing from an example gives an empty tensor).

    Returns:
        Dict with ``"image"`` uint8 (H, W, 3) RGB, ``"boxes"`` float32 (N, 4) absolute
        xyxy pixels, ``"labels"`` int32 (N,), ``"filename"`` string scalar, plus
        ``"attributes"`` (dict of (N,) tensors) when ``attribute_keys`` is given.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data import parse_example
        >>> ds = tf.data.TFRecordDataset(["train-00000-of-00001.tfrecord"])
        >>> ds = ds.map(parse_example)  # elements: {"image", "boxes", "labels", "filename"}
    """
    if schema not in SCHEMAS:
        raise ValueError(f"schema must be one of {SCHEMAS}, got {schema!r}")
    if isinstance(attribute_keys, dict):
        attribute_keys = {k: tf.as_dtype(v) for k, v in attribute_keys.items()}
    else:
        attribute_keys = {k: tf.int64 for k in attribute_keys}
    for key, dtype in attribute_keys.items():
        if dtype not in (tf.int64, tf.float32):
            raise ValueError(f"attribute {key!r}: dtype must be tf.int64 or tf.float32")
    if schema == "od_api" and attribute_keys:
        raise ValueError("attribute_keys are only stored in kssd-schema examples")
    parsed = tf.io.parse_single_example(serialized, _feature_spec(schema, attribute_keys))

    def dense(key, dtype=None):
        value = tf.sparse.to_dense(parsed[key])
        return value if dtype is None else tf.cast(value, dtype)

    encoded_parts, boxes_parts, label_parts, name_parts = [], [], [], []
    if schema in ("kssd", "auto"):
        encoded_parts.append(parsed["image_raw"])
        name_parts.append(parsed["filename"])
        boxes_parts.append(
            tf.stack([dense("x_mins"), dense("y_mins"), dense("x_maxes"), dense("y_maxes")], axis=-1)
        )
        label_parts.append(dense("classes", tf.int32))
    if schema in ("od_api", "auto"):
        # In "auto" mode a kssd example has no OD API keys (empty lists, "" defaults)
        # and vice versa, so concatenating the two readings selects the present one.
        encoded_parts.append(parsed["image/encoded"])
        name_parts.append(parsed["image/filename"])
        scale = tf.cast(tf.stack([parsed["image/width"], parsed["image/height"]] * 2), tf.float32)
        boxes_parts.append(
            tf.stack(
                [
                    dense("image/object/bbox/xmin"),
                    dense("image/object/bbox/ymin"),
                    dense("image/object/bbox/xmax"),
                    dense("image/object/bbox/ymax"),
                ],
                axis=-1,
            )
            * scale
        )
        label_parts.append(dense("image/object/class/label", tf.int32))
    if len(encoded_parts) == 1:
        encoded, filename = encoded_parts[0], name_parts[0]
    else:
        has_kssd = tf.strings.length(encoded_parts[0]) > 0
        encoded = tf.where(has_kssd, encoded_parts[0], encoded_parts[1])
        filename = tf.where(tf.strings.length(name_parts[0]) > 0, name_parts[0], name_parts[1])
    boxes = tf.reshape(tf.concat(boxes_parts, axis=0), [-1, 4])
    labels = tf.concat(label_parts, axis=0)
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.ensure_shape(image, [None, None, 3])
    result = {"image": image, "boxes": boxes, "labels": labels, "filename": filename}
    if attribute_keys:
        result["attributes"] = {
            key: dense(key, tf.int32 if dtype == tf.int64 else None) for key, dtype in attribute_keys.items()
        }
    return result


def _list_tfrecord_files(pattern):
    if isinstance(pattern, (list, tuple)):
        files = []
        for item in pattern:
            files.extend(_list_tfrecord_files(item))
        return files
    pattern = str(pattern)
    if os.path.isdir(pattern):
        files = sorted(glob.glob(os.path.join(pattern, "*.tfrecord")))
        files += sorted(glob.glob(os.path.join(pattern, "*.tfrecord-*")))
        if not files:
            raise FileNotFoundError(f"no *.tfrecord files in directory {pattern}")
        return files
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no TFRecord file matches {pattern!r}")
    return files


def shard_summary(files):
    """``(examples, class_names)`` of kssd TFRecord shards, read from their ``dataset.json``.

    Either is None when unknown: no ``dataset.json`` beside the files (e.g. TF Object
    Detection API files), files from several folders, or a file it does not list.

    Examples:
        >>> from kssd.data.tfrecord import shard_summary
        >>> shard_summary(["/nonexistent/train-00000-of-00001.tfrecord"])
        (None, None)
    """
    folders = {os.path.dirname(os.path.abspath(f)) for f in files}
    try:
        info = read_dataset_info(folders.pop()) if len(folders) == 1 else None
    except ValueError:  # a damaged dataset.json: the sizes are unknown
        info = None
    if not info:
        return None, None
    per_shard = {}
    for split in (info.get("splits") or {}).values():
        for name, count in zip(split.get("shards", []), split.get("examples_per_shard", [])):
            per_shard[name] = int(count)
    names = [os.path.basename(f) for f in files]
    examples = sum(per_shard[n] for n in names) if all(n in per_shard for n in names) else None
    return examples, info.get("class_names")


def list_tfrecord_files(pattern):
    """Resolve a TFRecord source to a sorted list of files.

    Args:
        pattern: a file path, a glob pattern, a directory (its ``*.tfrecord`` files)
            or a list of those.

    Returns:
        List of paths (str).

    Raises:
        FileNotFoundError: when nothing matches.

    Examples:
        >>> from kssd.data.tfrecord import list_tfrecord_files
        >>> list_tfrecord_files("/nonexistent/*.tfrecord")
        Traceback (most recent call last):
        ...
        FileNotFoundError: no TFRecord file matches '/nonexistent/*.tfrecord'
    """
    return _list_tfrecord_files(pattern)


def _values(feature_map, key):
    if key not in feature_map:
        return None
    feature = feature_map[key]
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def example_to_record(example):
    """Convert a ``tf.train.Example`` (kssd or OD API schema) to a record dict.

    Args:
        example: a ``tf.train.Example`` or its serialized bytes.

    Returns:
        A record with ``image_bytes`` set, ``boxes`` in absolute xyxy pixels and the
        per-box attributes found in the example.

    Examples:
        >>> import numpy as np
        >>> from kssd.data import make_example
        >>> from kssd.data.tfrecord import example_to_record
        >>> ex = make_example({"image_id": "x.jpg", "height": 4, "width": 5,
        ...     "boxes": np.array([[0, 0, 2, 2]], np.float32),
        ...     "labels": np.array([3], np.int32),
        ...     "attributes": {"difficult": np.array([1])}}, b"jpeg")
        >>> r = example_to_record(ex.SerializeToString())
        >>> r["labels"].tolist(), r["attributes"]["difficult"].tolist()
        ([3], [1])
    """
    if isinstance(example, (bytes, bytearray)):
        example = tf.train.Example.FromString(bytes(example))
    fmap = example.features.feature
    if "image_raw" in fmap or "x_mins" in fmap:
        n = len(_values(fmap, "classes") or [])
        coords = [
            np.asarray(_values(fmap, k) or [], np.float32) for k in ("x_mins", "y_mins", "x_maxes", "y_maxes")
        ]
        boxes = np.stack(coords, axis=-1).reshape(-1, 4) if n else np.zeros((0, 4), np.float32)
        labels = np.asarray(_values(fmap, "classes") or [], np.int32)
        attributes = {}
        for key in fmap:
            if key in KSSD_KEYS:
                continue
            values = _values(fmap, key)
            if values is not None and len(values) == len(labels):
                kind = fmap[key].WhichOneof("kind")
                if kind == "int64_list":
                    attributes[key] = np.asarray(values, np.int64)
                elif kind == "float_list":
                    attributes[key] = np.asarray(values, np.float32)
        return {
            "image_id": (_values(fmap, "filename") or [b""])[0].decode("utf-8"),
            "image_path": None,
            "image_bytes": (_values(fmap, "image_raw") or [b""])[0],
            "height": int((_values(fmap, "height") or [0])[0]) or None,
            "width": int((_values(fmap, "width") or [0])[0]) or None,
            "boxes": boxes.astype(np.float32),
            "labels": labels,
            "attributes": attributes,
        }
    if "image/encoded" in fmap:
        height = int((_values(fmap, "image/height") or [0])[0])
        width = int((_values(fmap, "image/width") or [0])[0])
        coords = [
            np.asarray(_values(fmap, f"image/object/bbox/{k}") or [], np.float32)
            for k in ("xmin", "ymin", "xmax", "ymax")
        ]
        boxes = np.stack(coords, axis=-1).reshape(-1, 4)
        if len(boxes) and (not height or not width):
            raise ValueError("OD API example has boxes but no image/height or image/width")
        boxes = boxes * np.array([width, height, width, height], np.float32)
        labels = np.asarray(_values(fmap, "image/object/class/label") or [], np.int32)
        attributes = {}
        for key, name in _OD_API_ATTRIBUTES.items():
            values = _values(fmap, key)
            if values is not None and len(values) == len(labels):
                attributes[name] = np.asarray(values, np.int64)
        name = (_values(fmap, "image/filename") or _values(fmap, "image/source_id") or [b""])[0]
        return {
            "image_id": name.decode("utf-8"),
            "image_path": None,
            "image_bytes": (_values(fmap, "image/encoded") or [b""])[0],
            "height": height or None,
            "width": width or None,
            "boxes": boxes.astype(np.float32),
            "labels": labels,
            "attributes": attributes,
        }
    raise ValueError(
        "example holds neither kssd keys (image_raw, x_mins, ...) nor TF Object Detection "
        f"API keys (image/encoded, ...); its keys are {sorted(fmap)}"
    )


def read_tfrecords(pattern):
    """Iterate over the records stored in TFRecord files (kssd or OD API schema).

    Plain Python iteration for tools and tests; for training use
    ``tf.data.TFRecordDataset(files).map(parse_example)``.

    Args:
        pattern: a file, glob pattern, directory (its ``*.tfrecord`` files) or a list.

    Returns:
        A generator of record dicts (``image_bytes`` set, boxes absolute xyxy pixels).

    Examples:
        >>> from kssd.data import read_tfrecords
        >>> records = read_tfrecords("train-*.tfrecord")  # doctest: +SKIP
    """
    files = _list_tfrecord_files(pattern)
    for path in files:
        records = iter(tf.data.TFRecordDataset(path))
        for index in itertools.count():
            try:
                raw = next(records)
            except StopIteration:
                break
            except tf.errors.DataLossError:
                raise ValueError(
                    f"{path}: record {index} is corrupted (a damaged or truncated file, or not a TFRecord file)"
                ) from None
            try:
                yield example_to_record(raw.numpy())
            except ValueError as error:
                raise ValueError(f"{path}: record {index}: {error}") from None
