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


def run_batch(stickerer, inputs, out_dir, *, overwrite=False, report=None, progress=True, verbose=True):
    """Sticker every image and video in ``inputs`` into ``out_dir`` and optionally write a JSON report.

    Args:
        stickerer: a :class:`~kssd_zoo.sticker.Stickerer`.
        inputs: image files, video files and folders.
        out_dir: output folder (created).
        overwrite: replace existing outputs instead of adding a suffix, default False.
        report: JSON report path, default None (no file; the dict is returned anyway).
        progress: tqdm progress bar, default True.
        verbose: print a summary, default True.

    Returns:
        The report dict: ``items`` (per input: ``input``, ``output``, ``kind``, ``size``,
        ``faces``, for videos ``frames``, ``fps``), ``skipped`` (``input``, ``reason``),
        ``sticker``, ``detector`` and ``summary`` counts.
    """
    from tqdm.auto import tqdm

    from kssd.data.images import ImageReadError, read_image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs, skipped = collect_inputs(inputs)
    items, taken = [], []
    faces_total = 0
    bar = tqdm(jobs, desc="stickers", unit="file", disable=not progress)
    for kind, path, relative in bar:
        target = unique_path(out_dir / relative, overwrite=overwrite, taken=taken)
        taken.append(target)
        if kind == "image":
            try:
                image = read_image(path)
            except ImageReadError as err:
                skipped.append({"input": str(path), "reason": err.reason, "detail": err.detail})
                continue
            out, faces = stickerer(image)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_image(target, out)
            except OSError as err:
                skipped.append({"input": str(path), "reason": "output not written", "detail": str(err)})
                continue
            faces_total += len(faces)
            items.append(
                {
                    "input": str(path),
                    "output": str(target),
                    "kind": "image",
                    "size": [int(image.shape[0]), int(image.shape[1])],
                    "faces": faces,
                }
            )
        else:
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
                continue
            finally:
                frame_bar.close()
            faces_total += sum(len(f["faces"]) for f in frames)
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
    bar.close()
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
        report = Path(report)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=2, default=_json_default))
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
