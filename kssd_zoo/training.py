"""Training and evaluation of zoo detectors: the glue behind ``kssd train`` and ``kssd evaluate``.

:func:`train` builds (or takes) a detector, turns a data argument into a ``tf.data`` pipeline,
checks that the targets hold positives, and runs ``model.fit`` with the kssd callbacks
(:class:`~kssd.callbacks.NaNGuard`, :class:`~kssd.callbacks.DetectionEvaluator`,
:class:`~kssd.callbacks.ResumableCheckpoint`, CSV and TensorBoard logs). :func:`evaluate`
runs a detector over a dataset and scores it. Data arguments (see :func:`resolve_data`):

* ``"shapes"`` or ``"shapes:N"``: the generated shapes dataset (N images, default 2000);
* a TFRecord file, glob or directory (``<split>-*.tfrecord`` shards);
* a dataset root the kssd readers understand (WIDER FACE, VOC, COCO, YOLO layouts).

Examples:
    >>> from kssd_zoo.training import resolve_data
    >>> records, info = resolve_data("shapes:8", split="val")
    >>> len(records), info["class_names"]
    (8, ['circle', 'square', 'triangle'])
"""

import glob
import json
import os
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from kssd.callbacks import DetectionEvaluator, NaNGuard, ResumableCheckpoint, TimeLimit
from kssd.callbacks.evaluation import METRICS, detect_records, detection_metrics, make_detect_fn
from kssd_zoo.detector import set_batch_norm_momentum
from kssd_zoo.loading import load

DEFAULT_SHAPES = 2000
_VAL_SPLITS = ("val", "val2017", "validation", "test")


# ------------------------------------------------------------------------------------ data
def _metric_for(model):
    names = [n.lower() for n in (getattr(model, "class_names", None) or [])]
    return "widerface" if names == ["face"] else "voc12"


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
    kwargs = {"class_names": class_names} if class_names and fmt in ("voc", "yolo") else {}
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
            order = np.random.default_rng(seed).permutation(len(train_records))
            count = max(1, int(round(len(train_records) * float(val_fraction))))
            held = set(order[:count].tolist())
            val_records = [r for i, r in enumerate(train_records) if i in held]
            train_records = [r for i, r in enumerate(train_records) if i not in held]
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


# ---------------------------------------------------------------------------------- models
def _compile(model, steps_per_epoch, learning_rate, jit_compile):
    from kssd_zoo.detector import make_optimizer

    training = dict(model.spec.get("training") or {})
    if learning_rate is not None:
        schedule = dict(training.get("schedule") or {"name": "constant"})
        if schedule.get("name") == "warmup_multistep":
            schedule["initial_learning_rate"] = float(learning_rate)
        else:
            schedule = {"name": "constant", "learning_rate": float(learning_rate)}
        training["schedule"] = schedule
    optimizer = make_optimizer(training, steps_per_epoch)
    model.compile_from_spec(steps_per_epoch=steps_per_epoch, optimizer=optimizer, jit_compile=jit_compile)


def _has_tensorboard():
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def _policy_name(mixed_precision):
    if not mixed_precision:
        return None
    if mixed_precision is True:
        import tensorflow as tf

        on_gpu = bool(tf.config.list_physical_devices("GPU"))
        return "mixed_float16" if on_gpu else "mixed_bfloat16"
    return str(mixed_precision)


