"""``kssd sticker``: stickers on every face in photos, folders, videos or a webcam stream."""

import sys

from kssd_zoo.cli._choices import STICKER_QUALITY

_EPILOG = """examples:
  kssd sticker group.jpg --sticker crown --out out/
  kssd sticker photos/ --sticker sunglasses --out out/ --report out/report.json
  kssd sticker clip.mp4 --sticker cat_whiskers --out out/
  kssd sticker --camera 0 --sticker party_hat --out out/
  kssd sticker group.jpg --sticker my_hat.png --anchor top_of_head --out out/
  kssd sticker street.jpg --model vgg16_ssd300 --weights ssd.keras --class person --out out/

the default face detector (UltraFace-RFB, RFB-640 weights) ships in the package: no download.
--quality fast|balanced|best trades speed for small faces (docs: guides/stickers.md)."""


def add_parser(subparsers):
    import argparse

    parser = subparsers.add_parser(
        "sticker",
        help="put stickers on every face (photos, folders, videos, webcam)",
        description="Detect every face (also small, far-away ones) with the face SSD, find dlib "
        "landmarks on the large ones and paste a sticker on each, in photos, folders "
        "(recursive), video files or a webcam stream.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or video files")
    parser.add_argument(
        "--sticker",
        default="crown",
        help="built-in sticker (crown, party_hat, sunglasses, cat_whiskers) or an RGBA "
        "PNG file (default: crown)",
    )
    parser.add_argument(
        "--anchor",
        choices=["top_of_head", "forehead", "eyes", "nose"],
        default=None,
        help="face point for the sticker (default: the built-in's; top_of_head for PNG files)",
    )
    parser.add_argument(
        "--width-ratio",
        type=float,
        default=None,
        help="sticker width relative to the face width (default: the sticker's)",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--model",
        default=None,
        help="zoo model name or .keras file for --detector ssd (default: ultraface_rfb)",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="weight file or preset (default for the face SSD: the ultraface_rfb_640 "
        "preset, shipped in the package)",
    )
    parser.add_argument(
        "--detector", choices=["ssd", "dlib-hog"], default="ssd", help="face detector (default: ssd)"
    )
    parser.add_argument(
        "--class",
        dest="class_name",
        default=None,
        help="class to put stickers on, for a multi-class --model (default: face)",
    )
    parser.add_argument(
        "--landmarks",
        default="68",
        help="dlib landmarks: 68, 5, a .dat path or none (default: 68; needs "
        "`pip install face_recognition_models` or a path; missing -> box placement)",
    )
    parser.add_argument(
        "--min-landmark-size",
        type=float,
        default=40.0,
        help="faces at least this many pixels get landmarks (default: 40)",
    )
    parser.add_argument(
        "--long-side",
        type=int,
        default=None,
        help="detection resolution, long side in px (default: the image's own size, at most 2048)",
    )
    parser.add_argument(
        "--passes",
        choices=["auto", "native"],
        default="auto",
        help="sizes an SSD runs at: auto = the image's own size plus the model's trained size "
        "(fully convolutional models; plus 640 px above 800 px), native = without the trained-size "
        "pass; fixed-size models run once at their size (default: auto)",
    )
    parser.add_argument(
        "--quality",
        choices=STICKER_QUALITY,
        default="fast",
        help="test-time passes of the SSD: fast = none, balanced = also the mirrored photo, "
        "best = also an up-scaled pass for the smallest faces (default: fast)",
    )
    parser.add_argument(
        "--runtime",
        choices=["auto", "keras", "tflite"],
        default="auto",
        help="where the SSD runs: auto = the shipped TFLite file of the standard face detector "
        "(no TensorFlow import) when it gives the Keras path's detections, else Keras; "
        "tflite insists on the file (default: auto)",
    )
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=None,
        help="detection score threshold (default: the model's, 0.7 for UltraFace)",
    )
    parser.add_argument(
        "--no-alpha",
        choices=["white", "opaque", "error"],
        default="white",
        help="sticker PNG without alpha: near-white becomes transparent (default), "
        "paste opaque, or stop with an error",
    )
    parser.add_argument("--report", default=None, help="write a JSON report (faces, placements) to this file")
    parser.add_argument(
        "--camera", type=int, default=None, metavar="N", help="read webcam N instead of files"
    )
    parser.add_argument("--max-frames", type=int, default=None, help="stop a video/webcam after N frames")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs (default: add a _1, _2, ... suffix)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    # Runs without TensorFlow on the shipped TFLite detector; the Keras path imports the zoo itself.
    parser.set_defaults(func=run, imports_zoo=False)


def _make_stickerer(args):
    from kssd_zoo.sticker import Stickerer

    if args.detector == "dlib-hog" and args.model is not None:
        raise ValueError("--model is for --detector ssd; --detector dlib-hog takes no model")
    ssd_options = (
        {"passes": args.passes, "quality": args.quality, "runtime": args.runtime}
        if args.detector == "ssd"
        else {}
    )
    return Stickerer(
        args.detector,
        model=args.model,
        weights=args.weights,
        sticker=args.sticker,
        anchor=args.anchor,
        width_ratio=args.width_ratio,
        landmarks=args.landmarks,
        min_landmark_size=args.min_landmark_size,
        class_name=args.class_name,
        long_side=args.long_side,
        score_threshold=args.score_threshold,
        on_missing_alpha=args.no_alpha,
        **ssd_options,
    )


def run(args):
    import json
    import warnings
    from pathlib import Path

    from kssd_zoo.sticker.detection import WeightsUnavailableError

    if not args.inputs and args.camera is None:
        raise ValueError("give INPUT files/folders or --camera N")
    if args.inputs and args.camera is not None:
        raise ValueError("give either INPUT files/folders or --camera N, not both")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            stickerer = _make_stickerer(args)
        except WeightsUnavailableError as err:
            print(f"kssd sticker: error: {err}", file=sys.stderr)
            return 2
    for warning in caught:
        print(f"kssd sticker: warning: {warning.message}", file=sys.stderr)
    policy = getattr(stickerer.detector, "policy", None)
    print(f"detector: {stickerer.detector_name}" + (f", input size: {policy}" if policy else ""))

    if args.camera is not None:
        from kssd_zoo.sticker.batch import unique_path
        from kssd_zoo.sticker.video import display_available, process_camera

        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        show = display_available()
        target = unique_path(out_dir / f"camera_{args.camera}.mp4", overwrite=args.overwrite)
        frames = []
        print(
            "live preview: press q or Esc to stop"
            if show
            else f"no display: writing the stream to {target} (Ctrl-C to stop)"
        )
        count = process_camera(
            stickerer,
            args.camera,
            target,
            show=show,
            max_frames=args.max_frames,
            on_frame=lambda i, faces: frames.append({"frame": i, "faces": faces}),
        )
        print(f"{len(frames)} frames written to {target}")
        if args.report:
            Path(args.report).write_text(
                json.dumps(
                    {"camera": args.camera, "output": str(target), "frames": count, "per_frame": frames},
                    indent=2,
                )
            )
        return 0

    from kssd_zoo.sticker.batch import run_batch

    result = run_batch(
        stickerer,
        args.inputs,
        args.out,
        overwrite=args.overwrite,
        report=args.report,
        progress=not args.no_progress,
    )
    if args.report:
        print(f"report written to {args.report}")
    return 1 if result["skipped"] else 0
