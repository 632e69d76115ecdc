"""Train the slim face SSD on WIDER FACE, resumably, then evaluate it (easy / medium / hard).

Full run (GPU recommended; the spec's recipe: SGD 0.01 with 5 warm-up epochs, decays at 50 and
70, face augmentation)::

    python examples/face_ssd_widerface.py --root /data/widerface --out runs/face_ssd
    # killed? the same command with --resume continues from the last good checkpoint
    python examples/face_ssd_widerface.py --root /data/widerface --out runs/face_ssd --resume

``--root`` is the WIDER FACE root (``wider_face_split/``, ``WIDER_train/images``,
``WIDER_val/images``); the official ``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat``
files of the evaluation kit go in ``--val-gt`` (default ``<root>/eval_tools/ground_truth``).

Smoke mode (a few steps on ``../shared/data/faces/widerface_mini``, CPU, about a minute)::

    python examples/face_ssd_widerface.py --smoke
"""

import argparse
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="WIDER FACE root")
    parser.add_argument("--val-gt", default=None, help="folder of the official val .mat files")
    parser.add_argument("--out", default="runs/face_ssd", help="run folder")
    parser.add_argument("--epochs", type=int, default=None, help="default: the spec's (100)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the spec's (32)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument(
        "--smoke", action="store_true", help="a few steps on widerface_mini (../shared) to check the set-up"
    )
    args = parser.parse_args(argv)

    from kssd_zoo.training import evaluate, results_table, train

    if args.smoke:
        root = SHARED / "data" / "faces" / "widerface_mini"
        if not root.is_dir():
            parser.error(f"--smoke needs {root.resolve()}")
        result = train(
            "face_ssd",
            str(root),
            epochs=2,
            batch_size=4,
            steps_per_epoch=1,
            val_fraction=0.2,
            out_dir=args.out,
            resume=args.resume,
            tensorboard=False,
            verbose=2,
        )
        report = evaluate(result["model"], str(root), "widerface", progress=False)
        print(results_table(report["metrics"], title="face_ssd smoke run, train images"))
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
        out_dir=args.out,
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
