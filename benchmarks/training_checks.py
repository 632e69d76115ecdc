"""Real training checks that take minutes on a CPU (too long for the test suite).

Each check trains through ``kssd_zoo.training.train`` (``model.fit`` + SSDLoss + the kssd
callbacks) and prints what it reached and in how long:

* ``shapes``: tiny_ssd on generated shapes, mAP@0.5 (VOC all-point) on 300 held-out images
  (target >= 0.9 within 5 minutes of CPU);
* ``ultraface``: ultraface_slim with the imported ONNX weights, AP on the dlib PASCAL test faces
  before and after fine-tuning on widerface_mini (target: |change| <= 0.05);
* ``face_ssd``: face_ssd from scratch overfitting widerface_mini (train-set AP over all valid
  faces, start vs end);
* ``vgg16_ssd300``, ``mobilenetv2_ssd``: overfitting coco128, or its first ``--coco-images``
  images (train-set mAP@0.5; target > 0.5). Measured figures: docs/guides/training.md.

Usage::

    python benchmarks/training_checks.py shapes ultraface --budget 300
    python benchmarks/training_checks.py all --budget 600
    python benchmarks/training_checks.py vgg16_ssd300 --budget 1200 --coco-images 8

Data come from ``<repo>/../shared`` (override with ``--shared``).
"""

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECKS = ("shapes", "ultraface", "face_ssd", "vgg16_ssd300", "mobilenetv2_ssd")


def _ap(model, records, metric="voc12"):
    from kssd.inference.detect_fn import make_detect_fn
    from kssd.metrics import detect_records, detection_metrics

    found = detect_records(make_detect_fn(model), records)
    return detection_metrics(metric, records, found)


def _matching(matching):
    """Spec overrides for ``--matching`` (None keeps the spec's)."""
    return {} if matching is None else {"matching": matching}


def check_shapes(budget, out, matching=None):
    from kssd_zoo.training import train

    started = time.perf_counter()
    result = train(
        "tiny_ssd",
        "shapes:3200",
        epochs=40,
        batch_size=32,
        steps_per_epoch=50,
        learning_rate=3e-3,
        augmentation="none",
        max_val_images=300,
        time_limit=budget,
        out_dir=out / "shapes",
        tensorboard=False,
        verbose=2,
        overrides=_matching(matching),
    )
    maps = result["history"].get("val_mAP", [])
    first = next((i for i, v in enumerate(maps) if v >= 0.9), None)
    print(f"[shapes] tiny_ssd: val mAP@0.5 per epoch (50 steps, batch 32): {[round(v, 3) for v in maps]}")
    print(
        f"[shapes] final mAP@0.5 {maps[-1]:.3f} after {len(maps) * 50} steps, "
        f"{result['train_seconds']:.0f} s training ({time.perf_counter() - started:.0f} s "
        f"in all); >= 0.9 first after epoch "
        f"{first + 1 if first is not None else 'never'}"
    )


def check_ultraface(budget, out, shared, epochs=4):
    import keras

    import kssd_zoo
    from kssd.data import ImglabReader, WiderFaceReader
    from kssd_zoo.training import train

    test = list(ImglabReader(shared / "data" / "faces" / "dlib_pascal" / "testing.xml"))
    model = kssd_zoo.ultraface_slim(
        weights=str(shared / "models" / "ultraface" / "version-slim-320.onnx"), compile=False
    )
    before = _ap(model, test)["mAP"]
    records = list(WiderFaceReader(shared / "data" / "faces" / "widerface_mini"))
    keras.utils.set_random_seed(0)
    result = train(
        model,
        records,
        epochs=epochs,
        batch_size=5,
        learning_rate=1e-4,
        max_val_images=0,
        time_limit=budget,
        out_dir=out / "ultraface",
        tensorboard=False,
        verbose=2,
    )
    after = _ap(result["model"], test)["mAP"]
    print(
        f"[ultraface] ultraface_slim (ONNX weights) AP@0.5 on dlib PASCAL test faces "
        f"({sum(len(r['boxes']) for r in test)} faces, {len(test)} images): before "
        f"{before:.3f}, after {len(result['history'].get('loss', []))} epochs of fine-tuning "
        f"on widerface_mini {after:.3f} (change {after - before:+.3f}; "
        f"{result['train_seconds']:.0f} s)"
    )
    return before, after


def _ap_recalibrated_batch_norm(model, root):
    """Train-set AP after re-estimating BatchNorm's moving statistics on the training images.

    With Keras' default momentum 0.99 the moving averages lag far behind in a run this short
    (the check trains with 0.9, PyTorch's default, so they follow); one forward pass in
    training mode with momentum 0 replaces them by the statistics of the 10 training images
    (no weight is trained), which shows what the weights have learnt.
    """
    import keras

    from kssd.compat import all_layers
    from kssd.data import WiderFaceReader, load_dataset
    from kssd.inference.detect_fn import make_detect_fn
    from kssd.metrics import detect_records, detection_metrics

    records = list(WiderFaceReader(root))
    images, _ = next(iter(load_dataset(records, model=model, training=False, batch_size=len(records))))
    norms = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(norms, saved):
        layer.momentum = momentum
    found = detect_records(make_detect_fn(model), records, batch_size=len(records))
    return detection_metrics("widerface", records, found)["AP_all"]


