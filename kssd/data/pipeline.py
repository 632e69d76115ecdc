"""tf.data training/evaluation pipelines: read -> decode -> augment -> resize -> encode -> batch.

:func:`load_dataset` turns any kssd data source (TFRecord files, a reader, a list of records,
in-memory arrays) into ``(images, y_true)`` batches for ``model.fit``:

* ``images``: float32 (B, H, W, 3), RGB, 0..255 (the model normalizes);
* ``y_true``: float32 (B, A, 5), the targets of :func:`kssd.encoding.encode_targets`.

Determinism: every element gets its own stateless seed from a seeded ``tf.data.Dataset.random``
stream zipped with the data, and the augmentations use only stateless random ops, so with
``deterministic=True`` the same ``seed`` gives the same batches, however many threads run the map.
"""

import glob
import os
import warnings

import numpy as np
import tensorflow as tf

from kssd.boxes.coder import DEFAULT_BOX_CODING, DEFAULT_VARIANCES, check_box_coding
from kssd.boxes.matcher import DEFAULT_MATCH_THRESHOLD, DEFAULT_MATCHING, check_matching
from kssd.data.augment import get_augmentation
from kssd.data.augment_geometric import resize_with_pad
from kssd.encoding import encode_targets

AUTOTUNE = tf.data.AUTOTUNE

#: Default chain when neither the call nor the model names one.
DEFAULT_AUGMENTATION = "ssd"


def _model_attr(model, name, default=None):
    return default if model is None else getattr(model, name, default)


def _as_size(value, name):
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) <= 0:
        raise ValueError(f"`{name}` must be (height, width) positive ints, got {value!r}")
    return value


# ----------------------------------------------------------------------------------- sources


def _tfrecord_files(source, split):
    from kssd.data.tfrecord import list_tfrecord_files

    items = source if isinstance(source, (list, tuple)) else [source]
    files = []
    for item in items:
        item = os.fspath(item)
        if split is not None and os.path.isdir(item):
            found = sorted(glob.glob(os.path.join(item, f"{split}-*.tfrecord")))
            if not found:
                raise FileNotFoundError(
                    f"no '{split}-*.tfrecord' shards in directory {item} (split={split!r})"
                )
            files.extend(found)
        else:
            files.extend(list_tfrecord_files(item))
    return files


def _is_path_like(value):
    return isinstance(value, (str, os.PathLike))


def _records_from(source):
    """A list of record dicts from a reader instance or an iterable of records."""
    if isinstance(source, dict):
        raise TypeError("a single record was given: pass a list of records")
    records = list(source)
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise TypeError(
                f"record {index} is a {type(record).__name__}, expected a dict "
                "with 'boxes', 'labels' and 'image'/'image_path'/'image_bytes'"
            )
        if (
            record.get("image") is None
            and record.get("image_path") is None
            and record.get("image_bytes") is None
        ):
            raise ValueError(
                f"record {index} ({record.get('image_id')!r}) has no 'image', 'image_path' or 'image_bytes'"
            )
    return records


def _ragged_boxes(records):
    boxes = [np.asarray(r.get("boxes", np.zeros((0, 4))), np.float32).reshape(-1, 4) for r in records]
    labels = [np.asarray(r.get("labels", np.zeros((0,))), np.int32).reshape(-1) for r in records]
    for r, b, lab in zip(records, boxes, labels):
        if len(b) != len(lab):
            raise ValueError(f"record {r.get('image_id')!r}: {len(b)} boxes but {len(lab)} labels")
    lengths = [len(b) for b in boxes]
    rb = tf.RaggedTensor.from_row_lengths(np.concatenate(boxes + [np.zeros((0, 4), np.float32)]), lengths)
    rl = tf.RaggedTensor.from_row_lengths(np.concatenate(labels + [np.zeros((0,), np.int32)]), lengths)
    return rb, rl


