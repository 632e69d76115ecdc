"""The design-card call with defaults only, on a user's own 4-image dataset.

    model = face_ssd(); model.fit(load_dataset("training.xml", model))

Trains on dlib's 4 PASCAL photos with faces (``training.xml``, 18 faces) with every default
(the spec's SGD schedule, batch_size 32 -> one batch of 4 per epoch) and prints the AP
(voc12, every face counts) on the training photos and on the 5 held-out photos
(``testing.xml``, 25 faces) every ``--every`` epochs.

    python benchmarks/design_card_small_data.py --epochs 400 --every 100
"""

import argparse
import time
import warnings
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "dlib_pascal"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=400, help="epochs to train (default: 400)")
    parser.add_argument("--every", type=int, default=100, help="evaluate every N epochs (default: 100)")
    parser.add_argument("--data", type=Path, default=SHARED, help="dlib_pascal folder (default: ../shared's)")
    args = parser.parse_args(argv)
    if not (args.data / "training.xml").exists():
        raise SystemExit(f"{args.data}/training.xml not found: pass --data to dlib's PASCAL faces folder")

    from kssd.data import load_dataset
    from kssd_zoo import face_ssd
    from kssd_zoo.training import evaluate

    model = face_ssd()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the small-data and warm-up warnings are the point here
        ds = load_dataset(args.data / "training.xml", model)
    rows, started = [], time.perf_counter()
    for epoch in range(args.every, args.epochs + 1, args.every):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(ds, epochs=epoch, initial_epoch=epoch - args.every, verbose=0)
        seconds = time.perf_counter() - started
        scores = [
            evaluate(model, args.data / f"{split}.xml", "voc12", progress=False)["metrics"]["mAP"]
            for split in ("training", "testing")
        ]
        rate = float(model.optimizer.learning_rate)
        rows.append((epoch, int(model.optimizer.iterations.numpy()), rate, *scores, seconds))
        print(
            f"epoch {epoch}: train AP {scores[0]:.3f}, test AP {scores[1]:.3f} ({seconds:.0f} s)", flush=True
        )
    print("\n| epochs | steps | learning rate | AP training.xml | AP testing.xml | seconds |")
    print("|---:|---:|---:|---:|---:|---:|")
    for epoch, steps, rate, train_ap, test_ap, seconds in rows:
        print(f"| {epoch} | {steps} | {rate:.2g} | {train_ap:.3f} | {test_ap:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