# ----------------------------------------------------------------------------------- train
def train(
    model_or_name,
    data,
    val_data=None,
    *,
    epochs=None,
    batch_size=None,
    steps_per_epoch=None,
    out_dir="runs/train",
    resume=False,
    weights=None,
    mixed_precision=False,
    jit_compile="auto",
    metric=None,
    eval_every=1,
    augmentation=None,
    learning_rate=None,
    val_fraction=0.1,
    train_split=None,
    val_split=None,
    max_val_images=500,
    seed=0,
    time_limit=None,
    tensorboard=True,
    callbacks=None,
    overrides=None,
    exact_resume=True,
    batch_norm_momentum=None,
    verbose=1,
):
    """Train a zoo detector with ``model.fit`` and the kssd callbacks; resumable.

    Args:
        model_or_name: a :class:`kssd_zoo.Detector`, a model name, a YAML spec path or a
            ``.keras`` file.
        data: training data (see :func:`resolve_data`).
        val_data: validation data, default None (see :func:`split_train_val`).
        epochs: default None = the spec's ``training.epochs``.
        batch_size: default None = the spec's ``training.batch_size``.
        steps_per_epoch: default None = training images // batch_size (at least 1).
        out_dir: run folder (``checkpoints/``, ``history.csv``, ``logs/``, ``model.keras``,
            ``results.json``), default ``"runs/train"``.
        resume: continue from the last good checkpoint in ``out_dir``, default False.
        weights: initial weights (file or preset), default None; ignored when resuming from a
            checkpoint.
        mixed_precision: False (default), True (``mixed_float16`` on GPU, ``mixed_bfloat16``
            on CPU) or a Keras policy name; the global policy is restored afterwards.
        jit_compile: passed to ``compile``, default ``"auto"``.
        metric: evaluation metric (``voc07``, ``voc12``, ``widerface``, ``coco``), default None =
            ``widerface`` for single-class face models, else ``voc12``.
        eval_every: evaluate every this many epochs, default 1.
        augmentation: ``"face"``, ``"ssd"``, ``"none"``, default None = the spec's.
        learning_rate: override of the spec's (initial) learning rate, default None.
        val_fraction: held-out fraction when no validation split exists, default 0.1.
        train_split: split of ``data``, default None (reader default; ``train`` for shapes).
        val_split: split of ``val_data`` (or of ``data``), default None (detected).
        max_val_images: evaluate on at most this many images, default 500 (0: no validation).
        seed: seed of data order, augmentation and initial weights, default 0.
        time_limit: stop after the first epoch ending past this many seconds, default None.
        tensorboard: write TensorBoard logs into ``out_dir/logs``, default True (skipped with a
            note when the ``tensorboard`` package is not installed).
        callbacks: more Keras callbacks, default None.
        overrides: spec overrides when building by name (e.g. ``{"num_classes": 3}``), default
            None; with data whose class names differ from the spec's, ``num_classes`` and
            ``class_names`` are set from the data.
        exact_resume: when resuming, skip the batches the finished epochs consumed so the data
            stream continues where it stopped (the pipeline is seeded and deterministic, so the
            resumed run sees exactly the batches of an uninterrupted one), default True. The
            skipped batches are still decoded and augmented (about the cost of the data part of
            those epochs); False restarts the data stream instead (fast, not bit-exact).
        batch_norm_momentum: momentum of every BatchNormalization layer, default None (the
            spec's ``training.batch_norm_momentum``, else each block's own, usually 0.99).
            0.9 suits short runs, whose moving statistics otherwise lag behind the weights.
        verbose: Keras verbosity, default 1.

    Returns:
        dict with ``model``, ``history`` (dict of lists), ``initial_epoch``, ``epochs``,
        ``val_metrics`` (last evaluation or None), ``train_seconds`` and the written paths.

    Examples:
        >>> from kssd_zoo.training import train
        >>> result = train("tiny_ssd", "shapes:64", epochs=1, batch_size=16,  # doctest: +SKIP
        ...                out_dir="/tmp/run")
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    policy = _policy_name(mixed_precision)
    previous_policy = keras.mixed_precision.global_policy().name
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(seed)
        train_records, train_info, val_records, val_description = split_train_val(
            data,
            val_data,
            train_split=train_split,
            val_split=val_split,
            val_fraction=val_fraction,
            seed=seed,
            max_val_images=max_val_images,
        )
        if not train_records:
            raise ValueError(f"--data {data}: no training images")
        overrides = dict(overrides or {})
        data_names = train_info.get("class_names")
        if isinstance(model_or_name, keras.Model):
            model = load(model_or_name, weights=None if resume else weights)
        else:
            if data_names and "num_classes" not in overrides and not str(model_or_name).endswith(".keras"):
                from kssd_zoo.spec import resolve_spec

                spec_names = resolve_spec(model_or_name, **overrides)["class_names"]
                if [n.lower() for n in spec_names] != [n.lower() for n in data_names]:
                    overrides.update(num_classes=len(data_names), class_names=list(data_names))
            model = load(
                model_or_name,
                weights=None if resume else weights,
                **({} if str(model_or_name).endswith(".keras") else overrides),
            )
        if batch_norm_momentum is not None:
            set_batch_norm_momentum(model, batch_norm_momentum)
        spec = getattr(model, "spec", {}) or {}
        training = spec.get("training") or {}
        epochs = int(epochs or training.get("epochs") or 10)
        batch_size = int(batch_size or training.get("batch_size") or 32)
        batch_size = max(1, min(batch_size, len(train_records)))
        steps_per_epoch = int(steps_per_epoch or max(len(train_records) // batch_size, 1))
        _compile(model, steps_per_epoch, learning_rate, jit_compile)

        from kssd.data import load_dataset

        source = train_info.get("tfrecord_files") or train_records

        def training_stream():
            return load_dataset(
                source,
                model=model,
                batch_size=batch_size,
                training=True,
                augmentation=augmentation,
                seed=seed,
                repeat=True,
                deterministic=True,
                drop_remainder=True,
            )

        # The check reads its own copy: iterators of one seeded dataset share its shuffle
        # state, so peeking at ``dataset`` would shift the order fit sees by a timing-dependent
        # number of reshuffles (prefetch runs ahead) and break exact resume.
        positives, checked = count_positives(training_stream(), batches=3)
        dataset = training_stream()
        if positives == 0:
            message = (
                f"the training data yields no positive anchors in its first {checked} "
                "images: no ground-truth box matches an anchor (check that boxes are "
                "absolute xyxy pixels, that labels are 1..C, and that anchor sizes suit "
                "the objects, e.g. with `kssd data stats`). The model would learn only "
                "background."
            )
            warnings.warn(message, UserWarning, stacklevel=2)
            print(f"WARNING: {message}")

        checkpoint = ResumableCheckpoint(out / "checkpoints", verbose=0)
        initial_epoch = 0
        if resume:
            initial_epoch = checkpoint.restore(model)
            print(
                f"resumed from {checkpoint.directory}: {initial_epoch} epoch(s) done, "
                f"optimizer step {int(model.optimizer.iterations)}"
            )
        if initial_epoch and exact_resume:
            dataset = dataset.skip(initial_epoch * steps_per_epoch)
        metric = metric or _metric_for(model)
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        evaluator = None
        cbs = [NaNGuard()]
        if val_records:
            evaluator = DetectionEvaluator(
                val_records,
                metric=metric,
                every=eval_every,
                class_names=model.class_names,
                verbose=1 if verbose else 0,
            )
            cbs.append(evaluator)
        cbs += [
            checkpoint,
            keras.callbacks.CSVLogger(str(out / "history.csv"), append=bool(resume and initial_epoch)),
        ]
        if tensorboard and _has_tensorboard():
            cbs.append(keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False))
        elif tensorboard and verbose:
            print(
                "note: the tensorboard package is not installed; no TensorBoard logs "
                "(pip install tensorboard)"
            )
        if time_limit:
            cbs.append(TimeLimit(time_limit))
        cbs += list(callbacks or [])
        if verbose:
            print(
                f"training {model.name} on {len(train_records)} images "
                f"({train_info['source']}), {steps_per_epoch} steps/epoch x {epochs} epochs, "
                f"batch {batch_size}; validation: {val_description or 'none'}; "
                f"metric {metric}"
            )
        started = time.perf_counter()
        history = {}
        if initial_epoch < epochs:
            fitted = model.fit(
                dataset,
                epochs=epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch,
                callbacks=cbs,
                verbose=verbose,
                shuffle=False,
            )  # the pipeline shuffles (seeded)
            history = fitted.history
        elif verbose:
            print(f"nothing to do: the checkpoint already has {initial_epoch} >= {epochs} epochs")
        seconds = time.perf_counter() - started
        model_path = out / "model.keras"
        model.save(model_path)
        val_metrics = None
        if evaluator is not None and history.get("loss"):
            last_epoch = initial_epoch + len(history["loss"]) - 1
            if last_epoch not in evaluator.history:  # stopped early (time limit, NaN guard)
                evaluator.history[last_epoch] = evaluator.evaluate()
        if evaluator is not None and evaluator.history:
            val_metrics = evaluator.history[max(evaluator.history)]
        results = {
            "model": model.name,
            "epochs": epochs,
            "initial_epoch": initial_epoch,
            "train_seconds": seconds,
            "metric": metric,
            "val_metrics": val_metrics,
            "history": {k: [float(v) for v in vals] for k, vals in history.items()},
        }
        (out / "results.json").write_text(json.dumps(results, indent=1))
        return {
            **results,
            "model": model,
            "model_path": str(model_path),
            "checkpoints": str(checkpoint.directory),
        }
    finally:
        if policy:
            keras.mixed_precision.set_global_policy(previous_policy)


# -------------------------------------------------------------------------------- evaluate
def _widerface_gt_beside(data, split):
    if split not in (None, "val") or not isinstance(data, str) or not os.path.isdir(data):
        return None
    for folder in ("val_ground_truth", "eval_tools/ground_truth", "ground_truth", "wider_face_split"):
        path = Path(data) / folder
        if (path / "wider_face_val.mat").is_file():
            return path
    return None


def evaluate(
    model,
    data,
    metric=None,
    *,
    split=None,
    batch_size=16,
    score_threshold=0.01,
    max_images=None,
    widerface_ground_truth=None,
    coco_ground_truth=None,
    detect_fn=None,
    progress=True,
    seed=0,
):
    """Detect on a dataset and score the detections.

    Args:
        model: a detector (or anything :func:`kssd_zoo.load` takes).
        data: the data (see :func:`resolve_data`).
        metric: ``voc07``, ``voc12``, ``widerface`` or ``coco``, default None (``widerface``
            for face models, else ``voc12``).
        split: split of ``data``, default None.
        batch_size: default 16.
        score_threshold: detection score threshold, default 0.01.
        max_images: evaluate only the first N images, default None (all).
        widerface_ground_truth: official WIDER val ``.mat`` folder, default None (looked for
            under the dataset root for the val split; else every valid face counts, "AP_all").
        coco_ground_truth: COCO JSON for ``metric="coco"``, default None (built from the records).
        detect_fn: custom ``detect_fn(images) -> list of dicts``, default None (decode + NMS).
        progress: progress bar, default True.
        seed: seed of generated data, default 0.

    Returns:
        dict with ``"metrics"`` (name -> float), ``"metric"``, ``"images"``, ``"detections"``
        (total count), ``"seconds"`` and ``"warnings"`` (messages the metric emitted, e.g.
        images without predictions).
    """
    model = load(model)
    records, info = resolve_data(data, split, seed=seed)
    if max_images:
        records = records[: int(max_images)]
    if not records:
        raise ValueError(f"--data {data}: no images to evaluate")
    metric = metric or _metric_for(model)
    if metric == "widerface" and widerface_ground_truth is None:
        widerface_ground_truth = _widerface_gt_beside(data, info.get("split"))
    detect_fn = detect_fn or make_detect_fn(model, score_threshold=score_threshold, batch_size=batch_size)
    started = time.perf_counter()
    detections = detect_records(detect_fn, records, batch_size=batch_size, progress=progress)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = detection_metrics(
            metric,
            records,
            detections,
            widerface_ground_truth=widerface_ground_truth,
            coco_ground_truth=coco_ground_truth,
            class_names=getattr(model, "class_names", None),
        )
    return {
        "metrics": metrics,
        "metric": metric,
        "images": len(records),
        "detections": int(sum(len(d["scores"]) for d in detections)),
        "seconds": time.perf_counter() - started,
        "warnings": [str(w.message) for w in caught],
    }


def results_table(metrics, title=None):
    """A plain-text two-column table of metric values.

    Examples:
        >>> from kssd_zoo.training import results_table
        >>> print(results_table({"mAP": 0.5}))
        metric  value
        mAP    0.5000
    """
    width = max([len("metric")] + [len(k) for k in metrics])
    lines = [title] if title else []
    lines.append(f"{'metric':<{width}} {'value':>6}")
    lines += [f"{k:<{width}} {v:>6.4f}" for k, v in metrics.items()]
    return "\n".join(lines)
