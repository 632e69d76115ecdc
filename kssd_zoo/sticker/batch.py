"""Stickers on many inputs: images, folders (recursive), videos; outputs never overwritten silently.

:func:`run_batch` is what ``kssd sticker`` runs. Output names mirror the inputs under the output
folder (a folder's files keep their relative paths below ``<out>/<folder name>/``); an output that
already exists gets a ``_1``, ``_2``, ... suffix unless ``overwrite=True``. Unreadable images
are skipped and listed in the report with the reason.

Examples:
    >>> from pathlib import Path
    >>> from kssd_zoo.sticker.batch import unique_path
    >>> unique_path(Path("/nonexistent/dir/a.jpg")).name
    'a.jpg'
"""

import json
import os
from pathlib import Path

import numpy as np

from kssd.data.images import IMAGE_SUFFIXES, write_image
from kssd_zoo.sticker.video import VIDEO_SUFFIXES, process_video, video_properties

# Outputs keep the input's format when OpenCV can write it; GIF inputs are written as PNG.
WRITE_SUFFIXES = tuple(s for s in IMAGE_SUFFIXES if s != ".gif")


def unique_path(path, overwrite=False, taken=()):
    """``path``, or ``stem_1.ext``, ``stem_2.ext``, ... when it exists (or is in ``taken``).

    Args:
        path: wished output path.
        overwrite: return ``path`` even if it exists, default False.
        taken: paths already assigned in this run (never reused), default ().

    Examples:
        >>> import tempfile, pathlib
        >>> from kssd_zoo.sticker.batch import unique_path
        >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a.png").write_bytes(b"x")
        >>> unique_path(d / "a.png").name, unique_path(d / "a.png", overwrite=True).name
        ('a_1.png', 'a.png')
    """
    path = Path(path)
    taken = set(map(str, taken))
    if (overwrite or not path.exists()) and str(path) not in taken:
        return path
    k = 1
    while True:
        candidate = path.with_name(f"{path.stem}_{k}{path.suffix}")
        if not candidate.exists() and str(candidate) not in taken:
            return candidate
        k += 1


def collect_inputs(inputs):
    """Expand inputs into ``(kind, path, relative_output)`` jobs and a list of problems.

    Folders are walked recursively (sorted); files whose suffix is neither an image nor a video
    are ignored inside folders but reported when named directly.

    Args:
        inputs: file and folder paths.

    Returns:
        ``(jobs, problems)``: jobs are ``("image" | "video", Path, Path)``, problems are
        ``{"input", "reason"}`` dicts.

    Examples:
        >>> from kssd_zoo.sticker.batch import collect_inputs
        >>> collect_inputs(["/no/such/file.jpg"])[1][0]["reason"]
        'no such file or folder'
    """
    jobs, problems = [], []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                suffix = file.suffix.lower()
                relative = Path(path.resolve().name or "input") / file.relative_to(path)
                if suffix in IMAGE_SUFFIXES:
                    jobs.append(("image", file, image_output(relative)))
                elif suffix in VIDEO_SUFFIXES:
                    jobs.append(("video", file, relative.with_suffix(".mp4")))
        elif path.is_file():
            suffix = path.suffix.lower()
            if suffix in VIDEO_SUFFIXES:
                jobs.append(("video", path, Path(path.name).with_suffix(".mp4")))
            else:
                jobs.append(("image", path, image_output(Path(path.name))))
        else:
            problems.append({"input": str(path), "reason": "no such file or folder"})
    return jobs, problems


def image_output(relative):
    """Where an image's output goes: its own name, or ``x_gif.png`` for formats OpenCV cannot write.

    The source format stays in the name, so ``x.gif`` never replaces the output of ``x.png``.

    Examples:
        >>> from pathlib import Path
        >>> from kssd_zoo.sticker.batch import image_output
        >>> image_output(Path("a/x.jpg")).as_posix(), image_output(Path("x.gif")).as_posix()
        ('a/x.jpg', 'x_gif.png')
    """
    if relative.suffix.lower() in WRITE_SUFFIXES:
        return relative
    return relative.with_name(f"{relative.stem}_{relative.suffix.lower().lstrip('.')}.png")


def batch_workers(stickerer, workers=None):
    """How many photos :func:`run_batch` stickers at once: ``workers``, or by default every CPU
    core when the detector can be called from several threads (the TFLite runtime: decoding,
    detection, landmarks and writing of different photos then overlap), else 1."""
    if workers is not None:
        if int(workers) < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        return int(workers)
    return (os.cpu_count() or 1) if getattr(_runner(stickerer), "thread_safe", False) else 1


def _runner(stickerer):
    """The network runner of a stickerer's SSD detector (None for other detectors)."""
    return getattr(getattr(stickerer, "detector", None), "runner", None)


def _sticker_image(stickerer, path, target):
    """Read, sticker and write one photo: ``(item, None)`` or ``(None, skipped entry)``."""
    from kssd.data.images import ImageReadError, read_image

    try:
        image = read_image(path)
    except ImageReadError as err:
        return None, {"input": str(path), "reason": err.reason, "detail": err.detail}
    out, faces = stickerer(image)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_image(target, out)
    except OSError as err:
        return None, {"input": str(path), "reason": "output not written", "detail": str(err)}
    item = {
        "input": str(path),
        "output": str(target),
        "kind": "image",
        "size": [int(image.shape[0]), int(image.shape[1])],
        "faces": faces,
    }
    return item, None


