"""The sticker application and ``kssd predict`` from the user's side: start-up and photos per second.

    python benchmarks/bench_apps.py            # about 6 minutes on 2 cores
    python benchmarks/bench_apps.py --quick    # fewer photos and rounds

Prints four tables:

1. One photo, command start to file written (a fresh process each time, best of ``--rounds``),
   next to a bare ``python -c "import tensorflow"`` measured in the same run: ``kssd sticker``
   on its TFLite runtime (the default) and on Keras, and ``kssd predict face_ssd``.
2. Photos per second on folders of 640x480 and 1920x1080 photos, end to end in
   :func:`kssd_zoo.sticker.batch.run_batch` (JPEG decode, detection, dlib's 68 landmarks,
   compositing, JPEG writing), per runtime and number of workers, with the Keras runtime as
   the ratio baseline. The photos are the real photos of ``../shared/data/faces`` resized to
   the size (the demo photo's crops when ../shared is absent).
3. How a photo's cost grows with its size (320x240 to 3840x2160, the demo photo resized).
4. How it grows with the number of faces (copies of one face on a 1280x720 canvas).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_FACES = REPO.parent / "shared" / "data" / "faces"


def _table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(v).ljust(w) for v, w in zip(row, widths)) + " |")


def _source_photos():
    from kssd.data.images import read_image
    from kssd_zoo.sticker.make_assets import DEMO_PHOTO

    paths = sorted((SHARED_FACES / "dlib_pascal").glob("*.jpg"))
    paths += sorted((SHARED_FACES / "widerface_mini" / "WIDER_train").rglob("*.jpg"))
    if paths:
        return [read_image(p) for p in paths], "real photos of ../shared/data/faces"
    demo = read_image(DEMO_PHOTO)
    rng = np.random.default_rng(0)
    crops = []
    for _ in range(12):
        h = int(rng.integers(360, 720))
        w = min(1280, int(h * 4 / 3))
        y, x = int(rng.integers(0, 720 - h + 1)), int(rng.integers(0, 1280 - w + 1))
        crops.append(demo[y : y + h, x : x + w])
    return crops, "crops of the demo photo (../shared absent)"


def _write_folder(folder, images, size, count):
    from kssd.data.images import write_image

    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    for i in range(count):
        image = images[i % len(images)]
        if i >= len(images):
            image = image[:, ::-1]  # a mirrored copy, so repeats are not identical files
        resized = cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=cv2.INTER_AREA)
        write_image(folder / f"photo_{i:03d}.jpg", resized)
    return folder


def _one_photo_rows(photo, rounds, work):
    commands = [
        ("python -c 'import tensorflow' (reference)", [sys.executable, "-c", "import tensorflow"]),
        (
            "kssd sticker, runtime tflite (default)",
            [sys.executable, "-m", "kssd_command", "sticker", str(photo), "--no-progress", "--overwrite"],
        ),
        (
            "kssd sticker, runtime keras",
            [
                sys.executable,
                "-m",
                "kssd_command",
                "sticker",
                str(photo),
                "--no-progress",
                "--overwrite",
                "--runtime",
                "keras",
            ],
        ),
        (
            "kssd predict face_ssd (Keras)",
            [sys.executable, "-m", "kssd_command", "predict", "face_ssd", str(photo), "--overwrite"],
        ),
    ]
    times = {name: [] for name, _ in commands}
    for _ in range(rounds):  # rounds alternate the commands, so drift hits them alike
        for k, (name, command) in enumerate(commands):
            if "kssd" in name:
                command = [*command, "--out", str(work / f"one_{k}")]
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
            times[name].append(seconds)
    reference = min(times[commands[0][0]])
    return [
        (name, f"{min(values):.2f}", f"{np.median(values):.2f}", f"{min(values) / reference:.2f}")
        for name, values in times.items()
    ]


def _photos_per_second(folder, runtime, workers, quality="fast"):
    from kssd_zoo.sticker import Stickerer
    from kssd_zoo.sticker.batch import run_batch

    stickerer = Stickerer(runtime=runtime, quality=quality, landmarks="68")
    photos = sorted(folder.glob("*.jpg"))
    with tempfile.TemporaryDirectory() as out:
        run_batch(stickerer, photos[:2], out, progress=False, verbose=False, workers=workers)  # warm-up
        start = time.perf_counter()
        result = run_batch(stickerer, [folder], out, progress=False, verbose=False, workers=workers)
        seconds = time.perf_counter() - start
    summary = result["summary"]
    return len(photos) / seconds, summary["faces"], summary["faces_with_landmarks"]


def _ms_per_photo(stickerer, image, repeats):
    from kssd.data.images import write_image

    with tempfile.TemporaryDirectory() as out:
        target = Path(out) / "x.jpg"
        stickerer(image)  # warm-up at this size
        detect_times, total_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            found = stickerer.detect(image)
            middle = time.perf_counter()
            result, _ = stickerer(image, detections=found)
            write_image(target, result)
            end = time.perf_counter()
            detect_times.append(middle - start)
            total_times.append(end - start)
    return 1e3 * float(np.median(detect_times)), 1e3 * float(np.median(total_times)), len(found["boxes"])


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer photos and rounds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the one-photo table (default 3)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 3)
    count = 16 if args.quick else 40
    repeats = 3 if args.quick else 7

    import kssd_zoo  # noqa: F401  (registers the zoo for the in-process tables)
    from kssd.data.images import read_image
    from kssd_zoo.sticker import Stickerer
    from kssd_zoo.sticker.make_assets import DEMO_PHOTO

    print(f"CPU cores: {os.cpu_count()}; python {sys.version.split()[0]}")
    images, source = _source_photos()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        photo = _write_folder(work / "one", images, (640, 480), 1) / "photo_000.jpg"
        _table(
            "1. One 640x480 photo, command start to file written (seconds, fresh process)",
            ["command", "best", "median", "x import tensorflow"],
            _one_photo_rows(photo, rounds, work),
        )

        rows = []
        for size in ((640, 480), (1920, 1080)):
            folder = _write_folder(work / f"{size[0]}x{size[1]}", images, size, count)
            baseline = None
            for runtime, workers in (("keras", 1), ("tflite", 1), ("tflite", None)):
                rate, faces, with_landmarks = _photos_per_second(folder, runtime, workers)
                baseline = baseline or rate
                shown = workers or f"{os.cpu_count()} (default)"
                rows.append(
                    (
                        f"{size[0]}x{size[1]}",
                        runtime,
                        shown,
                        f"{rate:.1f}",
                        f"{rate / baseline:.2f}",
                        f"{faces} ({with_landmarks})",
                    )
                )
        _table(
            f"2. Photos per second, {count} photos a folder ({source}), quality fast, 68 landmarks",
            ["size", "runtime", "workers", "photos/s", "x keras", "faces (with landmarks)"],
            rows,
        )

        demo = read_image(DEMO_PHOTO)
        stickerer = Stickerer(landmarks="68")
        rows = []
        for width, height in ((320, 240), (640, 480), (1280, 720), (1920, 1080), (3840, 2160)):
            image = cv2.resize(
                demo, (width, height), interpolation=cv2.INTER_AREA if width < 1280 else cv2.INTER_LINEAR
            )
            detect_ms, total_ms, faces = _ms_per_photo(stickerer, image, repeats)
            rows.append((f"{width}x{height}", f"{detect_ms:.1f}", f"{total_ms:.1f}", faces))
        _table(
            "3. Cost by photo size (the demo photo resized; runtime tflite, one photo at a time, "
            "detection passes as the default plans them)",
            ["size", "detection ms", "end to end ms (with writing)", "faces"],
            rows,
        )

        found = stickerer.detect(demo)
        x1, y1, x2, y2 = found["boxes"][0].astype(int)
        pad = (x2 - x1) // 2
        face = demo[max(0, y1 - pad) : y2 + pad, max(0, x1 - pad) : x2 + pad]
        rows = []
        for n in (1, 4, 16, 36):
            side = int(np.ceil(np.sqrt(n)))
            canvas = np.full((720, 1280, 3), 128, np.uint8)
            cell = min(720 // side, 1280 // side)
            tile = cv2.resize(face, (cell, cell), interpolation=cv2.INTER_AREA)
            for k in range(n):
                r, c = divmod(k, side)
                canvas[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = tile
            detect_ms, total_ms, faces = _ms_per_photo(stickerer, canvas, repeats)
            rows.append((n, f"{cell} px", faces, f"{detect_ms:.1f}", f"{total_ms:.1f}"))
        _table(
            "4. Cost by number of faces (copies of one face on a 1280x720 canvas, runtime tflite)",
            ["faces placed", "face tile", "faces found", "detection ms", "end to end ms"],
            rows,
        )


if __name__ == "__main__":
    main()
