"""``kssd export``: write a detector with preprocessing, decode and NMS to a deployment format."""

import json
import sys

from kssd_zoo.cli._choices import EXPORT_FORMATS, QUANTIZATIONS
from kssd_zoo.cli.predict import add_postprocess_arguments


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="export a detector (with resize, decode and NMS) and verify the artifact",
        description="Export MODEL end to end (uint8 images in, pixel boxes out). The artifact is "
        "reloaded and compared with the Keras inference model; a mismatch is an error.",
    )
    parser.add_argument("model", help="zoo model name, YAML spec or .keras file")
    parser.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="artifact format")
    parser.add_argument("--out", required=True, help="output path (directory for saved_model)")
    parser.add_argument(
        "--weights",
        default=None,
        help="weights file or preset name (default: a .keras file's own, else random)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument(
        "--quantization",
        choices=QUANTIZATIONS,
        default=None,
        help="TFLite only, default none (float32): float16 = float16 weights; int8 = full-integer "
        "network calibrated on --representative-images (or the sample images; decode/NMS stay float); "
        "dynamic_int8 = int8 weights, float activations",
    )
    parser.add_argument(
        "--representative-images",
        nargs="+",
        default=None,
        metavar="IMAGE_OR_DIR",
        help="int8 only: images (files or folders) to calibrate activation ranges on; use "
        "typical inputs of the deployment",
    )
    parser.add_argument(
        "--max-representative",
        type=int,
        default=200,
        metavar="N",
        help="use at most N representative images (default 200)",
    )
    parser.add_argument(
        "--verify-images",
        nargs="+",
        default=None,
        metavar="IMAGE_OR_DIR",
        help="images (files or folders, at most 50) to compare the artifact with Keras on "
        "(default: synthetic sample images; real images give a meaningful quantization drift)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the export report as JSON instead of the summary table",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="write the artifact without reloading and comparing it (not recommended)",
    )
    add_postprocess_arguments(
        parser,
        input_size_help='network input size of the exported graph: "auto" (default: native for fully '
        "convolutional models with pixel-sized anchors, such as the face detectors, else the "
        'trained size), "spec" (the trained size), "native" (each image\'s own size) or HxW, e.g. 480x640',
        default="auto",
    )
    parser.add_argument(
        "--resize",
        choices=["letterbox", "stretch"],
        default="letterbox",
        help="how images are fitted to the input size: letterbox keeps the aspect ratio (default: letterbox)",
    )
    parser.set_defaults(func=run)
    return parser


def read_images(inputs, limit, option):
    """uint8 RGB images from files and folders (``option`` names the CLI flag in errors).

    Returns:
        ``(images, skipped)``: at most ``limit`` images and the messages of the skipped files.
    """
    from kssd.data.images import ImageReadError, read_image
    from kssd_zoo.cli.predict import collect_images

    images, skipped = [], []
    for path in collect_images(inputs):
        if len(images) >= limit:
            break
        try:
            images.append(read_image(path))
        except ImageReadError as error:
            skipped.append(str(error))
    if not images:
        raise ValueError(
            f"{option}: no readable image in {' '.join(inputs)}"
            + (f" ({len(skipped)} unreadable)" if skipped else "")
        )
    return images, skipped


def _size_bytes(path):
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def summary_table(report):
    """The export report as a two-column table: format, file, size, time, verification or drift.

    Examples:
        >>> from kssd_zoo.cli.export import summary_table
        >>> print(summary_table({"path": "kssd_zoo/specs", "format": "saved_model", "quantization": None,
        ...                      "seconds": 1.5}).splitlines()[1])
        format        saved_model
    """
    rows = [
        ("format", report["format"] + (f" ({report['quantization']})" if report.get("quantization") else ""))
    ]
    rows += [("file", str(report["path"])), ("size", f"{_size_bytes(report['path']):,} bytes")]
    if report.get("input_size"):
        rows.append(("input size", report["input_size"]))
    rows.append(("seconds", f"{report['seconds']:.1f}"))
    check = report.get("verification")
    if check is not None:
        state = "nothing compared" if check.get("nothing_compared") else ("ok" if check["ok"] else "FAILED")
        rows.append(
            (
                "verification",
                f"{state}: {check['matched']} detections matched, {check['unmatched']} unmatched; "
                f"max box diff {check['max_box_diff']:.2g} px, max score diff {check['max_score_diff']:.2g}",
            )
        )
    drift = report.get("drift")
    if drift is not None:
        boxes = "n/a" if drift["max_box_diff"] is None else f"{drift['max_box_diff']:.3g} px"
        rows.append(
            (
                "drift",
                f"{drift['matched']} of {drift['reference_detections']} Keras detections matched "
                f"({drift['export_detections']} exported); max box diff {boxes}",
            )
        )
    if check is None and drift is None:
        rows.append(("verification", "skipped (--no-verify)"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(["export summary", *(f"{name:<{width}}  {value}" for name, value in rows)])


def run(args):
    from kssd.export import export
    from kssd_zoo.cli.predict import parse_input_size
    from kssd_zoo.loading import load

    representative = None
    if args.representative_images:
        if args.quantization != "int8":
            raise ValueError("--representative-images only applies to --quantization int8")
        if args.max_representative < 1:
            raise ValueError(f"--max-representative must be >= 1, got {args.max_representative}")
        representative, skipped = read_images(
            args.representative_images, args.max_representative, "--representative-images"
        )
        print(
            f"calibrating on {len(representative)} image(s)"
            + (f"; skipped {len(skipped)} unreadable: {'; '.join(skipped[:3])}" if skipped else "")
        )
    verify_images = None
    if args.verify_images:
        verify_images, skipped = read_images(args.verify_images, 50, "--verify-images")
        print(
            f"verifying on {len(verify_images)} image(s)"
            + (f"; skipped {len(skipped)} unreadable" if skipped else "")
        )
    model = load(args.model, args.weights, for_inference=True)
    report = export(
        model,
        args.format,
        args.out,
        overwrite=args.overwrite,
        quantization=args.quantization,
        representative_images=representative,
        verify=not args.no_verify,
        verify_images=verify_images,
        score_threshold=args.score_threshold,
        iou_threshold=args.iou_threshold,
        max_detections=args.max_detections,
        input_size=parse_input_size(args.input_size),
        resize=args.resize,
    )
    report.pop("ops", None)
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        print(summary_table(report))
    verification = report.get("verification") or {}
    if verification.get("nothing_compared"):
        print(
            "WARNING: verification compared nothing (no detections on the verification images); "
            "pass --verify-images with photos the model detects objects in",
            file=sys.stderr,
        )
    return 0
