"""``train``: fit a zoo detector with ``model.fit`` and the kssd callbacks; resumable."""

import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import keras

from kssd.callbacks import CompactProgbar, DetectionEvaluator, NaNGuard, ResumableCheckpoint, TimeLimit
from kssd.callbacks.resumable_checkpoint import STATE_FILE, optimizer_step
from kssd.data.pipeline import describe_box_changes, prepare_encoded_records, sanitize_records
from kssd.files import remove_stale_temporaries, write_atomically, write_text_atomically
from kssd.metrics.evaluate import METRICS
from kssd_zoo.detector import set_batch_norm_momentum
from kssd_zoo.loading import load
from kssd_zoo.training.data import count_positives, split_train_val
from kssd_zoo.training.distribute import check_global_batch, resolve_distribution, synchronized_batch_norm
from kssd_zoo.training.evaluation import _metric_for


def _compile(model, steps_per_epoch, learning_rate, jit_compile):
    from kssd_zoo.optimizers import make_optimizer

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


#: What a run writes into its folder; a folder holding any of them is a previous run.
RUN_FILES = ("model.keras", "results.json", "history.csv", "checkpoints/checkpoint.json")


def _prepare_run_folder(out, resume, overwrite):
    """Create ``out``; refuse to write over a previous run unless resuming or told to overwrite."""
    found = [name for name in RUN_FILES if (out / name).exists()]
    if found and not resume and not overwrite:
        raise FileExistsError(
            f"--out {out} holds a previous run ({', '.join(found)}); pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: give one")
    out.mkdir(parents=True, exist_ok=True)
    if overwrite and found:
        checkpoints = out / "checkpoints"
        for path in list(checkpoints.glob("epoch-*.weights.h5")) + [checkpoints / STATE_FILE]:
            path.unlink(missing_ok=True)
    remove_stale_temporaries(out)


LR_SCALING = ("none", "linear")