def upright(image, orientation):
    """Apply an EXIF orientation (1..8) to an image tensor ``(H, W, C)``, as viewers show it.

    Examples:
        >>> import numpy as np
        >>> from kssd.data.pipeline import upright
        >>> image = np.arange(6, dtype="uint8").reshape(2, 3, 1)
        >>> upright(image, 6).numpy()[..., 0].tolist()  # rotated 90 degrees clockwise
        [[3, 0], [4, 1], [5, 2]]
    """
    image = tf.convert_to_tensor(image)
    transposed = lambda: tf.transpose(image, [1, 0, 2])  # noqa: E731
    branches = [
        lambda: image,  # 1: as stored
        lambda: tf.reverse(image, [1]),  # 2: mirrored left-right
        lambda: tf.reverse(image, [0, 1]),  # 3: rotated 180
        lambda: tf.reverse(image, [0]),  # 4: mirrored top-bottom
        transposed,  # 5: mirrored along the main diagonal
        lambda: tf.reverse(transposed(), [1]),  # 6: rotated 90 clockwise
        lambda: tf.reverse(transposed(), [0, 1]),  # 7: mirrored along the other diagonal
        lambda: tf.reverse(transposed(), [0]),  # 8: rotated 90 counter-clockwise
    ]
    index = tf.clip_by_value(tf.cast(orientation, tf.int32) - 1, 0, 7)
    return tf.switch_case(index, branches)


def _decode_encoded(path, data, orientation):
    raw = tf.cond(tf.strings.length(path) > 0, lambda: tf.io.read_file(path), lambda: data)
    image = tf.io.decode_image(raw, channels=3, expand_animations=False)
    return tf.ensure_shape(upright(image, orientation), [None, None, 3])


def sanitize_records(records):
    """Clip and drop unusable boxes of every record, counting each by reason.

    The rules of :func:`kssd.data.records.sanitize_boxes` (non-finite coordinates, outside
    the image, zero width or height; partly outside: clipped). Records without a known image
    size get only the size and finiteness checks here; the pipeline clips to the decoded image.

    Returns:
        ``(records, stats)``: cleaned copies and a :class:`kssd.data.records.DatasetStats`
        holding ``boxes_dropped`` / ``boxes_clipped`` by reason.

    Examples:
        >>> from kssd.data.pipeline import sanitize_records
        >>> boxes = [[1, 1, 5, 5], [float("nan"), 0, 3, 3], [2, 2, 2, 6]]
        >>> records, stats = sanitize_records([{"boxes": boxes, "labels": [1, 1, 1]}])
        >>> len(records[0]["boxes"]), stats.boxes_dropped
        (1, {'non-finite coordinates': 1, 'zero width or height': 1})
    """
    from kssd.data.records import DatasetStats, sanitize_boxes

    stats = DatasetStats()
    cleaned = []
    for record in records:
        record = dict(record)
        record.setdefault("boxes", np.zeros((0, 4), np.float32))
        record.setdefault("labels", np.zeros((0,), np.int32))
        if record.get("image") is not None and "height" not in record:
            record["height"], record["width"] = np.asarray(record["image"]).shape[:2]
        cleaned.append(sanitize_boxes(record, stats))
    return cleaned, stats


def describe_box_changes(stats):
    """One line: how many boxes were dropped and clipped, by reason ("" when none)."""
    parts = [f"{count} {reason}" for reason, count in stats.boxes_dropped.items()]
    clipped = [f"{count} {reason}" for reason, count in stats.boxes_clipped.items()]
    text = f"dropped {stats.num_boxes_dropped} box(es) ({', '.join(parts)})" if parts else ""
    if clipped:
        text += ("; " if text else "") + f"clipped {stats.num_boxes_clipped} ({', '.join(clipped)})"
    return text


def prepare_encoded_records(records):
    """Check every encoded image of ``records`` once; keep the readable ones, upright.

    Each kept record gets ``orientation`` (its EXIF orientation, applied after decoding, so
    boxes drawn on the photo as viewers show it fit; the one rule of kssd, as in
    :func:`kssd.data.images.read_image`). Images TensorFlow cannot decode as OpenCV does
    (CMYK JPEG, GIF, WebP, TIFF) are re-encoded in memory. Records already prepared (with
    ``orientation``) and in-memory images pass through.

    Args:
        records: record dicts.

    Returns:
        ``(kept, problems)``: the usable records, and one
        :class:`kssd.data.images.ImageReadError` per skipped record (its ``path`` and
        ``reason`` name the file and what is wrong).

    Examples:
        >>> from kssd.data.pipeline import prepare_encoded_records
        >>> kept, problems = prepare_encoded_records([{"image_bytes": b"not an image", "boxes": []}])
        >>> kept, [p.reason for p in problems]
        ([], ['unknown image format'])
    """
    from kssd.data.images import ImageReadError, check_encoded_image, load_encoded_image

    kept, problems = [], []
    for record in records:
        if record.get("image") is not None or "orientation" in record:
            kept.append(record)
            continue
        source = record.get("image_path")
        source = record.get("image_bytes") if source is None else source
        try:
            data, orientation = check_encoded_image(source)
            if orientation is None:
                data = load_encoded_image(data)[0]
                kept.append({**record, "image_path": None, "image_bytes": data, "orientation": 1})
                continue
        except ImageReadError as error:
            if record.get("image_path") is None:  # name the record, not "<bytes>"
                error = ImageReadError(record.get("image_id", "<bytes>"), error.reason, error.detail)
            problems.append(error)
            continue
        kept.append({**record, "orientation": orientation})
    return kept, problems


