"""``kssd evaluate``: detect on a dataset and print VOC / WIDER FACE / COCO metrics."""

from kssd_zoo.cli._choices import METRICS

EXAMPLES = """examples:
  kssd evaluate runs/shapes/model.keras --data shapes:500 --split val --metric voc12
  kssd evaluate face_ssd --weights face.weights.h5 --data /data/widerface --split val \\
      --metric widerface
  kssd evaluate runs/voc/model.keras --data /data/VOC2007test --metric voc07
"""


def add_parser(subparsers):
    import argparse

    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a detector on a dataset (VOC07/VOC12 mAP, WIDER FACE, COCO AP)",
        description="Run MODEL (a .keras file, a zoo model name or a YAML spec, with "
        "--weights) on --data and print a results table. widerface uses the official val "
        ".mat files when --widerface-gt is given or found under the dataset root, else "
        "AP over every valid face (AP_all).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help=".keras file, zoo model name or YAML spec")
    parser.add_argument("--data", required=True, help="shapes[:N], TFRecords, or a dataset root")
    parser.add_argument(
        "--split",
        default=None,
        help="split of --data (e.g. val, train2017; default: the reader's first split)",
    )
    parser.add_argument(
        "--metric",
        choices=METRICS,
        default=None,
        help="metric (default: widerface for face models, else voc12)",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="weights file or preset for the model (default: a .keras file's own, else random)",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    parser.add_argument(
        "--score-threshold", type=float, default=0.01, help="detection score threshold (default 0.01)"
    )
    parser.add_argument(
        "--max-images", type=int, default=None, metavar="N", help="first N images only (default: all)"
    )
    parser.add_argument(
        "--widerface-gt",
        default=None,
        help="folder with the official wider_face_val.mat and wider_{easy,medium,hard}_val.mat "
        "(default: looked for under the dataset root; else AP over every valid face)",
    )
    parser.add_argument(
        "--coco-json",
        default=None,
        help="COCO instances JSON for --metric coco (default: built from the data's annotations)",
    )
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.set_defaults(func=run)


def run(args):
    import json
    import sys

    from kssd.files import write_text_atomically
    from kssd_zoo.loading import load
    from kssd_zoo.training import evaluate, results_table

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    model = load(args.model, weights=args.weights, for_inference=True)
    result = evaluate(
        model,
        args.data,
        args.metric,
        split=args.split,
        batch_size=args.batch_size,
        score_threshold=args.score_threshold,
        max_images=args.max_images,
        widerface_ground_truth=args.widerface_gt,
        coco_ground_truth=args.coco_json,
        progress=True,
    )
    print()
    for message in result["warnings"]:
        print(f"warning: {message}")
    print(
        results_table(
            result["metrics"],
            title=f"{model.name} on {args.data}: {result['metric']}, "
            f"{result['images']} images, {result['detections']} detections, "
            f"{result['seconds']:.1f} s",
        )
    )
    skipped = result["skipped_images"]
    for entry in skipped:
        detail = f" ({entry['detail']})" if entry["detail"] else ""
        print(f"skipped {entry['image']}: {entry['reason']}{detail}", file=sys.stderr)
    if skipped:
        print(f"left {len(skipped)} unusable image(s) out of the evaluation", file=sys.stderr)
    if args.json:
        write_text_atomically(args.json, json.dumps(result, indent=1))
    return 1 if skipped else 0
