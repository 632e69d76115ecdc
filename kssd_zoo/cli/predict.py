"""``kssd predict``: detect objects in images and folders, draw them, write COCO-style JSON."""

import json
import sys
from pathlib import Path


def collect_images(inputs):
    """Expand files and folders (recursively, image suffixes only) into a sorted file list.

    Raises:
        FileNotFoundError: an input that does not exist.
        ValueError: no image at all, saying what the inputs held instead.
    """
    return [path for path, _ in collect_images_with_names(inputs)]


def collect_images_with_names(inputs):
    """``[(path, relative name), ...]``: the images of ``inputs`` and where their outputs go.

    A folder's images keep their path inside it (prefixed with the folder's name when several
    inputs are given); a file given directly keeps its name. See :func:`collect_images`.
    """
    from kssd.data.images import IMAGE_SUFFIXES

    found, other = [], 0
    several = len(inputs) > 1
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for entry in sorted(path.rglob("*")):
                if entry.suffix.lower() in IMAGE_SUFFIXES and entry.is_file():
                    relative = entry.relative_to(path)
                    found.append((entry, Path(path.name) / relative if several else relative))
                elif entry.is_file():
                    other += 1
        elif path.exists():
            found.append((path, Path(path.name)))
        else:
            raise FileNotFoundError(f"image or folder {item} does not exist")
    if not found:
        held = f"{other} file(s), none with an image suffix ({', '.join(sorted(IMAGE_SUFFIXES))})"
        raise ValueError(f"no images in {' '.join(map(str, inputs))}: {held if other else 'nothing'}")
    return found


def output_name(relative):
    """The drawn image's name: ``a/x.jpg`` -> ``a/x_det.jpg``, ``x.gif`` -> ``x_gif_det.png``.

    JPEG and PNG keep their format; others are written as PNG with their suffix in the name, so
    ``x.png``, ``x.gif`` and ``x.bmp`` never share an output.
    """
    suffix = relative.suffix.lower()
    if suffix in (".jpg", ".jpeg", ".png"):
        return relative.with_name(f"{relative.stem}_det{relative.suffix}")
    return relative.with_name(f"{relative.stem}_{suffix.lstrip('.')}_det.png")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="detect objects in images; write drawn images and a COCO results JSON",
        description="Run a detector on images and folders. Writes one drawn image per input, "
        "detections.json (COCO results list: image_id, category_id, bbox [x, y, w, h] in pixels, score) "
        "and images.json (image_id -> file name, categories, skipped files).",
    )
    parser.add_argument("model", help="zoo model name, YAML spec or .keras file")
    parser.add_argument("images", nargs="+", help="image files and/or folders (searched recursively)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--weights",
        default=None,
        help="weights file or preset name (default: a .keras file's own, else random)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the results of a previous run in --out"
    )
    add_postprocess_arguments(
        parser,
        input_size_help='"auto" (the trained size, plus each image\'s own size for fully convolutional '
        'models, merged; default), "spec" (the trained size), "native" (each image at its own size, '
        "padded) or HxW, e.g. 480x640",
        default="auto",
    )
    parser.set_defaults(func=run)
    return parser


def add_postprocess_arguments(parser, input_size_help, default="spec"):
    """The NMS and input-size options shared by ``kssd predict`` and ``kssd export``."""
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=None,
        help="keep detections scoring at least this (default: the model's)",
    )
    parser.add_argument(
        "--iou-threshold", type=float, default=None, help="IoU threshold of the NMS (default: the model's)"
    )
    parser.add_argument(
        "--max-detections",
        type=int,
        default=None,
        metavar="N",
        help="at most N detections per image (default: the model's)",
    )
    parser.add_argument("--input-size", default=default, help=input_size_help)


def parse_input_size(text):
    """``"spec"``/``"auto"`` as is, ``"native"``/``"none"`` -> None, ``"480x640"`` -> (480, 640)."""
    if text in (None, "spec", "auto"):
        return text or "spec"
    if text.lower() in ("native", "none"):
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(
            f"--input-size must be auto, spec, native or HxW (e.g. 480x640), got {text!r}"
        ) from None
    return h, w


#: What ``kssd predict`` writes besides the drawn images.
RESULT_FILES = ("detections.json", "images.json")


def run(args):
    from tqdm import tqdm

    from kssd.data.images import ImageReadError, read_image, write_image
    from kssd.files import write_text_atomically
    from kssd.inference import describe_input_size, detect
    from kssd.visualization import draw_detections
    from kssd_zoo.loading import load

    out_dir = Path(args.out)
    previous = [name for name in RESULT_FILES if (out_dir / name).exists()]
    if previous and not args.overwrite:
        raise FileExistsError(
            f"--out {out_dir} holds the results of a previous run ({', '.join(previous)}); "
            "pass --overwrite to replace them or choose another --out"
        )
    model = load(args.model, args.weights, for_inference=True)
    items = collect_images_with_names(args.images)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = getattr(model, "class_names", None)
    results, written, skipped, failed, taken = [], [], [], [], set()
    for path, relative in tqdm(items, desc="predict", unit="img", disable=len(items) < 2):
        try:
            image = read_image(path)
        except ImageReadError as error:
            skipped.append(str(error))
            continue
        det = detect(
            model,
            image,
            score_threshold=args.score_threshold,
            iou_threshold=args.iou_threshold,
            max_detections=args.max_detections,
            input_size=parse_input_size(args.input_size),
        )[0]
        target = out_dir / output_name(relative)
        if target in taken:  # two inputs with the same relative name: keep both
            target = target.with_name(f"{target.stem}_{len(written)}{target.suffix}")
        taken.add(target)
        drawn = draw_detections(image, det["boxes"], det["classes"], det["scores"], class_names=names)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_image(target, drawn)
        except OSError as error:
            failed.append(str(error))
            target = None
        image_id = len(written)
        written.append(
            {"id": image_id, "file_name": str(path), "output": None if target is None else str(target)}
        )
        for box, score, cls in zip(det["boxes"], det["scores"], det["classes"]):
            x1, y1, x2, y2 = (float(v) for v in box)
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(cls),
                    "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "score": round(float(score), 5),
                }
            )
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(names or [])]
    write_text_atomically(out_dir / "detections.json", json.dumps(results))
    summary = {"images": written, "categories": categories, "skipped": skipped, "failed_writes": failed}
    write_text_atomically(out_dir / "images.json", json.dumps(summary, indent=1))
    print(
        f"{len(written)} images, {len(results)} detections -> {out_dir / 'detections.json'} "
        f"(COCO results; file names in images.json); input size: "
        + describe_input_size(model, parse_input_size(args.input_size))
    )
    for title, lines in (
        ("skipped {} unreadable file(s)", skipped),
        ("{} drawn image(s) not written", failed),
    ):
        if lines:
            print(title.format(len(lines)) + ":", file=sys.stderr)
            for line in lines:
                print(f"  {line}", file=sys.stderr)
    return 1 if skipped or failed else 0
