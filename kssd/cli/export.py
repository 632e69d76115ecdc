"""``kssd export``: write a detector with preprocessing, decode and NMS to a deployment format."""

import json


def add_parser(subparsers):
    from kssd.export import FORMATS
    from kssd.export.tflite import QUANTIZATIONS

    parser = subparsers.add_parser(
        "export", help="export a detector (with resize, decode and NMS) and verify the artifact",
        description="Export MODEL end to end (uint8 images in, pixel boxes out). The artifact is "
        "reloaded and compared with the Keras inference model; a mismatch is an error.",
    )
    parser.add_argument("model", help="zoo model name, YAML spec or .keras file")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, help="output path (directory for saved_model)")
    parser.add_argument("--weights", default=None, help="weights file or preset name")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument(
        "--quantization", choices=[q for q in QUANTIZATIONS if q], default=None,
        help="TFLite only: float16 weights; int8 = full-integer network calibrated on the sample "
        "images (decode/NMS stay float); dynamic_int8 = int8 weights, float activations",
    )
    parser.add_argument("--score-threshold", type=float, default=None)
    parser.add_argument("--iou-threshold", type=float, default=None)
    parser.add_argument("--max-detections", type=int, default=None)
    parser.add_argument("--input-size", default="spec", help='"spec" (default), "native" or HxW')
    parser.add_argument("--resize", choices=["letterbox", "stretch"], default="letterbox")
    parser.set_defaults(func=run)
    return parser


def run(args):
    from kssd.cli.predict import load_model, parse_input_size
    from kssd.export import export

    model = load_model(args.model, args.weights)
    report = export(
        model, args.format, args.out, overwrite=args.overwrite, quantization=args.quantization,
        score_threshold=args.score_threshold, iou_threshold=args.iou_threshold,
        max_detections=args.max_detections, input_size=parse_input_size(args.input_size), resize=args.resize,
    )
    report.pop("ops", None)
    print(json.dumps(report, indent=1, default=str))
    return 0
