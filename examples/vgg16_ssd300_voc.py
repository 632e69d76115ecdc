"""Train VGG16-SSD300 on PASCAL VOC (07+12 trainval) and evaluate VOC2007 test mAP.

Full run (GPU; ImageNet VGG16 backbone weights through keras.applications)::

    python examples/vgg16_ssd300_voc.py --train /data/VOCdevkit/VOC2007 \\
        --train /data/VOCdevkit/VOC2012 --test /data/VOCdevkit/VOC2007 --out runs/voc

``--train`` roots are VOC layouts (``Annotations/``, ``JPEGImages/``, ``ImageSets/Main``), read
with their ``trainval`` split and merged; ``--test`` is read with its ``test`` split and scored
with the VOC2007 11-point AP (``--metric voc12`` for all-point AP). ``--resume`` continues a
killed run from its last good checkpoint.

Smoke mode (generated shapes at 300x300, a couple of steps on the CPU)::

    python examples/vgg16_ssd300_voc.py --smoke
"""

import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", action="append", default=[], help="VOC root (repeatable)")
    parser.add_argument("--test", help="VOC2007 root holding the test split")
    parser.add_argument("--out", default="runs/vgg16_ssd300_voc")
    parser.add_argument("--epochs", type=int, default=None, help="default: the spec's")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the spec's (32)")
    parser.add_argument("--metric", choices=("voc07", "voc12"), default="voc07")
    parser.add_argument("--backbone-weights", default="imagenet", help="'imagenet', a weight file, or 'none'")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny run on generated shapes")
    args = parser.parse_args(argv)

    import kssd_zoo
    from kssd_zoo.training import evaluate, resolve_data, results_table, train

    if args.smoke:
        model = kssd_zoo.vgg16_ssd300(
            num_classes=3, class_names=["circle", "square", "triangle"], compile=False
        )
        result = train(
            model,
            "shapes:8",
            epochs=1,
            batch_size=2,
            steps_per_epoch=1,
            metric="voc07",
            max_val_images=4,
            out_dir=args.out,
            resume=args.resume,
            tensorboard=False,
            verbose=2,
        )
        print(results_table(result["val_metrics"] or {}, title="vgg16_ssd300 smoke run"))
        return 0
    if not args.train or not args.test:
        parser.error("--train and --test are required (or use --smoke)")
    records = []
    for root in args.train:
        part, _ = resolve_data(root, "trainval")
        records += part
    test, _ = resolve_data(args.test, "test")
    backbone = None if args.backbone_weights == "none" else args.backbone_weights
    model = kssd_zoo.vgg16_ssd300(backbone_weights=backbone, compile=False)
    result = train(
        model,
        records,
        test,
        epochs=args.epochs,
        batch_size=args.batch_size,
        metric=args.metric,
        eval_every=10,
        max_val_images=500,
        out_dir=args.out,
        resume=args.resume,
    )
    report = evaluate(result["model"], args.test, args.metric, split="test")
    print(results_table(report["metrics"], title=f"vgg16_ssd300 on VOC2007 test ({args.metric})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