def run_batch(
    stickerer, inputs, out_dir, *, overwrite=False, report=None, progress=True, verbose=True, workers=None
):
    """Sticker every image and video in ``inputs`` into ``out_dir`` and optionally write a JSON report.

    Photos are stickered by ``workers`` threads at once (:func:`batch_workers`); the report
    keeps the order of the inputs either way. Videos run one at a time, frame by frame.

    Args:
        stickerer: a :class:`~kssd_zoo.sticker.Stickerer`.
        inputs: image files, video files and folders.
        out_dir: output folder (created).
        overwrite: replace existing outputs instead of adding a suffix, default False.
        report: JSON report path, default None (no file; the dict is returned anyway).
        progress: tqdm progress bar, default True.
        verbose: print a summary, default True.
        workers: photos in flight, default None (:func:`batch_workers`).

    Returns:
        The report dict: ``items`` (per input: ``input``, ``output``, ``kind``, ``size``,
        ``faces``, for videos ``frames``, ``fps``), ``skipped`` (``input``, ``reason``),
        ``sticker``, ``detector`` and ``summary`` counts.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs, skipped = collect_inputs(inputs)
    workers = batch_workers(stickerer, workers)
    runner = _runner(stickerer)
    if workers > 1 and getattr(runner, "thread_safe", False):
        # each worker's interpreter gets its share of the cores
        runner.num_threads = max(1, (os.cpu_count() or 1) // workers)
    items, taken = [], []
    bar = tqdm(total=len(jobs), desc="stickers", unit="file", disable=not progress)
    pending = []  # photos in flight, in input order

    def finish_one():
        item, skip = pending.pop(0).result()
        if skip is not None:
            skipped.append(skip)
        else:
            items.append(item)
        bar.update(1)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kssd-sticker") as pool:
        for kind, path, relative in jobs:
            target = unique_path(out_dir / relative, overwrite=overwrite, taken=taken)
            taken.append(target)
            if kind == "image":
                pending.append(pool.submit(_sticker_image, stickerer, path, target))
                while len(pending) > 2 * workers:  # bounded: a few decoded photos in memory
                    finish_one()
                continue
            while pending:  # a video after the photos before it, in order
                finish_one()
            frames = []
            target.parent.mkdir(parents=True, exist_ok=True)
            props = video_properties(path)
            frame_bar = tqdm(  # a video's progress is counted in frames
                total=props["frames"] or None, desc=path.name, unit="frame", leave=False, disable=not progress
            )
            try:
                count = process_video(
                    stickerer,
                    path,
                    target,
                    on_frame=lambda i, faces, frames=frames: frames.append({"frame": i, "faces": faces}),
                    progress=frame_bar,
                )
            except ValueError as err:
                skipped.append({"input": str(path), "reason": "unreadable video", "detail": str(err)})
                bar.update(1)
                continue
            finally:
                frame_bar.close()
            items.append(
                {
                    "input": str(path),
                    "output": str(target),
                    "kind": "video",
                    "size": [props["height"], props["width"]],
                    "fps": props["fps"],
                    "frames": count,
                    "per_frame": frames,
                }
            )
            bar.update(1)
        while pending:
            finish_one()
    bar.close()
    faces_total = sum(
        len(it["faces"]) if it["kind"] == "image" else sum(len(f["faces"]) for f in it["per_frame"])
        for it in items
    )
    result = {
        "sticker": stickerer.sticker.metadata(),
        "detector": stickerer.detector_name,
        "landmarks": None
        if stickerer.landmarks is None
        else str(getattr(stickerer.landmarks, "path", "custom")),
        "items": items,
        "skipped": skipped,
        "summary": {
            "inputs": len(jobs),
            "written": len(items),
            "skipped": len(skipped),
            "faces": faces_total,
            "faces_with_landmarks": int(
                sum(
                    sum(f["landmarks"] for f in it["faces"])
                    if it["kind"] == "image"
                    else sum(f["landmarks"] for fr in it["per_frame"] for f in fr["faces"])
                    for it in items
                )
            ),
        },
    }
    if report is not None:
        from kssd.files import write_atomically

        report = Path(report)
        report.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=2, default=_json_default)
        write_atomically(report, lambda temporary: Path(temporary).write_text(text))
    if verbose:
        print_summary(result)
    return result


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def print_summary(result):
    """Print a small table: per output the number of faces, then the skipped inputs."""
    rows = [
        (
            Path(it["output"]).name,
            it["kind"],
            str(len(it["faces"])) if it["kind"] == "image" else f"{it['frames']} frames",
        )
        for it in result["items"]
    ]
    width = max([len(r[0]) for r in rows] + [6])
    print(f"{'output':<{width}}  {'kind':<5}  faces")
    for name, kind, faces in rows:
        print(f"{name:<{width}}  {kind:<5}  {faces}")
    for skip in result["skipped"]:
        detail = f" ({skip['detail']})" if skip.get("detail") else ""
        print(f"skipped {skip['input']}: {skip['reason']}{detail}")
    s = result["summary"]
    print(
        f"{s['written']} written, {s['skipped']} skipped, {s['faces']} faces "
        f"({s['faces_with_landmarks']} placed with landmarks)"
    )
