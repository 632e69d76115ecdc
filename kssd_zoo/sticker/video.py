"""Stickers on videos and webcam streams with OpenCV (VideoCapture in, VideoWriter ``mp4v`` out).

The output video keeps the input's frame rate and frame size. Frames the capture cannot decode
end the stream; the count of written frames is returned so callers can compare it with the
container's frame count.

Examples:
    >>> from kssd_zoo.sticker.video import VIDEO_SUFFIXES
    >>> ".mp4" in VIDEO_SUFFIXES
    True
"""

import os

import cv2
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
DEFAULT_FPS = 25.0


def _open_writer(path, fps, size):
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (int(size[0]), int(size[1]))
    )
    if not writer.isOpened():
        raise OSError(f"could not open {path} for writing (OpenCV VideoWriter, mp4v)")
    return writer


def video_properties(path):
    """``{"fps", "width", "height", "frames"}`` of a video file as OpenCV reports them.

    Examples:
        >>> from kssd_zoo.sticker.video import video_properties
        >>> video_properties("/no/such.mp4")["frames"]
        0
    """
    capture = cv2.VideoCapture(str(path))
    try:
        return {
            "fps": float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
            "width": int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            "height": int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
            "frames": max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0),
        }
    finally:
        capture.release()


def process_stream(
    stickerer,
    capture,
    out_path,
    *,
    fps=None,
    max_frames=None,
    show=False,
    on_frame=None,
    progress=None,
    window="kssd sticker",
):
    """Read frames from an open ``cv2.VideoCapture``, sticker them and write ``out_path``.

    Args:
        stickerer: a :class:`~kssd_zoo.sticker.Stickerer` (or any ``rgb -> (rgb, faces)`` callable).
        capture: an opened ``cv2.VideoCapture``.
        out_path: output video file (``mp4v``), or None to write nothing (preview only).
        fps: output frame rate, default None (the capture's, else 25).
        max_frames: stop after this many frames, default None (until the stream ends).
        show: show a live preview window (``q`` or Esc quits), default False.
        on_frame: called as ``on_frame(index, faces)`` per frame, default None.
        progress: a tqdm bar to update per frame, default None.
        window: preview window title.

    Returns:
        Number of frames written (or processed when ``out_path`` is None).
    """
    fps = float(fps or capture.get(cv2.CAP_PROP_FPS) or 0.0) or DEFAULT_FPS
    writer = None
    count = 0
    try:
        while max_frames is None or count < max_frames:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            out, faces = stickerer(rgb)
            bgr = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGB2BGR)
            if out_path is not None:
                if writer is None:
                    writer = _open_writer(out_path, fps, (bgr.shape[1], bgr.shape[0]))
                writer.write(bgr)
            if on_frame is not None:
                on_frame(count, faces)
            if progress is not None:
                progress.update(1)
            count += 1
            if show:
                cv2.imshow(window, bgr)
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    break
    finally:
        if writer is not None:
            writer.release()
        if show:
            cv2.destroyWindow(window)
    return count


def process_video(stickerer, in_path, out_path, **kwargs):
    """Sticker every frame of the video ``in_path`` into ``out_path`` (same fps and size).

    Args:
        stickerer: a Stickerer.
        in_path: input video file.
        out_path: output video (``.mp4``, codec ``mp4v``).
        **kwargs: see :func:`process_stream` (``max_frames``, ``on_frame``, ``progress``).

    Returns:
        Number of frames written.

    Raises:
        ValueError: OpenCV cannot open or decode the input.

    Examples:
        >>> from kssd_zoo.sticker.video import process_video
        >>> process_video(None, "/no/such.mp4", "/tmp/x.mp4")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: ...
    """
    if not os.path.isfile(str(in_path)):
        raise ValueError(f"video {in_path}: no such file")
    capture = cv2.VideoCapture(str(in_path))
    if not capture.isOpened():
        raise ValueError(f"video {in_path}: OpenCV could not open it")
    try:
        count = process_stream(stickerer, capture, out_path, **kwargs)
    finally:
        capture.release()
    if count == 0:
        raise ValueError(f"video {in_path}: no frame could be decoded")
    return count


def display_available():
    """Whether an OpenCV preview window can be opened (a display and a GUI build of OpenCV).

    Examples:
        >>> from kssd_zoo.sticker.video import display_available
        >>> isinstance(display_available(), bool)
        True
    """
    if os.name != "nt" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("kssd-probe")
        cv2.destroyWindow("kssd-probe")
    except cv2.error:  # opencv-python-headless has no GUI
        return False
    return True


def process_camera(
    stickerer, index, out_path=None, *, show=None, max_frames=None, on_frame=None, progress=None
):
    """Sticker a webcam stream: live preview when a display exists, otherwise frames to ``out_path``.

    Args:
        stickerer: a Stickerer.
        index: camera index (``cv2.VideoCapture(index)``), or a video path/URL (used by tests).
        out_path: output video, default None (required when no display is available).
        show: force the preview on/off, default None (on when :func:`display_available`).
        max_frames: stop after this many frames, default None (until ``q``/Esc or Ctrl-C).
        on_frame, progress: see :func:`process_stream`.

    Returns:
        Number of frames processed.

    Raises:
        ValueError: the camera cannot be opened, or there is neither a display nor ``out_path``.
    """
    show = display_available() if show is None else bool(show)
    if not show and out_path is None:
        raise ValueError("no display for a live preview: give an output folder (--out) to save the frames")
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise ValueError(f"camera {index!r}: OpenCV could not open it")
    try:
        return process_stream(
            stickerer,
            capture,
            out_path,
            max_frames=max_frames,
            show=show,
            on_frame=on_frame,
            progress=progress,
        )
    except KeyboardInterrupt:
        return -1
    finally:
        capture.release()
