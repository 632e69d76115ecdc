"""Data arguments of ``kssd train`` / ``kssd evaluate``: shapes, TFRecords or dataset roots.

Examples:
    >>> from kssd_zoo.training.data import resolve_data
    >>> records, info = resolve_data("shapes:8", split="val")
    >>> len(records), info["class_names"]
    (8, ['circle', 'square', 'triangle'])
"""

import glob
import os
from pathlib import Path

import numpy as np

from kssd.data.split import split_items

DEFAULT_SHAPES = 2000
_VAL_SPLITS = ("val", "val2017", "validation", "test")


def _tfrecord_files(data, split):
    if os.path.isdir(data):
        if split is not None:
            return sorted(glob.glob(os.path.join(data, f"{split}-*.tfrecord")))
        return sorted(glob.glob(os.path.join(data, "*.tfrecord")))
    return sorted(glob.glob(data)) if any(c in data for c in "*?[") else [data]


def _tfrecord_splits(data):
    if not os.path.isdir(data):
        return []
    names = {Path(p).name.split("-")[0] for p in glob.glob(os.path.join(data, "*-*.tfrecord"))}
    return sorted(names)


def resolve_data(data, split=None, *, seed=0, class_names=None):
    """Turn a data argument into kssd records.

    Args:
        data: ``"shapes"`` / ``"shapes:N"``, a TFRecord file/glob/directory, a dataset root
            (format detected by :func:`kssd.data.detect_format`), or a list of records.
        split: split to read (``"train"``, ``"val"``, ``"train2017"``...), default None (the
            reader's first split; for shapes ``"train"``).
        seed: seed of the generated shapes, default 0.
        class_names: passed to readers that take them, default None.

    Returns:
        ``(records, info)``: a list of record dicts and a dict with ``"class_names"``,
        ``"format"``, ``"split"``, ``"source"`` and ``"tfrecord_files"`` (the files when the
        source is TFRecord, so training can stream them).

    Raises:
        ValueError / FileNotFoundError: unknown layout or missing split (the message says
            which and what was expected).
    """
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], dict):
        return list(data), {
            "class_names": class_names,
            "format": "records",
            "split": split,
            "source": "records",
            "tfrecord_files": None,
        }
    data = os.fspath(data)
    if data == "shapes" or data.startswith("shapes:"):
        from kssd_zoo.datasets import shapes
        from kssd_zoo.datasets.shapes import CLASS_NAMES

        count = DEFAULT_SHAPES
        if ":" in data:
            try:
                count = int(data.split(":", 1)[1])
            except ValueError:
                raise ValueError(
                    f"--data {data!r}: expected 'shapes' or 'shapes:N' with N an integer number of images"
                ) from None
        split = split or "train"
        return shapes(num_images=count, split=split, seed=seed), {
            "class_names": list(CLASS_NAMES),
            "format": "shapes",
            "split": split,
            "source": data,
            "tfrecord_files": None,
        }
    from kssd.data import detect_format, open_reader, read_dataset_info, read_tfrecords
    from kssd.data.readers import takes_class_names

    if not any(c in data for c in "*?[") and not os.path.exists(data):
        raise FileNotFoundError(
            f"data not found: {data} (expected 'shapes', a TFRecord file/glob/directory or a dataset root)"
        )
    fmt = detect_format(data)
    if fmt == "tfrecord":
        files = _tfrecord_files(data, split)
        if not files:
            raise FileNotFoundError(
                f"no TFRecord shards for split {split!r} in {data} "
                f"(found splits: {_tfrecord_splits(data) or 'none'})"
            )
        info = read_dataset_info(data) if os.path.isdir(data) else None
        names = class_names or (info or {}).get("class_names")
        return list(read_tfrecords(files)), {
            "class_names": names,
            "format": "tfrecord",
            "split": split,
            "source": data,
            "tfrecord_files": files,
        }
    kwargs = {"class_names": class_names} if class_names and takes_class_names(fmt) else {}
    reader = open_reader(data, fmt, split, **kwargs)
    return list(reader), {
        "class_names": list(reader.class_names),
        "format": fmt,
        "split": getattr(reader, "split", split),
        "source": data,
        "tfrecord_files": None,
        "reader": reader,
    }


def _val_split_of(data):
    """The validation split present beside a training source, or None."""
    if isinstance(data, str) and (data == "shapes" or data.startswith("shapes:")):
        return "val"
    try:
        from kssd.data import detect_format
        from kssd.data.readers import available_splits

        fmt = detect_format(data)
        splits = _tfrecord_splits(data) if fmt == "tfrecord" else available_splits(data, fmt)
    except (ValueError, FileNotFoundError, TypeError):
        return None
    return next((s for s in _VAL_SPLITS if s in splits), None)


def split_train_val(
    data,
    val_data=None,
    *,
    train_split=None,
    val_split=None,
    val_fraction=0.1,
    seed=0,
    max_val_images=None,
    val_count=None,
):
    """Training and validation records from the CLI arguments.

    Validation data is, in order: ``val_data`` (its ``val_split``); the validation split beside
    ``data`` (``val``/``val2017``/``test`` shards or reader split; for shapes, the ``val``
    stream); otherwise ``val_fraction`` of the training records held out (seeded, never both
    in training and validation). ``val_fraction=0`` disables validation in that last case, and
    ``max_val_images=0`` disables validation altogether.

    Returns:
        ``(train_records, train_info, val_records or None, description)``.
    """
    train_records, train_info = resolve_data(data, train_split, seed=seed)
    if max_val_images == 0:  # no validation at all: nothing is held out either
        return train_records, train_info, None, None
    description = None
    val_records = None
    if val_data is not None:
        if isinstance(val_data, str) and val_data.startswith("shapes") and val_split is None:
            val_split = "val"
        val_records, _ = resolve_data(val_data, val_split, seed=seed)
        description = f"{val_data}" + (f" (split {val_split})" if val_split else "")
    else:
        split = val_split or (None if train_info["format"] == "records" else _val_split_of(data))
        if split is not None and split != train_info.get("split"):
            if train_info["format"] == "shapes":
                count = val_count or max(len(train_records) // 10, 50)
                val_records, _ = resolve_data(f"shapes:{count}", "val", seed=seed)
            else:
                val_records, _ = resolve_data(data, split, seed=seed)
            description = f"split {split!r} of {data}"
        elif val_fraction and len(train_records) > 1:
            train_records, val_records = split_items(train_records, val_fraction, seed=seed)
            count = len(val_records)
            train_info = {**train_info, "tfrecord_files": None}  # the split is in memory now
            description = f"{count} images held out of the training data (val_fraction)"
    if val_records is not None and max_val_images and len(val_records) > max_val_images:
        val_records = val_records[: int(max_val_images)]
        description += f", first {int(max_val_images)} images"
    return train_records, train_info, val_records, description


def count_positives(dataset, batches=3):
    """Positive anchors in the first ``batches`` batches of a ``(images, y_true)`` dataset.

    Returns:
        ``(positives, images)`` counted.

    Examples:
        >>> import numpy as np, tensorflow as tf
        >>> from kssd_zoo.training import count_positives
        >>> y = np.zeros((2, 3, 5), "float32"); y[0, 1, 4] = 2
        >>> count_positives(tf.data.Dataset.from_tensors((np.zeros((2, 4, 4, 3)), y)))
        (1, 2)
    """
    positives = images = 0
    for _, y_true in dataset.take(batches):
        labels = np.asarray(y_true)[..., 4]
        positives += int((labels > 0).sum())
        images += labels.shape[0]
    return positives, images