def _dataset_from_records(records):
    """(dataset of raw elements, decode function -> (image uint8, boxes, labels))."""
    if not records:
        raise ValueError("the data source holds no records")
    boxes, labels = _ragged_boxes(records)
    in_memory = [r.get("image") is not None for r in records]
    if all(in_memory):
        images = [np.asarray(r["image"]) for r in records]
        for r, im in zip(records, images):
            if im.ndim != 3 or im.shape[-1] != 3:
                raise ValueError(f"record {r.get('image_id')!r}: 'image' must be (H, W, 3), got {im.shape}")
            if im.dtype.kind == "f" and not np.isfinite(im).all():
                raise ValueError(f"record {r.get('image_id')!r}: 'image' holds NaN or infinite values")
        if len({im.shape for im in images}) == 1:
            ds = tf.data.Dataset.from_tensor_slices((np.stack(images).astype(np.uint8), boxes, labels))
        else:

            def generate():
                for im, b, lab in zip(images, boxes, labels):
                    yield im.astype(np.uint8), b.numpy(), lab.numpy()

            ds = tf.data.Dataset.from_generator(
                generate,
                output_signature=(
                    tf.TensorSpec((None, None, 3), tf.uint8),
                    tf.TensorSpec((None, 4), tf.float32),
                    tf.TensorSpec((None,), tf.int32),
                ),
            )
        return ds, lambda image, b, lab: (image, b, lab)
    if any(in_memory):
        raise ValueError("records mix in-memory 'image' arrays with encoded images; use one kind")
    paths = [os.fspath(r["image_path"]) if r.get("image_path") is not None else "" for r in records]
    data = [b"" if r.get("image_path") is not None else bytes(r["image_bytes"]) for r in records]
    orientations = np.array([int(r.get("orientation") or 1) for r in records], np.int32)
    ds = tf.data.Dataset.from_tensor_slices((paths, data, orientations, boxes, labels))
    return ds, lambda path, raw, orientation, b, lab: (_decode_encoded(path, raw, orientation), b, lab)


def _records_from_arrays(source, bounding_box_format):
    """In-memory arrays ``(images, {"boxes", "labels"})`` or Keras-style dict -> records."""
    from kssd.boxes.formats import convert_format

    if isinstance(source, dict):
        images, targets = source["images"], source["bounding_boxes"]
    else:
        images, targets = source
    boxes = targets["boxes"]
    labels = targets["labels"] if "labels" in targets else targets["classes"]
    if len(images) != len(boxes) or len(images) != len(labels):
        raise ValueError(
            f"in-memory source: {len(images)} images but {len(boxes)} box sets and {len(labels)} label sets"
        )
    records = []
    for index, (image, b, lab) in enumerate(zip(images, boxes, labels)):
        image = np.asarray(image)
        b = np.asarray(b, np.float32).reshape(-1, 4)
        lab = np.asarray(lab).reshape(-1)
        keep = lab > 0  # Keras pads with -1; 0 is background: both are padding here
        b, lab = b[keep], lab[keep].astype(np.int32)
        if bounding_box_format != "xyxy" and len(b):
            b = np.asarray(
                convert_format(b, bounding_box_format, "xyxy", height=image.shape[0], width=image.shape[1]),
                np.float32,
            )
        records.append({"image_id": f"array/{index}", "image": image, "boxes": b, "labels": lab})
    return records


def _describe(source):
    return os.fspath(source) if _is_path_like(source) else "the source"


def _known_layout(source):
    from kssd.data.readers import detect_format

    try:
        detect_format(source)
    except ValueError:
        return False
    return True


def _tfrecord_dataset(source, split, class_names):
    from kssd.data.readers import check_class_names
    from kssd.data.tfrecord import parse_example, shard_summary

    files = _tfrecord_files(source, split)
    count, names = shard_summary(files)
    check_class_names(source, names, class_names)

    def decode(serialized):
        parsed = parse_example(serialized)
        return parsed["image"], parsed["boxes"], parsed["labels"]

    return tf.data.TFRecordDataset(files), decode, count


