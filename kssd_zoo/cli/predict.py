"""``kssd predict``: detect objects in images and folders, draw them, write COCO-style JSON."""

import json
import sys
from pathlib import Path

from kssd.data.images import IMAGE_SUFFIXES


def collect_images(inputs):
    """Expand files and folders (recursively, image suffixes only) into a sorted file list."""
    files = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"image or folder {item} does not exist")
    return files


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="detect objects in images; write drawn images and a COCO results JSON",
        description="Run a detector on images and folders. Writes one drawn image per input, "
        "detections.json (COCO results list: image_id, category_id, bbox [x, y, w, h] in pixels, score) "
        "and images.json (image_id -> file name, categories, skipped files).",
    )
    parser.add_argument("model", help="zoo model name, YAML spec or .keras file")
    parser.add_argument("images", nargs="+", help="image files and/or folders")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--weights", default=None, help="weights file or preset name")
    parser.add_argument("--score-threshold", type=float, default=None)
    parser.add_argument("--iou-threshold", type=float, default=None)
    parser.add_argument("--max-detections", type=int, default=None)
    parser.add_argument(
        "--input-size",
        default="spec",
        help='"spec" (default), "native" (each image at its own size, padded) or HxW, e.g. 480x640',
    )
    parser.set_defaults(func=run)
    return parser


def parse_input_size(text):
    """``"spec"`` -> "spec", ``"native"``/``"none"`` -> None, ``"480x640"`` -> (480, 640)."""
    if text in (None, "spec"):
        return "spec"
    if text.lower() in ("native", "none"):
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--input-size must be spec, native or HxW (e.g. 480x640), got {text!r}") from None
    return h, w


def run(args):
    import cv2
    from tqdm import tqdm

    from kssd.data.images import ImageReadError, read_image
    from kssd.inference import detect
    from kssd.visualization import draw_detections
    from kssd_zoo.loading import load

    model = load(args.model, args.weights)
    files = collect_images(args.images)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = getattr(model, "class_names", None)
    results, file_names, skipped = [], [], []
    for path in tqdm(files, desc="predict", unit="img", disable=len(files) < 2):
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
        image_id = len(file_names)
        file_names.append(str(path))
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
        drawn = draw_detections(image, det["boxes"], det["classes"], det["scores"], class_names=names)
        target = (
            out_dir
            / f"{path.stem}_det{path.suffix if path.suffix.lower() in ('.jpg', '.jpeg', '.png') else '.png'}"
        )
        cv2.imwrite(str(target), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(names or [])]
    with open(out_dir / "detections.json", "w") as handle:
        json.dump(results, handle)
    with open(out_dir / "images.json", "w") as handle:
        json.dump(
            {
                "images": [{"id": i, "file_name": f} for i, f in enumerate(file_names)],
                "categories": categories,
                "skipped": skipped,
            },
            handle,
            indent=1,
        )
    print(
        f"{len(file_names)} images, {len(results)} detections -> {out_dir / 'detections.json'} "
        f"(COCO results; file names in images.json)"
    )
    if skipped:
        print(f"skipped {len(skipped)} unreadable file(s):", file=sys.stderr)
        for line in skipped:
            print(f"  {line}", file=sys.stderr)
    return 0 if file_names or not files else 1
