"""``kssd train``: train a zoo detector (or a YAML spec) with model.fit, resumable."""

from kssd_zoo.cli._choices import AUGMENTATIONS, DISTRIBUTE_CHOICES, LR_SCALING, METRICS

EXAMPLES = """examples:
  kssd train tiny_ssd --data shapes --epochs 10 --out runs/shapes
  kssd train face_ssd --data /data/widerface --epochs 100 --out runs/face
  kssd train face_ssd --data /data/widerface --out runs/face --resume
  kssd train vgg16_ssd300 --data /data/VOCdevkit/VOC2007 --val-data /data/VOC2007test \\
      --metric voc07 --batch-size 32 --out runs/voc
  kssd train my_spec.yaml --data tfrecords/ --val-split val --mixed-precision --jit-compile
  kssd train vgg16_ssd300 --data /data/VOC2007 --distribute mirrored --batch-size 64 --lr-scaling linear
  TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}' \
      kssd train face_ssd --data /shared/widerface --distribute multi_worker --out /shared/runs/face
"""


def add_parser(subparsers):
    import argparse

    parser = subparsers.add_parser(
        "train",
        help="train a detector with model.fit (checkpoints, resume, evaluation callbacks)",
        description="Train MODEL_OR_SPEC (a zoo model name, a YAML spec or a .keras file) on "
        "--data: 'shapes' / 'shapes:N' (generated), a TFRecord file/glob/directory, or a "
        "dataset root (WIDER FACE, VOC, COCO, YOLO layouts). Validation: --val-data, else the "
        "data's val split, else --val-fraction of the training images. Writes checkpoints, "
        "history.csv, TensorBoard logs, model.keras and results.json into --out.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "model", metavar="MODEL_OR_SPEC", help="zoo model name (e.g. face_ssd), YAML spec path or .keras file"
    )
    parser.add_argument(
        "--data", required=True, help="training data: shapes[:N], TFRecords, or a dataset root"
    )
    parser.add_argument(
        "--val-data",
        default=None,
        help="validation data (same forms; default: --data's val split, else --val-fraction of it)",
    )
    parser.add_argument(
        "--train-split", default=None, help="split of --data to train on (default: the reader's first split)"
    )
    parser.add_argument(
        "--val-split",
        default=None,
        help="split of --val-data (or of --data) to validate on (default: the first split of --val-data; "
        "of --data its val, val2017 or test split)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="fraction held out when there is no validation split (default 0.1)",
    )
    parser.add_argument(
        "--max-val-images", type=int, default=500, help="evaluate on at most this many images (default 500)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="epochs to train (default: the spec's)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="images per step over all devices (the global batch; default: the spec's)",
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="batches per epoch (default: training images // batch size)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="override the spec's (initial) learning rate (default: the spec's)",
    )
    parser.add_argument(
        "--augmentation",
        choices=AUGMENTATIONS,
        default=None,
        help="augmentation chain (default: the spec's)",
    )
    parser.add_argument(
        "--metric",
        choices=METRICS,
        default=None,
        help="validation metric (default: widerface for face models, else voc12)",
    )
    parser.add_argument("--eval-every", type=int, default=1, help="evaluate every N epochs (default 1)")
    parser.add_argument("--out", default="runs/train", help="run folder (default runs/train)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a previous run in --out (without it or --resume, such a folder is refused)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the last good checkpoint in --out"
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="initial weights: file (.weights.h5, .keras, .onnx) or preset (default: the model's "
        "initialisation from its spec)",
    )
    parser.add_argument(
        "--mixed-precision", action="store_true", help="mixed_float16 on GPU, mixed_bfloat16 on CPU"
    )
    parser.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after the epoch that ends past this many seconds (default: no limit)",
    )
    parser.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard logs")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--bn-momentum",
        type=float,
        default=None,
        metavar="M",
        help="momentum of every BatchNormalization layer (default: the spec's; 0.9 suits short runs)",
    )
    parser.add_argument(
        "--distribute",
        choices=DISTRIBUTE_CHOICES,
        default="none",
        help="train on several devices: mirrored (the GPUs of this machine; JAX: DataParallel over "
        "the visible devices), multi_worker (several machines, cluster from TF_CONFIG), tpu "
        "(TPU_NAME); --batch-size is then the global batch (default: none, one device)",
    )
    parser.add_argument(
        "--devices",
        type=int,
        default=None,
        metavar="N",
        help="with --distribute mirrored: use N local devices (default: every GPU; without a GPU, "
        "N logical CPU devices, for trying a distributed run here)",
    )
    parser.add_argument(
        "--lr-scaling",
        choices=LR_SCALING,
        default="none",
        help="linear: learning rate x (--batch-size / the spec's batch size) (default: none)",
    )
    parser.add_argument(
        "--local-batch-norm",
        action="store_true",
        help="with several tf.distribute replicas, normalize each replica's slice of the batch on its "
        "own (default: statistics over the global batch, the one-device result)",
    )
    parser.add_argument(
        "--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras verbosity (default 1: progress bar)"
    )
    parser.set_defaults(func=run)


def run(args):
    from kssd_zoo.training import results_table, train

    for name in ("epochs", "batch_size", "steps_per_epoch", "eval_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if not 0.0 <= args.val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    if args.bn_momentum is not None and not 0.0 <= args.bn_momentum <= 1.0:
        raise ValueError(f"--bn-momentum must be in [0, 1], got {args.bn_momentum}")
    result = train(
        args.model,
        args.data,
        args.val_data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch,
        out_dir=args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        weights=args.weights,
        mixed_precision=args.mixed_precision,
        jit_compile=True if args.jit_compile else "auto",
        metric=args.metric,
        eval_every=args.eval_every,
        augmentation=args.augmentation,
        learning_rate=args.learning_rate,
        val_fraction=args.val_fraction,
        train_split=args.train_split,
        val_split=args.val_split,
        max_val_images=args.max_val_images,
        seed=args.seed,
        time_limit=args.time_limit,
        tensorboard=not args.no_tensorboard,
        batch_norm_momentum=args.bn_momentum,
        strategy=args.distribute,
        devices=args.devices,
        lr_scaling=args.lr_scaling,
        sync_batch_norm=not args.local_batch_norm,
        verbose=args.verbose,
    )
    print()
    history = result["history"]
    summary = {}
    if history.get("loss"):
        summary["final loss"] = history["loss"][-1]
    summary.update(result["val_metrics"] or {})
    if summary:
        print(
            results_table(
                summary,
                title=f"{result['metric']} after epoch "
                f"{result['initial_epoch'] + len(history.get('loss', []))}",
            )
        )
    skipped = result["skipped_images"]
    if skipped:
        print(f"skipped {len(skipped)} unusable image(s) (all listed in results.json):")
        for entry in skipped[:5]:
            detail = f" ({entry['detail']})" if entry["detail"] else ""
            print(f"  {entry['image']}: {entry['reason']}{detail}")
        if len(skipped) > 5:
            print(f"  ... and {len(skipped) - 5} more")
    print(
        f"trained {len(history.get('loss', []))} epoch(s) in {result['train_seconds']:.0f} s; "
        f"model: {result['model_path']}; checkpoints: {result['checkpoints']}"
    )
    return 0