def _source_dataset(source, split, bounding_box_format, format=None, class_names=None):
    """``(dataset, decode, count)``: count is the number of examples, None when unknown."""
    if isinstance(source, (list, tuple)) and source and all(_is_path_like(s) for s in source):
        return _tfrecord_dataset(source, split, class_names)
    if _is_path_like(source):
        from kssd.data.readers import _is_tfrecord_source, read_source

        if format == "tfrecord" or (format is None and _is_tfrecord_source(source)):
            return _tfrecord_dataset(source, split, class_names)
        if format is None and split is not None and os.path.isdir(source) and not _known_layout(source):
            return _tfrecord_dataset(source, split, class_names)  # names the missing split shards
        source, _ = read_source(source, format, split, class_names)
    if isinstance(source, tf.data.Dataset):
        raise TypeError("pass a dataset path, records or arrays, not a tf.data.Dataset")
    if isinstance(source, dict) and "images" in source:
        records, problems = _records_from_arrays(source, bounding_box_format), []
    elif isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], dict):
        records, problems = _records_from_arrays(source, bounding_box_format), []
    else:
        records, problems = prepare_encoded_records(_records_from(source))
    records, stats = sanitize_records(records)
    if stats.num_boxes_dropped:
        warnings.warn(f"load_dataset: {describe_box_changes(stats)}", UserWarning, stacklevel=3)
    if problems:
        listed = "; ".join(str(p) for p in problems[:3]) + ("; ..." if len(problems) > 3 else "")
        warnings.warn(
            f"load_dataset: skipped {len(problems)} record(s) whose image cannot be used: {listed}",
            UserWarning,
            stacklevel=3,
        )
    return (*_dataset_from_records(records), len(records))


# ---------------------------------------------------------------------------------- pipeline


def _sanitize(image, boxes, labels):
    """Clip boxes into the image and drop empty ones before augmentation."""
    shape = tf.shape(image)
    limit = tf.cast(tf.stack([shape[1], shape[0], shape[1], shape[0]]), tf.float32)
    boxes = tf.clip_by_value(tf.reshape(tf.cast(boxes, tf.float32), (-1, 4)), 0.0, limit)
    labels = tf.cast(labels, tf.int32)
    size = boxes[:, 2:] - boxes[:, :2]
    keep = (size[:, 0] > 0) & (size[:, 1] > 0) & (labels > 0)
    return boxes, labels, keep