def check_face_ssd(budget, out, shared, matching=None):
    from kssd_zoo.training import train

    root = shared / "data" / "faces" / "widerface_mini"
    # Adam without warm-up: the spec's SGD recipe (5 warm-up epochs of a 400-step epoch) is
    # made for the full dataset and barely moves in 10-image epochs.
    adam = {
        "batch_size": 10,
        "epochs": 400,
        "optimizer": {"name": "adam"},
        "schedule": {"name": "constant", "learning_rate": 1e-3},
        "loss": {"neg_pos_ratio": 3},
        "augmentation": "none",
    }
    result = train(
        "face_ssd",
        str(root),
        val_data=str(root),
        val_split="train",
        epochs=400,
        batch_size=10,
        metric="widerface",
        eval_every=10,
        time_limit=budget,
        out_dir=out / "face_ssd",
        tensorboard=False,
        verbose=0,
        overrides={"training": adam, **_matching(matching)},
        batch_norm_momentum=0.9,
    )
    aps = [v for v in result["history"].get("val_AP_all", []) if v == v]
    aps.append((result["val_metrics"] or {}).get("AP_all", float("nan")))
    recalibrated = _ap_recalibrated_batch_norm(result["model"], root)
    print(f"[face_ssd] train-set AP after re-estimating BatchNorm statistics: {recalibrated:.3f}")
    print(
        f"[face_ssd] from scratch on widerface_mini (10 images, 146 faces): train-set AP "
        f"(all valid faces) every 10 epochs and at the end {[round(v, 3) for v in aps]}; "
        f"{len(result['history'].get('loss', []))} epochs in "
        f"{result['train_seconds']:.0f} s"
    )


def check_coco(
    name,
    budget,
    out,
    shared,
    images=None,
    batch_size=8,
    learning_rate=None,
    resume=False,
    mixed_precision=False,
):
    """Overfit coco128 (or its first ``images``); VGG16 has no BatchNorm: Adam 1e-4 by default,
    the others 1e-3."""
    from kssd_zoo.training import resolve_data, train

    records, info = resolve_data(str(shared / "data" / "coco128"))
    records = records[:images] if images else records
    names = list(info["class_names"])
    # Adam at a constant rate, no augmentation, BatchNorm momentum 0.9: the quickest way for a
    # from-scratch network to show it can fit (the specs' SGD recipes are for full datasets).
    rate = learning_rate or (1e-4 if name == "vgg16_ssd300" else 1e-3)
    adam = {"optimizer": {"name": "adam"}, "schedule": {"name": "constant", "learning_rate": rate}}
    result = train(
        name,
        records,
        val_data=records,
        epochs=1000,
        batch_size=batch_size,
        augmentation="none",
        metric="voc12",
        eval_every=5,
        time_limit=budget,
        out_dir=out / name,
        tensorboard=False,
        verbose=0,
        batch_norm_momentum=0.9,
        resume=resume,
        mixed_precision=mixed_precision,
        overrides={"num_classes": len(names), "class_names": names, "training": adam},
    )
    maps = [v for v in result["history"].get("val_mAP", []) if v == v]
    final = (result["val_metrics"] or {}).get("mAP", float("nan"))
    boxes = sum(len(r["boxes"]) for r in records)
    print(
        f"[{name}] coco128 ({len(records)} images, {boxes} boxes, {len(names)} classes) from "
        f"scratch, batch {batch_size}, Adam {rate:g}: train-set mAP@0.5 every 5 epochs "
        f"{[round(v, 3) for v in maps]}, "
        f"at the end {final:.3f}; {len(result['history'].get('loss', []))} epochs, final "
        f"loss {result['history']['loss'][-1]:.3f}, {result['train_seconds']:.0f} s"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checks", nargs="+", choices=CHECKS + ("all",))
    parser.add_argument(
        "--budget", type=float, default=300.0, help="training seconds per check (default 300)"
    )
    parser.add_argument("--shared", default=str(REPO / ".." / "shared"))
    parser.add_argument(
        "--coco-images",
        type=int,
        default=None,
        help="coco checks: train on the first N coco128 images (default all)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="coco checks (default 8)")
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="coco checks: Adam rate (default 1e-4 for vgg16_ssd300, else 1e-3)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="coco checks: continue the run in --out (e.g. at another rate)"
    )
    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        help="coco checks: mixed_bfloat16 on a CPU, mixed_float16 on a GPU",
    )
    parser.add_argument(
        "--matching",
        choices=("bipartite", "forced"),
        default=None,
        help="shapes and face_ssd checks: anchor matching (default: the spec's, bipartite)",
    )
    parser.add_argument("--out", default="/tmp/kssd_training_checks")
    args = parser.parse_args(argv)
    shared, out = Path(args.shared).resolve(), Path(args.out)
    checks = CHECKS if "all" in args.checks else args.checks
    for check in checks:
        started = time.perf_counter()
        if check == "shapes":
            check_shapes(args.budget, out, args.matching)
        elif check == "ultraface":
            check_ultraface(args.budget, out, shared)
        elif check == "face_ssd":
            check_face_ssd(args.budget, out, shared, args.matching)
        else:
            check_coco(
                check,
                args.budget,
                out,
                shared,
                args.coco_images,
                args.batch_size,
                args.learning_rate,
                args.resume,
                args.mixed_precision,
            )
        print(f"[{check}] done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