def _learning_rate_plan(model, learning_rate, batch_size, lr_scaling):
    """``(rate to compile with or None, summary dict)`` for the global batch and the scaling rule.

    ``"linear"`` multiplies the base rate (``learning_rate``, else the spec's) by
    ``batch_size / training.batch_size``: the spec's rate was chosen for its own batch.
    """
    from kssd_zoo.optimizers import initial_learning_rate

    lr_scaling = lr_scaling or "none"
    if lr_scaling not in LR_SCALING:
        raise ValueError(f"--lr-scaling {lr_scaling!r}: expected one of {', '.join(LR_SCALING)}")
    training = (getattr(model, "spec", None) or {}).get("training") or {}
    base = float(learning_rate) if learning_rate is not None else initial_learning_rate(training)
    reference = int(training.get("batch_size") or batch_size)
    factor = batch_size / reference if lr_scaling == "linear" else 1.0
    effective = base * factor
    summary = {
        "base": base,
        "effective": effective,
        "scaling": lr_scaling,
        "reference_batch_size": reference,
    }
    override = effective if learning_rate is not None or factor != 1.0 else None
    return override, summary


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
    overwrite=False,
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
    strategy=None,
    devices=None,
    lr_scaling=None,
    sync_batch_norm=True,
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
        overwrite: replace a previous run in ``out_dir`` (its checkpoints are deleted), default
            False: a folder holding a run (``model.keras``, ``results.json``, ``history.csv`` or a
            checkpoint) is refused unless ``resume`` or ``overwrite`` is given.
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
        strategy: train on several devices, default None (one device): ``"mirrored"``,
            ``"multi_worker"``, ``"tpu"``, a ``tf.distribute.Strategy`` or a
            ``keras.distribution.Distribution`` (see
            :func:`kssd_zoo.training.distribute.resolve_distribution`). The model, optimizer,
            loss and metrics are created under its scope. ``batch_size`` is the *global*
            batch, split evenly over the replicas; only the chief writes ``out_dir`` (the other
            workers of a multi-worker run write into temporary folders, removed at the end,
            and resume from the chief's checkpoints) and only the chief evaluates.
        devices: local devices for ``strategy="mirrored"``, default None (all GPUs; without
            a GPU, this many logical CPU devices, for trying a distributed run on one machine).
        lr_scaling: ``"none"`` (default) or ``"linear"``: the learning rate times
            ``batch_size / training.batch_size`` of the spec (the linear scaling rule).
        sync_batch_norm: under a ``tf.distribute`` strategy with several replicas, reduce the
            BatchNormalization statistics over all replicas during training, default True (the
            step is then the one-device step on the global batch); False normalizes each
            replica's slice on its own (cheaper, different results). JAX's DataParallel always
            uses the global batch.
        verbose: Keras verbosity, default 1.

    Returns:
        dict with ``model``, ``history`` (dict of lists), ``initial_epoch``, ``epochs``,
        ``val_metrics`` (last evaluation or None), ``train_seconds`` and the written paths.

    Raises:
        FileExistsError: ``out_dir`` holds a previous run (see ``overwrite``).
        FloatingPointError: the loss became NaN or infinite; the message names the epoch, batch
            and optimizer step. Nothing non-finite is saved: ``model.keras`` is not written and
            the last finite checkpoint stays the one ``resume`` continues from.

    Examples:
        >>> from kssd_zoo.training import train
        >>> result = train("tiny_ssd", "shapes:64", epochs=1, batch_size=16,  # doctest: +SKIP
        ...                out_dir="/tmp/run")
        >>> result = train("tiny_ssd", "shapes:64", batch_size=16,  # doctest: +SKIP
        ...                strategy="mirrored", devices=2, out_dir="/tmp/run2")
    """
    run = resolve_distribution(strategy, devices)  # first: logical devices precede any TF op
    out = Path(out_dir)
    # Only the chief writes the run folder; other workers write where tf.distribute needs
    # them to (their own folder) and read the chief's checkpoints to resume.
    if run.is_chief:
        _prepare_run_folder(out, resume, overwrite)
    policy = _policy_name(mixed_precision)
    previous_policy = keras.mixed_precision.global_policy().name
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    work = out if run.is_chief else Path(tempfile.mkdtemp(prefix=f"kssd-worker-{run.worker_index}-"))
    try:
        with run.scope():
            model, results = _train(
                model_or_name=model_or_name,
                data=data,
                val_data=val_data,
                epochs=epochs,
                batch_size=batch_size,
                steps_per_epoch=steps_per_epoch,
                out=out,
                work=work,
                run=run,
                resume=resume,
                weights=weights,
                jit_compile=jit_compile,
                metric=metric,
                eval_every=eval_every,
                augmentation=augmentation,
                learning_rate=learning_rate,
                val_fraction=val_fraction,
                train_split=train_split,
                val_split=val_split,
                max_val_images=max_val_images,
                seed=seed,
                time_limit=time_limit,
                tensorboard=tensorboard,
                callbacks=callbacks,
                overrides=overrides,
                exact_resume=exact_resume,
                batch_norm_momentum=batch_norm_momentum,
                lr_scaling=lr_scaling,
                sync_batch_norm=sync_batch_norm,
                verbose=verbose,
            )
        # Written outside the scope: Keras' saving creates a variable, which under
        # MultiWorkerMirroredStrategy would wait for workers that no longer save anything.
        model_path = out / "model.keras"
        if run.is_chief:
            write_atomically(model_path, model.save)
            write_text_atomically(out / "results.json", json.dumps(results, indent=1))
        return {
            **results,
            "model": model,
            "model_path": str(model_path),
            "checkpoints": str(out / "checkpoints"),
        }
    finally:
        if policy:
            keras.mixed_precision.set_global_policy(previous_policy)
        if not run.is_chief:
            shutil.rmtree(work, ignore_errors=True)


def _train(
    *,
    model_or_name,
    data,
    val_data,
    epochs,
    batch_size,
    steps_per_epoch,
    out,
    work,
    run,
    resume,
    weights,
    jit_compile,
    metric,
    eval_every,
    augmentation,
    learning_rate,
    val_fraction,
    train_split,
    val_split,
    max_val_images,
    seed,
    time_limit,
    tensorboard,
    callbacks,
    overrides,
    exact_resume,
    batch_norm_momentum,
    lr_scaling,
    sync_batch_norm,
    verbose,
):
    """The body of :func:`train`, inside the distribution's scope (see it for the arguments)."""
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
    skipped, box_stats = [], None
    if not train_info.get("tfrecord_files"):  # TFRecords were checked when written
        train_records, skipped = prepare_encoded_records(train_records)
        train_records, box_stats = sanitize_records(train_records)
        if box_stats.num_boxes_dropped + box_stats.num_boxes_clipped and verbose:
            print(f"training data: {describe_box_changes(box_stats)}")
    if val_records:
        val_records, val_skipped = prepare_encoded_records(val_records)
        skipped += val_skipped
    if skipped and verbose:
        print(f"skipped {len(skipped)} image(s) that cannot be used:")
        for problem in skipped[:20]:
            print(f"  {problem}")
        if len(skipped) > 20:
            print(f"  ... and {len(skipped) - 20} more (all in results.json)")
    if not train_records:
        raise ValueError(
            f"--data {data}: no usable training images" + (f" ({len(skipped)} skipped)" if skipped else "")
        )
    overrides = dict(overrides or {})
    data_names = train_info.get("class_names")
    if isinstance(model_or_name, keras.Model):
        if (
            run.strategy is not None
            and getattr(model_or_name, "_distribute_strategy", None) is not run.strategy
        ):
            raise ValueError(
                f"the model {model_or_name.name!r} was not created under the strategy's scope "
                f"({run.describe()}); pass its name, YAML spec or .keras file instead, or build "
                "it inside `with strategy.scope():`"
            )
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
    per_replica_batch = check_global_batch(batch_size, run)
    steps_per_epoch = int(steps_per_epoch or max(len(train_records) // batch_size, 1))
    compile_rate, rate_summary = _learning_rate_plan(model, learning_rate, batch_size, lr_scaling)
    _compile(model, steps_per_epoch, compile_rate, jit_compile)

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
    dataset = _shard_by(training_stream(), train_info.get("tfrecord_files"), run)
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

    checkpoint = ResumableCheckpoint(work / "checkpoints", verbose=0)
    initial_epoch = 0
    if resume:
        chief_checkpoints = ResumableCheckpoint(out / "checkpoints", verbose=0)
        initial_epoch = chief_checkpoints.restore(model)
        print(
            f"resumed from {chief_checkpoints.directory}: {initial_epoch} epoch(s) done, "
            f"optimizer step {optimizer_step(model.optimizer)}"
        )
    if initial_epoch and exact_resume:
        dataset = dataset.skip(initial_epoch * steps_per_epoch)
    metric = metric or _metric_for(model)
    METRICS.get(metric)  # UnknownNameError (a ValueError) naming close matches
    evaluator = None
    guard = NaNGuard()
    cbs = [guard]
    if val_records and run.is_chief:  # evaluation is the chief's (direct inference, no collectives)
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
        keras.callbacks.CSVLogger(str(work / "history.csv"), append=bool(resume and initial_epoch)),
    ]
    if tensorboard and _has_tensorboard():
        cbs.append(keras.callbacks.TensorBoard(str(work / "logs"), write_graph=False))
    elif tensorboard and verbose:
        print("note: the tensorboard package is not installed; no TensorBoard logs (pip install tensorboard)")
    if time_limit:
        cbs.append(TimeLimit(time_limit))
    if verbose:
        cbs.append(CompactProgbar())  # per-class AP stays in history.csv and the final table
    cbs += list(callbacks or [])
    batch_summary = {"global": batch_size, "per_replica": per_replica_batch, "replicas": run.num_replicas}
    if verbose:
        print(
            f"training {model.name} on {len(train_records)} images "
            f"({train_info['source']}), {steps_per_epoch} steps/epoch x {epochs} epochs; "
            f"validation: {val_description or 'none'}; metric {metric}\n"
            f"devices: {run.describe()}; batch {batch_size} global = {per_replica_batch} per replica "
            f"x {run.num_replicas}; {_describe_rate(rate_summary)}"
        )
    started = time.perf_counter()
    history = {}
    if initial_epoch < epochs:
        with synchronized_batch_norm(model, sync_batch_norm and run.synchronizes_batch_norm):
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
    if guard.bad_batch is not None:
        bad = guard.bad_batch
        done = checkpoint.latest()
        kept = f"epoch {done['epoch']}" if done else "none yet"
        raise FloatingPointError(
            f"training diverged: the loss became non-finite at epoch {bad['epoch']}, batch "
            f"{bad['batch']}, optimizer step {bad['step']}; nothing non-finite was saved "
            f"({model_path} not written; last finite checkpoint in {out / 'checkpoints'}: {kept}, "
            "which --resume continues from). Lower the learning rate or check the boxes."
        )
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
        "distribution": run.as_dict(),
        "batch_size": batch_summary,
        "learning_rate": rate_summary,
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
        "skipped_images": [{"image": p.path, "reason": p.reason, "detail": p.detail} for p in skipped],
        "boxes_dropped": {} if box_stats is None else dict(box_stats.boxes_dropped),
        "boxes_clipped": {} if box_stats is None else dict(box_stats.boxes_clipped),
    }
    return model, results


def _describe_rate(summary):
    rate = f"learning rate {summary['effective']:g}"
    if summary["scaling"] == "linear":
        rate += f" (= {summary['base']:g} x batch / {summary['reference_batch_size']}, linear scaling)"
    return rate


def _shard_by(dataset, files, run):
    """Tell tf.distribute how workers split ``dataset``: by file for TFRecord shards, else by data.

    Sharding by file needs at least one file per worker (``kssd data convert --num-shards``);
    by data every worker reads everything and keeps its part of each global batch (the same
    batches as one device).
    """
    if run.num_workers == 1:
        return dataset
    import tensorflow as tf

    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    by_file = bool(files) and len(files) >= run.num_workers
    options.experimental_distribute.auto_shard_policy = policy.FILE if by_file else policy.DATA
    return dataset.with_options(options)
