"""Train the slim face SSD on WIDER FACE, resumably, then evaluate it (easy / medium / hard).

Full run (GPU recommended; the spec's recipe: SGD 0.01 with 5 warm-up epochs, decays at 50 and
70, face augmentation)::

    python examples/face_ssd_widerface.py --root /data/widerface --out runs/face_ssd
    # killed? the same command with --resume continues from the last good checkpoint
    python examples/face_ssd_widerface.py --root /data/widerface --out runs/face_ssd --resume

``--root`` is the WIDER FACE root (``wider_face_split/``, ``WIDER_train/images``,
``WIDER_val/images``); the official ``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat``
files of the evaluation kit go in ``--val-gt`` (default ``<root>/eval_tools/ground_truth``).

Smoke mode (CPU, about a minute, nothing to download): writes a small WIDER-FACE-layout set
from the demo photo shipped with the package (a public-domain NASA portrait at six sizes, see
``kssd_zoo/sticker/assets/NOTICE.md``: 12 scaled, flipped and darkened copies, 72 labelled
faces), reads it back through the WIDER reader, trains face_ssd for 60 steps and prints the
loss per epoch and the AP on those images (``--root`` runs it on a WIDER FACE root of yours,
e.g. a few real images, instead)::

    python examples/face_ssd_widerface.py --smoke
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

# Face box of each portrait of the demo photo, as fractions of its square tile (x1, y1, x2, y2).
FACE_IN_TILE = (0.35, 0.13, 0.525, 0.34)


def write_demo_widerface(root):
    """Write a WIDER FACE train split (images + ``wider_face_train_bbx_gt.txt``) into ``root``."""
    import cv2

    from kssd.data.images import read_image, write_image
    from kssd_zoo.sticker.make_assets import COLLAGE_TILES, DEMO_PHOTO

    photo = read_image(DEMO_PHOTO)
    faces = np.array(
        [[left, top, left, top] + size * np.array(FACE_IN_TILE) for size, left, top in COLLAGE_TILES]
    )
    root = Path(root)
    folder = root / "WIDER_train" / "images" / "0--Demo"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, (scale, flip, gain) in enumerate(
        (s, f, g) for s in (1.0, 0.75, 0.5) for f in (False, True) for g in (1.0, 0.7)
    ):
        image = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        image = np.clip(image * gain, 0, 255).astype(np.uint8)
        boxes = faces * scale
        if flip:
            image = image[:, ::-1]
            boxes = np.stack(
                [image.shape[1] - boxes[:, 2], boxes[:, 1], image.shape[1] - boxes[:, 0], boxes[:, 3]], 1
            )
        name = f"0--Demo/0_Demo_astronaut_{k}.jpg"
        write_image(root / "WIDER_train" / "images" / name, np.ascontiguousarray(image))
        lines += [name, str(len(boxes))]
        lines += [f"{x1:.0f} {y1:.0f} {x2 - x1:.0f} {y2 - y1:.0f} 0 0 0 0 0 0" for x1, y1, x2, y2 in boxes]
    (root / "wider_face_split").mkdir(exist_ok=True)
    (root / "wider_face_split" / "wider_face_train_bbx_gt.txt").write_text("\n".join(lines) + "\n")
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="WIDER FACE root")
    parser.add_argument("--val-gt", default=None, help="folder of the official val .mat files")
    parser.add_argument(
        "--out", default=None, help="run folder (default: runs/face_ssd; smoke: a temp folder)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="default: the spec's (100)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the spec's (32)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="60 steps on a small set written from the shipped demo photo (or on --root) to check the set-up",
    )
    args = parser.parse_args(argv)

    from kssd_zoo.training import evaluate, results_table, train

    if args.smoke:
        work = Path(tempfile.mkdtemp(prefix="kssd_face_smoke_"))
        root = Path(args.root) if args.root else write_demo_widerface(work / "widerface_demo")
        result = train(
            "face_ssd",
            str(root),
            epochs=3,
            batch_size=4,
            steps_per_epoch=20,
            val_fraction=0.2,
            max_val_images=0,
            out_dir=args.out or str(work / "run"),
            resume=args.resume,
            tensorboard=False,
            batch_norm_momentum=0.9,
            verbose=2,
        )
        losses = result["history"]["loss"]
        print("loss per epoch:", " ".join(f"{v:.2f}" for v in losses))
        report = evaluate(result["model"], str(root), "widerface", progress=False)
        print(results_table(report["metrics"], title=f"face_ssd smoke run, train images of {root}"))
        return 0
    if not args.root:
        parser.error("--root is required (or use --smoke)")
    # Validation during training: the official val split, easy/medium/hard with the .mat files.
    val_gt = args.val_gt or str(Path(args.root) / "eval_tools" / "ground_truth")
    result = train(
        "face_ssd",
        args.root,
        val_split="val",
        epochs=args.epochs,
        batch_size=args.batch_size,
        out_dir=args.out or "runs/face_ssd",
        resume=args.resume,
        mixed_precision=args.mixed_precision,
        metric="widerface",
        eval_every=5,
        max_val_images=500,
    )
    report = evaluate(
        result["model"],
        args.root,
        "widerface",
        split="val",
        widerface_ground_truth=val_gt if Path(val_gt).is_dir() else None,
    )
    print(results_table(report["metrics"], title="face_ssd on WIDER FACE val"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