def load_dataset(
    source,
    model=None,
    *,
    anchors=None,
    image_size=None,
    variances=None,
    box_coding=None,
    match_threshold=None,
    matching=None,
    negative_threshold=None,
    split=None,
    format=None,
    batch_size=32,
    training=True,
    augmentation=None,
    augmentation_options=None,
    shuffle_buffer=1024,
    seed=None,
    deterministic=False,
    min_box_size=2.0,
    resize_mode="stretch",
    bounding_box_format="xyxy",
    repeat=False,
    cache=False,
    drop_remainder=None,
    num_parallel_calls=AUTOTUNE,
    prefetch=AUTOTUNE,
):
    """Build a batched ``tf.data`` pipeline of ``(images, y_true)`` for ``model.fit``.

    Steps: read -> (shuffle) -> decode -> augment and resize to the model input -> drop boxes
    smaller than ``min_box_size`` pixels -> normalize boxes by the output size -> encode against
    the anchors -> batch -> prefetch. Decoding, augmentation and encoding run in one parallel
    ``map`` (``num_parallel_calls``).

    Args:
        source: the data: a dataset on disk (an annotation file or root of any layout
            :func:`kssd.data.detect_format` knows: imglab XML, VOC, COCO, YOLO, WIDER FACE, read
            with :func:`kssd.data.read_source`, boxes mapped to the model's ``class_names``); a
            TFRecord file, glob, directory (``<split>-*.tfrecord`` shards when ``split`` is
            given, else every ``*.tfrecord``) or list of those; a reader instance
            or a list of records (dicts with ``boxes`` (N, 4) absolute xyxy, ``labels`` and one
            of ``image`` (uint8 (H, W, 3) RGB array), ``image_path`` or ``image_bytes``; encoded
            images are decoded with ``tf.io.decode_image``); or in-memory arrays
            ``(images, {"boxes", "labels"})`` / ``{"images", "bounding_boxes"}`` (boxes in
            ``bounding_box_format``; label <= 0 rows are padding).
        model: a detector giving ``anchors``, ``input_size``, ``variances``, ``match_threshold``,
            ``matching``, ``negative_threshold`` and ``augmentation`` (a
            :class:`kssd.models.SSDDetector` has them all; duck-typed; the arguments below
            override them), default None.
        anchors: (A, 4) normalized centre-form anchors, default None = ``model.anchors``; with
            neither, targets are not encoded and ``y_true`` is the Keras-style dict
            ``{"boxes": (B, N, 4) rel_xyxy, "labels": (B, N)}`` padded with -1 labels.
        image_size: output ``(height, width)``, default None = ``model.input_size``.
        variances: box-coder variances, default None = ``model.variances`` or ``(0.1, 0.2)``.
        box_coding: ``"ssd"`` or ``"linear"`` (:mod:`kssd.boxes.coder`), default None =
            ``model.box_coding`` or ``"ssd"``.
        match_threshold: default None = ``model.match_threshold`` or 0.45.
        matching: ``"bipartite"`` or ``"forced"`` (see :func:`kssd.boxes.match_anchors`),
            default None = ``model.matching`` or ``"bipartite"``.
        negative_threshold: lower edge of the matching's neutral zone (anchors there get
            class id -1 and are left out of the loss), default None = ``model.negative_threshold``
            or no neutral zone.
        split: split of a dataset root, or shard prefix inside a TFRecord directory, default
            None (the only or first split).
        format: format of a path source (a name of :func:`kssd.data.readers.formats`),
            default None (detected from the layout).
        batch_size: default 32.
        training: default True. False means no augmentation, no shuffle and a plain resize.
        augmentation: ``"face"``, ``"ssd"``, ``"none"`` or a chain callable (see
            :mod:`kssd.data.augment`), default None = ``model.augmentation`` or ``"ssd"``.
        augmentation_options: keyword arguments for the chain, default None.
        shuffle_buffer: shuffle buffer size when training, default 1024 (0 disables).
        seed: seed of the shuffle and of the per-element augmentation seeds, default None
            (random; with ``deterministic=True`` None means 0).
        deterministic: keep the element order of the parallel map fixed, default False; with a
            seed, two pipelines built alike then give identical batches.
        min_box_size: boxes whose width or height is below this many pixels of the output image
            (after augmentation and resize) are dropped, default 2.0 (0 keeps all).
        resize_mode: resize when not augmenting: ``"stretch"`` (default, the training geometry)
            or ``"pad"`` (keep the aspect ratio, pad bottom/right with zeros).
        bounding_box_format: format of boxes in array sources, default ``"xyxy"`` (pixels).
        repeat: repeat the data forever, default False.
        cache: cache the raw (undecoded) elements in memory, default False.
        drop_remainder: drop the last partial batch, default None = ``training``. A source
            of records or arrays smaller than ``batch_size`` is batched whole instead (with a
            warning), so training never gets 0 steps.
        num_parallel_calls: parallelism of the map, default ``tf.data.AUTOTUNE``.
        prefetch: prefetch buffer, default ``tf.data.AUTOTUNE`` (0/None disables).

    Raises:
        kssd.data.DataSourceError: a path that cannot be read, or whose classes are not the
            model's (one line naming it).
        ValueError: a source without any usable example, or a bad argument.

    Returns:
        ``tf.data.Dataset`` of ``(images float32 (B, H, W, 3) RGB 0..255, y_true)`` with
        ``y_true`` float32 (B, A, 5) (or the dict above without anchors).

    Examples:
        >>> import numpy as np
        >>> from kssd.data.pipeline import load_dataset
        >>> anchors = np.array([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]], "float32")
        >>> images = np.zeros((4, 20, 20, 3), "uint8")
        >>> boxes = np.array([[[10., 10., 20., 20.]]] * 4, "float32")
        >>> ds = load_dataset((images, {"boxes": boxes, "labels": np.ones((4, 1))}),
        ...                   anchors=anchors, image_size=(20, 20), batch_size=2,
        ...                   training=False)
        >>> x, y = next(iter(ds))
        >>> x.shape, y.shape, y[0, :, 4].numpy().tolist()
        (TensorShape([2, 20, 20, 3]), TensorShape([2, 2, 5]), [0.0, 1.0])
    """
    size = _as_size(image_size if image_size is not None else _model_attr(model, "input_size"), "image_size")
    if size is None:
        raise ValueError(
            "load_dataset needs the output size: pass `image_size=(height, width)` "
            "or a `model` with `input_size`"
        )
    if anchors is None:
        anchors = _model_attr(model, "anchors")
    if anchors is not None:
        anchors = np.asarray(anchors, np.float32)
        if anchors.ndim != 2 or anchors.shape[-1] != 4:
            raise ValueError(f"`anchors` must have shape (A, 4), got {anchors.shape}")
    if variances is None:
        variances = _model_attr(model, "variances", DEFAULT_VARIANCES)
    variances = tuple(float(v) for v in variances)
    if box_coding is None:
        box_coding = _model_attr(model, "box_coding", DEFAULT_BOX_CODING)
    check_box_coding(box_coding)
    if match_threshold is None:
        match_threshold = _model_attr(model, "match_threshold", DEFAULT_MATCH_THRESHOLD)
    match_threshold = float(match_threshold)
    if matching is None:
        matching = _model_attr(model, "matching", DEFAULT_MATCHING)
    if negative_threshold is None:
        negative_threshold = _model_attr(model, "negative_threshold")
    check_matching(matching, match_threshold, negative_threshold)
    if augmentation is None:
        augmentation = _model_attr(model, "augmentation") or DEFAULT_AUGMENTATION
    chain = get_augmentation(augmentation if training else "none")
    options = dict(augmentation_options or {}) if training else {}
    if resize_mode not in ("stretch", "pad"):
        raise ValueError(f"resize_mode must be 'stretch' or 'pad', got {resize_mode!r}")
    if batch_size is None or int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if drop_remainder is None:
        drop_remainder = bool(training)
    if deterministic and seed is None:
        seed = 0
    min_box_size = float(min_box_size or 0.0)

    ds, decode, count = _source_dataset(
        source, split, bounding_box_format, format, _model_attr(model, "class_names")
    )
    if count == 0:
        raise ValueError(f"load_dataset: {_describe(source)} holds no usable example")
    if count is not None and ds.cardinality() == tf.data.UNKNOWN_CARDINALITY:
        ds = ds.apply(tf.data.experimental.assert_cardinality(count))  # TFRecord shards: len(ds) works
    if drop_remainder and count is not None and count < int(batch_size):
        warnings.warn(
            f"load_dataset: {count} examples are fewer than batch_size={batch_size}; batches of {count} "
            "instead (with drop_remainder a full batch would never fill and fit would train 0 steps)",
            UserWarning,
            stacklevel=2,
        )
        batch_size = count
    if cache:
        ds = ds.cache()
    if training and shuffle_buffer:
        ds = ds.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip((ds, seeds))
    out_h, out_w = size

    def transform(element, rand):
        image, boxes, labels = decode(*element) if isinstance(element, tuple) else decode(element)
        image = tf.cast(image, tf.float32)
        boxes, labels, keep = _sanitize(image, boxes, labels)
        boxes, labels = tf.boolean_mask(boxes, keep), tf.boolean_mask(labels, keep)
        element_seed = tf.stack([rand, tf.constant(0, tf.int64)])
        if training or resize_mode == "stretch":
            image, boxes, labels = chain(image, boxes, labels, element_seed, size, **options)
        else:
            image, boxes = resize_with_pad(image, boxes, size)
        boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
        labels = tf.reshape(tf.cast(labels, tf.int32), (-1,))
        wh = boxes[:, 2:] - boxes[:, :2]
        keep = tf.reduce_min(wh, axis=-1) >= tf.maximum(min_box_size, 1e-6)
        boxes, labels = tf.boolean_mask(boxes, keep), tf.boolean_mask(labels, keep)
        boxes = boxes / tf.constant([out_w, out_h, out_w, out_h], tf.float32)
        image = tf.ensure_shape(tf.cast(image, tf.float32), (out_h, out_w, 3))
        if anchors is None:
            return image, {"boxes": boxes, "labels": labels}
        y_true = encode_targets(
            boxes,
            labels,
            tf.constant(anchors),
            match_threshold,
            variances,
            matching,
            negative_threshold,
            box_coding,
        )
        return image, tf.ensure_shape(y_true, (anchors.shape[0], 5))

    ds = ds.map(
        transform, num_parallel_calls=num_parallel_calls, deterministic=True if deterministic else None
    )
    if anchors is None:
        ds = ds.padded_batch(
            int(batch_size), drop_remainder=drop_remainder, padding_values=(0.0, {"boxes": 0.0, "labels": -1})
        )
    else:
        ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    if prefetch:
        ds = ds.prefetch(prefetch)
    if deterministic:
        opts = tf.data.Options()
        opts.deterministic = True
        ds = ds.with_options(opts)
    return ds


__all__ = ["load_dataset"]
